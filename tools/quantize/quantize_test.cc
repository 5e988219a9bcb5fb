#include "tools/quantize/quantize.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/quant.h"
#include "runtime/gguf/file_type.h"
#include "runtime/gguf/gguf_reader.h"
#include "tools/gen_model/gen_model.h"

namespace triptych::tools {
namespace {

using kernels::GgmlType;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/" + std::to_string(::getpid()) + "_" + name;
}

std::vector<float> Dequantize(const gguf::TensorInfo& t) {
  std::vector<float> out(static_cast<size_t>(t.num_elements));
  const int64_t cols = t.dims[0];
  const int64_t rb = kernels::RowBytes(t.type, cols);
  for (int64_t r = 0; r < t.num_elements / cols; ++r) {
    kernels::DequantizeRow(t.type, t.data + r * rb, out.data() + r * cols,
                           cols);
  }
  return out;
}

double RelativeRms(const std::vector<float>& got,
                   const std::vector<float>& want) {
  double err = 0, ref = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    err += (double{got[i]} - want[i]) * (double{got[i]} - want[i]);
    ref += double{want[i]} * want[i];
  }
  return ref == 0 ? std::sqrt(err) : std::sqrt(err / ref);
}

// Bound on the relative RMS error of each type on Gaussian-like weights.
double Bound(GgmlType t) {
  switch (t) {
    case GgmlType::kF32:
      return 0.0;
    case GgmlType::kF16:
      return 1e-3;
    case GgmlType::kBF16:
      return 5e-3;
    case GgmlType::kQ8_0:
      return 0.01;
    case GgmlType::kQ6_K:
      return 0.02;
    case GgmlType::kQ4_K:
      return 0.075;  // llama.cpp's own measure ~7.1%
    case GgmlType::kQ4_0:
      return 0.12;
    default:
      return 1.0;
  }
}

class QuantizeTest : public ::testing::TestWithParam<GgmlType> {
 protected:
  static void SetUpTestSuite() {
    src_ = new std::string(TempPath("quantize_src.gguf"));
    GenModelOptions o;
    o.out = *src_;
    o.dim = 256;
    o.layers = 1;
    o.heads = 4;
    o.kv_heads = 2;
    o.ffn = 288;  // ffn_down rows of 288: not a multiple of 256
    o.vocab = 300;
    o.type = GgmlType::kF32;
    ASSERT_TRUE(WriteRandomLlama(o).ok());
  }
  static void TearDownTestSuite() {
    std::filesystem::remove(*src_);
    delete src_;
  }
  static std::string* src_;
};
std::string* QuantizeTest::src_ = nullptr;

TEST_P(QuantizeTest, EveryTensorWithinTheTypesError) {
  const GgmlType type = GetParam();
  const std::string out = TempPath("quantize_out.gguf");
  QuantizeOptions o{*src_, out, type, 2};
  auto report = QuantizeGguf(o);
  ASSERT_TRUE(report.ok()) << report.status();
  auto in = gguf::GgufFile::Open(*src_);
  auto q = gguf::GgufFile::Open(out);
  ASSERT_TRUE(in.ok() && q.ok());
  ASSERT_EQ(report->size(), (*in)->tensors().size());
  ASSERT_EQ((*q)->tensors().size(), (*in)->tensors().size());

  // Metadata copied, file type updated.
  EXPECT_EQ((*q)->metadata().size(),
            (*in)->metadata().size() + (type == GgmlType::kF32 ||
                                                type == GgmlType::kF16 ||
                                                type == GgmlType::kBF16
                                            ? 0
                                            : 1));
  EXPECT_EQ((*q)->GetInt("general.file_type"), *gguf::LlamaFileType(type));
  EXPECT_EQ((*q)->GetStringArray("tokenizer.ggml.tokens"),
            (*in)->GetStringArray("tokenizer.ggml.tokens"));
  EXPECT_EQ((*q)->GetInt("llama.block_count"), 1);

  for (const gguf::TensorInfo& t : (*in)->tensors()) {
    const gguf::TensorInfo* qt = (*q)->FindTensor(t.name);
    ASSERT_NE(qt, nullptr) << t.name;
    EXPECT_EQ(qt->dims, t.dims);
    GgmlType want_type = type;
    if (t.dims.size() == 1) {
      want_type = GgmlType::kF32;
    } else if (t.dims[0] == 288 &&
               (type == GgmlType::kQ4_K || type == GgmlType::kQ6_K)) {
      want_type = GgmlType::kQ8_0;  // the K-type fallback
    }
    EXPECT_EQ(qt->type, want_type) << t.name;
    const double err = RelativeRms(Dequantize(*qt), Dequantize(t));
    EXPECT_LE(err, Bound(qt->type))
        << t.name << " as " << kernels::TypeName(qt->type);
    if (kernels::GetTypeTraits(static_cast<uint32_t>(qt->type))->block_elems >
        1) {
      EXPECT_GT(err, 0.0) << t.name;  // really quantized
    }
  }
  for (const TensorConversion& c : *report) {
    if (c.name == "blk.0.ffn_down.weight" &&
        (type == GgmlType::kQ4_K || type == GgmlType::kQ6_K)) {
      EXPECT_THAT(c.note, HasSubstr("not a multiple of the"));
    } else {
      EXPECT_EQ(c.note, "") << c.name;
    }
  }
  std::filesystem::remove(out);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, QuantizeTest,
                         ::testing::Values(GgmlType::kF32, GgmlType::kF16,
                                           GgmlType::kBF16, GgmlType::kQ8_0,
                                           GgmlType::kQ4_0, GgmlType::kQ4_K,
                                           GgmlType::kQ6_K),
                         [](const ::testing::TestParamInfo<GgmlType>& info) {
                           return std::string(kernels::TypeName(info.param));
                         });

TEST(ChooseTensorType, FallbacksAndOneDimensionalTensors) {
  gguf::TensorInfo t;
  t.type = GgmlType::kF16;
  t.dims = {96, 4};
  std::string note;
  EXPECT_EQ(ChooseTensorType(t, GgmlType::kQ4_K, &note), GgmlType::kQ8_0);
  EXPECT_THAT(note, HasSubstr("row length 96"));
  t.dims = {72, 4};
  EXPECT_EQ(ChooseTensorType(t, GgmlType::kQ4_K, &note), GgmlType::kF16);
  EXPECT_EQ(ChooseTensorType(t, GgmlType::kQ4_0, &note), GgmlType::kF16);
  EXPECT_EQ(ChooseTensorType(t, GgmlType::kBF16, &note), GgmlType::kBF16);
  EXPECT_EQ(note, "");
  t.dims = {512};
  EXPECT_EQ(ChooseTensorType(t, GgmlType::kQ8_0, &note), GgmlType::kF32);
  t.type = GgmlType::kQ4_0;
  t.dims = {512, 2};
  EXPECT_EQ(ChooseTensorType(t, GgmlType::kQ8_0, &note), GgmlType::kQ4_0);
  EXPECT_THAT(note, HasSubstr("copied unchanged"));
}

TEST(QuantizeGguf, RejectsUnsupportedTypeAndMissingInput) {
  QuantizeOptions o{"/nonexistent.gguf", TempPath("x.gguf"), GgmlType::kQ4_1,
                    1};
  EXPECT_EQ(QuantizeGguf(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.type = GgmlType::kQ8_0;
  EXPECT_EQ(QuantizeGguf(o).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace triptych::tools
