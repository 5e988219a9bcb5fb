// Files quantized by llama.cpp (../shared/conformance/models), dequantized
// by kernels::DequantizeRow, must match the F32 original of the same model
// within each type's quantization error. A wrong block layout shows as
// errors near 100%.

#include <cctype>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "common/testing/conformance.h"
#include "gtest/gtest.h"
#include "kernels/quant.h"
#include "runtime/gguf/gguf_reader.h"

namespace triptych::gguf {
namespace {

using kernels::GgmlType;

std::vector<float> Dequantize(const TensorInfo& t) {
  std::vector<float> out(static_cast<size_t>(t.num_elements));
  const int64_t cols = t.dims[0];
  const int64_t rb = kernels::RowBytes(t.type, cols);
  for (int64_t r = 0; r < t.num_elements / cols; ++r) {
    kernels::DequantizeRow(t.type, t.data + r * rb, out.data() + r * cols,
                           cols);
  }
  return out;
}

// Relative RMS error bounds from the conformance README ("roughly"). Q4_K
// gets 7.5%: llama.cpp's own Q4_K blocks of these random Gaussian weights
// measure 7.0-7.2% (and QuantizeRow reproduces those blocks bit for bit,
// see below), so the README's 7% is a rounded figure.
double Bound(GgmlType t) {
  switch (t) {
    case GgmlType::kF32:
      return 0.0;
    case GgmlType::kF16:
      return 1e-3;
    case GgmlType::kQ8_0:
      return 0.01;
    case GgmlType::kQ6_K:
      return 0.02;
    case GgmlType::kQ4_K:
      return 0.075;
    case GgmlType::kQ4_0:
      return 0.12;
    default:
      return 0.0;  // no other type is expected in these files
  }
}

struct Case {
  const char* file;
  const char* reference;
  GgmlType main_type;  // the type most 2-D weights must have
};

class QuantizedFilesTest : public ::testing::TestWithParam<Case> {};

TEST_P(QuantizedFilesTest, EveryTensorMatchesTheF32Original) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  const Case& c = GetParam();
  auto q = GgufFile::Open(dir + "/models/" + c.file);
  auto ref = GgufFile::Open(dir + "/models/" + c.reference);
  ASSERT_TRUE(q.ok()) << q.status();
  ASSERT_TRUE(ref.ok()) << ref.status();
  ASSERT_EQ((*q)->tensors().size(), (*ref)->tensors().size());
  int main_type_tensors = 0;
  for (const TensorInfo& t : (*q)->tensors()) {
    SCOPED_TRACE(t.name + " (" + std::string(kernels::TypeName(t.type)) + ")");
    const TensorInfo* r = (*ref)->FindTensor(t.name);
    ASSERT_NE(r, nullptr);
    ASSERT_EQ(r->type, GgmlType::kF32);
    ASSERT_EQ(t.dims, r->dims);
    ASSERT_TRUE(kernels::IsSupported(t.type));
    if (t.type == c.main_type) ++main_type_tensors;
    const std::vector<float> got = Dequantize(t);
    const std::vector<float> want = Dequantize(*r);
    double err = 0, norm = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      err += (double{got[i]} - want[i]) * (double{got[i]} - want[i]);
      norm += double{want[i]} * want[i];
    }
    ASSERT_GT(norm, 0.0);
    const double rel = std::sqrt(err / norm);
    EXPECT_LE(rel, Bound(t.type)) << "relative RMS error " << rel;
  }
  EXPECT_GE(main_type_tensors, 2 * 7 - 3);
}

// Stronger than the error bound: quantizing the F32 original with
// kernels::QuantizeRow (ggml's reference rounding) gives llama.cpp's bytes.
TEST_P(QuantizedFilesTest, QuantizeRowReproducesTheFileBytes) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  const Case& c = GetParam();
  auto q = GgufFile::Open(dir + "/models/" + c.file);
  auto ref = GgufFile::Open(dir + "/models/" + c.reference);
  ASSERT_TRUE(q.ok()) << q.status();
  ASSERT_TRUE(ref.ok()) << ref.status();
  for (const TensorInfo& t : (*q)->tensors()) {
    if (t.type == GgmlType::kF32) continue;
    SCOPED_TRACE(t.name + " (" + std::string(kernels::TypeName(t.type)) + ")");
    const TensorInfo* r = (*ref)->FindTensor(t.name);
    ASSERT_NE(r, nullptr);
    const int64_t cols = t.dims[0];
    const int64_t rb = kernels::RowBytes(t.type, cols);
    std::vector<uint8_t> row(static_cast<size_t>(rb));
    int64_t differing_rows = 0;
    for (int64_t i = 0; i < t.num_elements / cols; ++i) {
      kernels::QuantizeRow(t.type,
                           reinterpret_cast<const float*>(r->data) + i * cols,
                           row.data(), cols);
      if (std::memcmp(row.data(), t.data + i * rb, rb) != 0) ++differing_rows;
    }
    EXPECT_EQ(differing_rows, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Conformance, QuantizedFilesTest,
    ::testing::Values(Case{"rand-llama-256-Q8_0.gguf",
                           "rand-llama-256-F32.gguf", GgmlType::kQ8_0},
                      Case{"rand-llama-256-Q4_0.gguf",
                           "rand-llama-256-F32.gguf", GgmlType::kQ4_0},
                      Case{"rand-llama-256-Q6_K.gguf",
                           "rand-llama-256-F32.gguf", GgmlType::kQ6_K},
                      Case{"rand-llama-256-Q4_K_M.gguf",
                           "rand-llama-256-F32.gguf", GgmlType::kQ4_K},
                      Case{"stories260K-F16.gguf", "stories260K.gguf",
                           GgmlType::kF16}),
    [](const ::testing::TestParamInfo<Case>& info) {
      std::string name = info.param.file;
      name = name.substr(0, name.find(".gguf"));
      for (char& ch : name) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return name;
    });

}  // namespace
}  // namespace triptych::gguf
