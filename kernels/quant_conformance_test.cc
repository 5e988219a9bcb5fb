// Files quantized by llama.cpp (../shared/conformance/models): every tensor
// of a quantized model, dequantized here, matches the same tensor of the F32
// model within its type's error; and quantizing the F32 tensor here gives the
// bytes llama.cpp wrote (its reference, non-imatrix quantizers).

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "common/testing/conformance.h"
#include "gtest/gtest.h"
#include "kernels/quant.h"

namespace triptych::kernels {
namespace {

// Just enough of GGUF (v2/v3) to find tensors; the real reader lives in
// runtime/gguf, which this folder must not depend on.
struct TensorInfo {
  GgmlType type;
  std::vector<int64_t> dims;
  const uint8_t* data;
};

class MiniGguf {
 public:
  bool Load(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return false;
    bytes_.assign(std::istreambuf_iterator<char>(f), {});
    pos_ = 0;
    if (bytes_.size() < 24 || std::memcmp(bytes_.data(), "GGUF", 4) != 0)
      return false;
    pos_ = 4;
    Read<uint32_t>();  // version
    const uint64_t n_tensors = Read<uint64_t>();
    const uint64_t n_kv = Read<uint64_t>();
    uint64_t alignment = 32;
    for (uint64_t i = 0; i < n_kv; ++i) {
      const std::string key = ReadString();
      const uint32_t type = Read<uint32_t>();
      if (key == "general.alignment" && type == 4) {
        alignment = Read<uint32_t>();
      } else {
        SkipValue(type);
      }
    }
    struct Pending {
      std::string name;
      TensorInfo info;
      uint64_t offset;
    };
    std::vector<Pending> pending;
    for (uint64_t i = 0; i < n_tensors; ++i) {
      Pending p;
      p.name = ReadString();
      const uint32_t n_dims = Read<uint32_t>();
      for (uint32_t d = 0; d < n_dims; ++d)
        p.info.dims.push_back(Read<uint64_t>());
      p.info.type = static_cast<GgmlType>(Read<uint32_t>());
      p.offset = Read<uint64_t>();
      pending.push_back(p);
    }
    const uint64_t data_start = (pos_ + alignment - 1) / alignment * alignment;
    for (Pending& p : pending) {
      p.info.data = bytes_.data() + data_start + p.offset;
      tensors_[p.name] = p.info;
    }
    return ok_;
  }

  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }

 private:
  template <typename T>
  T Read() {
    T v{};
    if (pos_ + sizeof(T) > bytes_.size()) {
      ok_ = false;
      return v;
    }
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string ReadString() {
    const uint64_t len = Read<uint64_t>();
    if (pos_ + len > bytes_.size()) {
      ok_ = false;
      return "";
    }
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
    pos_ += len;
    return s;
  }
  void SkipValue(uint32_t type) {
    static const int kSizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type == 8) {
      ReadString();
    } else if (type == 9) {
      const uint32_t elem = Read<uint32_t>();
      const uint64_t count = Read<uint64_t>();
      for (uint64_t i = 0; i < count && ok_; ++i) SkipValue(elem);
    } else if (type < 13) {
      pos_ += kSizes[type];
    } else {
      ok_ = false;
    }
  }

  std::vector<uint8_t> bytes_;
  size_t pos_ = 0;
  bool ok_ = true;
  std::map<std::string, TensorInfo> tensors_;
};

struct FileCase {
  const char* file;
};

class ConformanceTest : public ::testing::TestWithParam<FileCase> {};

double MaxRelRms(GgmlType t) {
  switch (t) {
    case GgmlType::kQ8_0:
      return 0.01;
    case GgmlType::kQ6_K:
      return 0.02;
    case GgmlType::kQ4_K:
      // llama.cpp's own Q4_K bytes (which ours equal) measure 7.1-7.2% on
      // these random Gaussian weights, a little over the README's rough 7%.
      return 0.075;
    case GgmlType::kQ4_0:
      return 0.12;
    case GgmlType::kF16:
      return 1e-3;
    default:
      return 1e-6;
  }
}

TEST_P(ConformanceTest, DequantizesAndRequantizesLikeLlamaCpp) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  MiniGguf ref, quant;
  ASSERT_TRUE(ref.Load(dir + "/models/rand-llama-256-F32.gguf"));
  ASSERT_TRUE(quant.Load(dir + "/models/" + GetParam().file));
  int checked = 0;
  for (const auto& [name, q] : quant.tensors()) {
    if (!IsSupported(q.type) || q.type == GgmlType::kF32) continue;
    auto it = ref.tensors().find(name);
    ASSERT_NE(it, ref.tensors().end()) << name;
    const TensorInfo& f = it->second;
    ASSERT_EQ(f.type, GgmlType::kF32) << name;
    ASSERT_EQ(f.dims, q.dims) << name;
    const int64_t n = q.dims[0];
    int64_t rows = 1;
    for (size_t d = 1; d < q.dims.size(); ++d) rows *= q.dims[d];
    const int64_t row_bytes = RowBytes(q.type, n);
    const float* src = reinterpret_cast<const float*>(f.data);
    std::vector<float> deq(n);
    std::vector<uint8_t> requant(row_bytes);
    double num = 0, den = 0;
    int64_t differing_rows = 0;
    for (int64_t r = 0; r < rows; ++r) {
      DequantizeRow(q.type, q.data + r * row_bytes, deq.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        const double e = static_cast<double>(src[r * n + i]) - deq[i];
        num += e * e;
        den += static_cast<double>(src[r * n + i]) * src[r * n + i];
      }
      QuantizeRow(q.type, src + r * n, requant.data(), n);
      if (std::memcmp(requant.data(), q.data + r * row_bytes, row_bytes) != 0) {
        ++differing_rows;
      }
    }
    const double rel = std::sqrt(num / den);
    EXPECT_LT(rel, MaxRelRms(q.type)) << name << " " << TypeName(q.type);
    EXPECT_EQ(differing_rows, 0)
        << name << " " << TypeName(q.type) << ": " << differing_rows << " of "
        << rows << " rows quantize to other bytes than llama.cpp's";
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

INSTANTIATE_TEST_SUITE_P(Models, ConformanceTest,
                         ::testing::Values(FileCase{"rand-llama-256-Q8_0.gguf"},
                                           FileCase{"rand-llama-256-Q4_0.gguf"},
                                           FileCase{"rand-llama-256-Q6_K.gguf"},
                                           FileCase{
                                               "rand-llama-256-Q4_K_M.gguf"}),
                         [](const auto& info) {
                           std::string s = info.param.file;
                           s = s.substr(std::string("rand-llama-256-").size());
                           s = s.substr(0, s.find('.'));
                           return s;
                         });

}  // namespace
}  // namespace triptych::kernels
