// The packed (row-interleaved) layout: packing round-trips bit-exactly, and
// PackedMatMulRows equals MatMulRows with the scalar reference on the
// row-major matrix, bit for bit, on every available ISA.

#include "kernels/packed.h"

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/quant.h"

namespace triptych::kernels {
namespace {

const GgmlType kPackedTypes[] = {GgmlType::kQ8_0, GgmlType::kQ4_0,
                                 GgmlType::kQ4_K};

int64_t BlockElems(GgmlType t) {
  return GetTypeTraits(static_cast<uint32_t>(t))->block_elems;
}

std::vector<float> Normal(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  for (int64_t i = 0; i < n; i += 61) v[i] *= 6.0f;  // outliers
  return v;
}

// Random bytes (every nibble, scale and min code) with finite fp16 scales.
std::vector<uint8_t> RandomWeights(GgmlType t, int64_t rows, int64_t n,
                                   uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> q(RowBytes(t, n) * rows);
  for (uint8_t& b : q) b = static_cast<uint8_t>(rng());
  const int64_t bb = GetTypeTraits(static_cast<uint32_t>(t))->block_bytes;
  for (size_t off = 0; off < q.size(); off += bb) {
    auto set_half = [&](size_t at, float v) {
      const uint16_t h = FloatToHalf(v);
      std::memcpy(&q[off + at], &h, 2);
    };
    const float scale = 0.001f + (rng() % 1000) * 1e-5f;
    set_half(0, scale);
    if (t == GgmlType::kQ4_K) set_half(2, scale * 0.5f);
  }
  return q;
}

TEST(PackedLayoutTest, UnpackRoundTripsEveryRow) {
  for (GgmlType t : kPackedTypes) {
    const int64_t n = BlockElems(t) * 3, rows = 13;  // a partial last group
    const std::vector<uint8_t> w = RandomWeights(t, rows, n, 5);
    std::vector<uint8_t> packed(PackedBytes(t, rows, n));
    PackWeights(t, w.data(), rows, n, packed.data());
    const int64_t rb = RowBytes(t, n);
    std::vector<uint8_t> row(rb);
    for (int64_t r = 0; r < rows; ++r) {
      UnpackRow(t, packed.data(), n, r, row.data());
      ASSERT_EQ(std::memcmp(row.data(), w.data() + r * rb, rb), 0)
          << TypeName(t) << " row " << r;
    }
  }
}

TEST(PackedLayoutTest, BytesRoundRowsUpToGroups) {
  EXPECT_EQ(PackedBytes(GgmlType::kQ4_0, 8, 64), 8 * RowBytes(GgmlType::kQ4_0, 64));
  EXPECT_EQ(PackedBytes(GgmlType::kQ4_0, 9, 64), 16 * RowBytes(GgmlType::kQ4_0, 64));
  EXPECT_EQ(PackedBytes(GgmlType::kQ8_0, 16, 32), 16 * RowBytes(GgmlType::kQ8_0, 32));
  EXPECT_FALSE(HasPackedLayout(GgmlType::kF16));
  EXPECT_TRUE(HasPackedLayout(GgmlType::kQ4_K));
}

class PackedIsaTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!IsaAvailable(GetParam())) {
      GTEST_SKIP() << IsaName(GetParam()) << " not supported by this CPU; skipping";
    }
  }
};

// Shapes: a partial last group, a range starting at a later group, token
// counts around the 4 / 2 / 1 token tiles and the 16-token chunk, padded
// strides; outputs outside the range untouched.
TEST_P(PackedIsaTest, MatMulIsBitExactWithScalarRowMajor) {
  for (GgmlType t : kPackedTypes) {
    const GgmlType at = VecDotType(t);
    for (int64_t n : {BlockElems(t), BlockElems(t) * 5}) {
      const int64_t rows = 29, row_begin = 8, row_end = 29;
      for (int rep = 0; rep < 2; ++rep) {
        std::vector<uint8_t> w;
        if (rep == 0) {
          w.resize(RowBytes(t, n) * rows);
          const std::vector<float> wf = Normal(n * rows, 3);
          for (int64_t r = 0; r < rows; ++r) {
            QuantizeRow(t, wf.data() + r * n, w.data() + r * RowBytes(t, n), n,
                        Isa::kScalar);
          }
        } else {
          w = RandomWeights(t, rows, n, 9);
        }
        std::vector<uint8_t> packed(PackedBytes(t, rows, n));
        PackWeights(t, w.data(), rows, n, packed.data());
        for (int64_t m : {1, 2, 3, 5, 7, 17, 21}) {
          const int64_t act_stride = RowBytes(at, n) + 16, y_stride = rows + 3;
          std::vector<uint8_t> act(act_stride * m);
          const std::vector<float> af = Normal(n * m, 40 + m);
          for (int64_t k = 0; k < m; ++k) {
            QuantizeRow(at, af.data() + k * n, act.data() + k * act_stride, n,
                        Isa::kScalar);
          }
          std::vector<float> want(y_stride * m, -7.0f), got(y_stride * m, -7.0f);
          MatMulRows(t, w.data(), n, row_begin, row_end, act.data(), act_stride,
                     m, want.data(), y_stride, Isa::kScalar);
          PackedMatMulRows(t, packed.data(), n, row_begin, row_end, act.data(),
                           act_stride, m, got.data(), y_stride, GetParam());
          for (size_t i = 0; i < got.size(); ++i) {
            ASSERT_EQ(std::memcmp(&got[i], &want[i], 4), 0)
                << TypeName(t) << " n=" << n << " m=" << m << " rep=" << rep
                << " at " << i << ": " << got[i] << " vs " << want[i];
          }
        }
      }
    }
  }
}

// Prefill-sized m on AVX-512 unpacks the rows kUnpackBytes at a time into
// the row-major kernels: a matrix of several such chunks, a range that
// starts and ends inside chunks, still bit-exact.
TEST_P(PackedIsaTest, ManyTokensAcrossUnpackChunksAreBitExact) {
  const GgmlType t = GgmlType::kQ8_0;
  const GgmlType at = VecDotType(t);
  const int64_t n = 64;
  const int64_t chunk_rows = kUnpackBytes / RowBytes(t, n);
  const int64_t rows = 2 * chunk_rows + 40;
  const std::vector<uint8_t> w = RandomWeights(t, rows, n, 11);
  std::vector<uint8_t> packed(PackedBytes(t, rows, n));
  PackWeights(t, w.data(), rows, n, packed.data());
  const int64_t m = kUnpackMinTokens + 1;
  const int64_t act_stride = RowBytes(at, n);
  std::vector<uint8_t> act(act_stride * m);
  const std::vector<float> af = Normal(n * m, 77);
  for (int64_t k = 0; k < m; ++k) {
    QuantizeRow(at, af.data() + k * n, act.data() + k * act_stride, n, Isa::kScalar);
  }
  const int64_t row_begin = 8, row_end = rows - 3;
  std::vector<float> want(rows * m, -7.0f), got(rows * m, -7.0f);
  MatMulRows(t, w.data(), n, row_begin, row_end, act.data(), act_stride, m, want.data(), rows,
             Isa::kScalar);
  PackedMatMulRows(t, packed.data(), n, row_begin, row_end, act.data(), act_stride, m,
                   got.data(), rows, GetParam());
  ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
}

INSTANTIATE_TEST_SUITE_P(
    AllIsas, PackedIsaTest,
    ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512),
    [](const auto& info) { return std::string(IsaName(info.param)); });

}  // namespace
}  // namespace triptych::kernels
