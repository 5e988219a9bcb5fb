// Every ISA variant against the scalar reference: quantization and
// dequantization bit-exact, dot products and MatMulRows within a tight float
// tolerance. Variants the CPU lacks are skipped with a message.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/quant.h"

namespace triptych::kernels {
namespace {

std::vector<float> TestData(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  // Outliers, exact ties for the rounding and a block of zeros.
  for (int64_t i = 0; i < n; i += 97) v[i] *= 8.0f;
  if (n >= 64) {
    v[1] = 127.0f;
    v[2] = 2.5f;  // 2.5 * (127 / 127) is an exact .5 tie for Q8_0
    v[3] = -2.5f;
    for (int i = 32; i < 64; ++i) v[i] = 0.0f;
  }
  return v;
}

const GgmlType kWeightTypes[] = {
    GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16, GgmlType::kQ8_0,
    GgmlType::kQ4_0, GgmlType::kQ4_K, GgmlType::kQ6_K};
const GgmlType kAllTypes[] = {GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16,
                              GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ4_K,
                              GgmlType::kQ6_K, GgmlType::kQ8_K};

int64_t BlockElems(GgmlType t) {
  return GetTypeTraits(static_cast<uint32_t>(t))->block_elems;
}

class IsaTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!IsaAvailable(GetParam())) {
      GTEST_SKIP() << IsaName(GetParam())
                   << " not supported by this CPU; skipping";
    }
  }
  Isa isa() const { return GetParam(); }
};

TEST_P(IsaTest, QuantizeIsBitExact) {
  for (GgmlType t : kAllTypes) {
    for (int64_t blocks : {1, 3, 8}) {
      const int64_t n = std::max<int64_t>(BlockElems(t), 256) * blocks;
      const std::vector<float> x = TestData(n, 100 + blocks);
      std::vector<uint8_t> want(RowBytes(t, n)), got(RowBytes(t, n), 0xCD);
      QuantizeRow(t, x.data(), want.data(), n, Isa::kScalar);
      QuantizeRow(t, x.data(), got.data(), n, isa());
      ASSERT_EQ(want, got) << TypeName(t) << " n=" << n;
    }
  }
}

TEST_P(IsaTest, DequantizeIsBitExact) {
  for (GgmlType t : kAllTypes) {
    const int64_t n = 256 * 5;
    const std::vector<float> x = TestData(n, 7);
    std::vector<uint8_t> q(RowBytes(t, n));
    QuantizeRow(t, x.data(), q.data(), n, Isa::kScalar);
    std::vector<float> want(n), got(n, -1.0f);
    DequantizeRow(t, q.data(), want.data(), n, Isa::kScalar);
    DequantizeRow(t, q.data(), got.data(), n, isa());
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(std::memcmp(&want[i], &got[i], 4), 0)
          << TypeName(t) << " i=" << i << " " << want[i] << " vs " << got[i];
    }
  }
}

// Random bytes exercise the full code range of each block (all nibble and
// scale values, Q8_0 weights of -128), not only what the quantizer emits.
std::vector<uint8_t> RandomWeightBytes(GgmlType t, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> q(RowBytes(t, n));
  for (uint8_t& b : q) b = static_cast<uint8_t>(rng());
  // Keep the fp16/bf16/f32 scales and values finite and moderate.
  if (t == GgmlType::kF32 || t == GgmlType::kF16 || t == GgmlType::kBF16) {
    std::vector<float> x = TestData(n, seed);
    QuantizeRow(t, x.data(), q.data(), n, Isa::kScalar);
    return q;
  }
  const int64_t bb = GetTypeTraits(static_cast<uint32_t>(t))->block_bytes;
  for (int64_t off = 0; off < static_cast<int64_t>(q.size()); off += bb) {
    auto set_half = [&](int64_t at, float v) {
      const uint16_t h = FloatToHalf(v);
      std::memcpy(&q[off + at], &h, 2);
    };
    const float scale = 0.001f + (rng() % 1000) * 1e-5f;
    switch (t) {
      case GgmlType::kQ8_0:
      case GgmlType::kQ4_0:
        set_half(0, scale);
        break;
      case GgmlType::kQ4_K:
        set_half(0, scale);
        set_half(2, scale * 0.5f);
        break;
      case GgmlType::kQ6_K:
        set_half(208, scale * 0.1f);
        break;
      default:
        break;
    }
  }
  return q;
}

TEST_P(IsaTest, VecDotMatchesScalar) {
  for (GgmlType wt : kWeightTypes) {
    const GgmlType at = VecDotType(wt);
    std::vector<int64_t> sizes = {256, 512, 2048, 256 * 7};
    if (BlockElems(wt) == 1) sizes.insert(sizes.end(), {1, 7, 15, 33, 100});
    if (BlockElems(wt) == 32 && at == GgmlType::kQ8_0)
      sizes.insert(sizes.end(), {32, 96});
    for (int64_t n : sizes) {
      for (int rep = 0; rep < 2; ++rep) {
        std::vector<uint8_t> qw;
        if (rep == 0) {
          const std::vector<float> w = TestData(n, 11);
          qw.resize(RowBytes(wt, n));
          QuantizeRow(wt, w.data(), qw.data(), n, Isa::kScalar);
        } else {
          qw = RandomWeightBytes(wt, n, 13);
        }
        const std::vector<float> a = TestData(n, 12);
        std::vector<uint8_t> qa(RowBytes(at, n));
        QuantizeRow(at, a.data(), qa.data(), n, Isa::kScalar);
        std::vector<float> dw(n), da(n);
        DequantizeRow(wt, qw.data(), dw.data(), n, Isa::kScalar);
        DequantizeRow(at, qa.data(), da.data(), n, Isa::kScalar);
        double mag = 0;
        for (int64_t i = 0; i < n; ++i)
          mag += std::fabs(static_cast<double>(dw[i]) * da[i]);
        const float want = VecDot(wt, n, qw.data(), qa.data(), Isa::kScalar);
        const float got = VecDot(wt, n, qw.data(), qa.data(), isa());
        ASSERT_NEAR(got, want, 2e-6 * mag + 1e-30)
            << TypeName(wt) << " n=" << n << " rep=" << rep;
      }
    }
  }
}

// MatMulRows against a naive loop of scalar dots, for odd shapes: a row range
// not starting at 0, token counts that are not multiples of the blocking,
// padded activation and output strides; outputs outside the range untouched.
TEST_P(IsaTest, MatMulRowsMatchesNaiveLoop) {
  for (GgmlType wt : kWeightTypes) {
    const GgmlType at = VecDotType(wt);
    const int64_t n = BlockElems(wt) == 1 ? 100 : 512;
    const int64_t rows = 7, row_begin = 2, row_end = 7;
    const int64_t w_row = RowBytes(wt, n);
    std::vector<uint8_t> w(w_row * rows);
    const std::vector<float> wf = TestData(n * rows, 21);
    for (int64_t r = 0; r < rows; ++r) {
      QuantizeRow(wt, wf.data() + r * n, w.data() + r * w_row, n, Isa::kScalar);
    }
    for (int64_t m : {1, 2, 3, 4, 5, 7, 9}) {
      const int64_t act_stride = RowBytes(at, n) + 64;
      const int64_t y_stride = rows + 3;
      std::vector<uint8_t> act(act_stride * m);
      const std::vector<float> af = TestData(n * m, 22);
      for (int64_t t = 0; t < m; ++t) {
        QuantizeRow(at, af.data() + t * n, act.data() + t * act_stride, n,
                    Isa::kScalar);
      }
      std::vector<float> y(y_stride * m, -7.0f);
      MatMulRows(wt, w.data(), n, row_begin, row_end, act.data(), act_stride, m,
                 y.data(), y_stride, isa());
      for (int64_t t = 0; t < m; ++t) {
        for (int64_t r = 0; r < y_stride; ++r) {
          const float got = y[t * y_stride + r];
          if (r < row_begin || r >= row_end) {
            ASSERT_EQ(got, -7.0f) << "wrote outside the row range";
            continue;
          }
          std::vector<float> dw(n), da(n);
          DequantizeRow(wt, w.data() + r * w_row, dw.data(), n, Isa::kScalar);
          DequantizeRow(at, act.data() + t * act_stride, da.data(), n,
                        Isa::kScalar);
          double mag = 0;
          for (int64_t i = 0; i < n; ++i)
            mag += std::fabs(static_cast<double>(dw[i]) * da[i]);
          const float want = VecDot(wt, n, w.data() + r * w_row,
                                    act.data() + t * act_stride, Isa::kScalar);
          ASSERT_NEAR(got, want, 2e-6 * mag)
              << TypeName(wt) << " m=" << m << " t=" << t << " r=" << r;
        }
      }
    }
  }
}

// The multi-token paths (register-tiled int8 kernels, BLAS for float weights
// at large m) against the scalar reference: row counts that are not a
// multiple of the 16-row tile, a range not starting at 0, token counts around
// the 8-token tile, the 16-token BLAS threshold and the 64-token chunk.
// The quantized types on AVX-512 (the tiled VNNI kernels) must be
// bit-exact: same integer block sums, same float operation order. The rest
// within a float tolerance.
TEST_P(IsaTest, MatMulRowsManyTokensMatchesScalar) {
  for (GgmlType wt : kWeightTypes) {
    const GgmlType at = VecDotType(wt);
    const bool quantized = BlockElems(wt) > 1;
    const bool exact =
        quantized && (isa() == Isa::kScalar || isa() == Isa::kAvx512);
    for (int64_t n : {BlockElems(wt) == 1 ? int64_t{96} : int64_t{256},
                      int64_t{768}}) {
      const int64_t rows = 37, row_begin = 3, row_end = 36;
      const int64_t w_row = RowBytes(wt, n);
      const std::vector<uint8_t> w = RandomWeightBytes(wt, n * rows, 31);
      for (int64_t m : {2, 3, 5, 8, 11, 16, 23, 70}) {
        const int64_t act_stride = RowBytes(at, n) + 32;
        const int64_t y_stride = rows + 5;
        std::vector<uint8_t> act(act_stride * m);
        const std::vector<float> af = TestData(n * m, 32 + m);
        for (int64_t t = 0; t < m; ++t) {
          QuantizeRow(at, af.data() + t * n, act.data() + t * act_stride, n,
                      Isa::kScalar);
        }
        std::vector<float> want(y_stride * m, -7.0f), got(y_stride * m, -7.0f);
        MatMulRows(wt, w.data(), n, row_begin, row_end, act.data(), act_stride,
                   m, want.data(), y_stride, Isa::kScalar);
        MatMulRows(wt, w.data(), n, row_begin, row_end, act.data(), act_stride,
                   m, got.data(), y_stride, isa());
        for (int64_t t = 0; t < m; ++t) {
          for (int64_t r = 0; r < y_stride; ++r) {
            const float g = got[t * y_stride + r], e = want[t * y_stride + r];
            if (r < row_begin || r >= row_end) {
              ASSERT_EQ(g, -7.0f) << "wrote outside the row range";
              continue;
            }
            if (exact) {
              ASSERT_EQ(std::memcmp(&g, &e, 4), 0)
                  << TypeName(wt) << " n=" << n << " m=" << m << " t=" << t
                  << " r=" << r << " " << g << " vs " << e;
              continue;
            }
            std::vector<float> dw(n), da(n);
            DequantizeRow(wt, w.data() + r * w_row, dw.data(), n, Isa::kScalar);
            DequantizeRow(at, act.data() + t * act_stride, da.data(), n,
                          Isa::kScalar);
            double mag = 0;
            for (int64_t i = 0; i < n; ++i)
              mag += std::fabs(static_cast<double>(dw[i]) * da[i]);
            // Float sums in another order (SIMD lanes, BLAS blocking).
            ASSERT_NEAR(g, e, 1e-5 * mag)
                << TypeName(wt) << " n=" << n << " m=" << m << " t=" << t
                << " r=" << r;
          }
        }
      }
    }
  }
}

// Float weights below the BLAS threshold: a batch of m tokens gives, bit for
// bit, what each token gives alone (m = 1), on every ISA (so a decode
// batch's results do not depend on which sequences share it). Covers the
// AVX-512 widened-activation path for F16 / BF16 (groups of 8, 4, 2, 1
// tokens) and odd n for its scalar tail.
TEST_P(IsaTest, FloatWeightBatchesBelowBlasEqualEachTokenAlone) {
  for (GgmlType wt : {GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16}) {
    const GgmlType at = VecDotType(wt);
    for (int64_t n : {int64_t{96}, int64_t{101}, int64_t{512}}) {
      const int64_t rows = 19;
      const std::vector<uint8_t> w = RandomWeightBytes(wt, n * rows, 41);
      for (int64_t m = 2; m < 16; ++m) {
        if (wt == GgmlType::kF32 && m >= 8) break;  // BLAS from 8 for F32
        const int64_t act_stride = RowBytes(at, n);
        std::vector<uint8_t> act(act_stride * m);
        const std::vector<float> af = TestData(n * m, 50 + m);
        for (int64_t t = 0; t < m; ++t) {
          QuantizeRow(at, af.data() + t * n, act.data() + t * act_stride, n,
                      Isa::kScalar);
        }
        std::vector<float> batch(rows * m), alone(rows);
        MatMulRows(wt, w.data(), n, 0, rows, act.data(), act_stride, m,
                   batch.data(), rows, isa());
        for (int64_t t = 0; t < m; ++t) {
          MatMulRows(wt, w.data(), n, 0, rows, act.data() + t * act_stride,
                     act_stride, 1, alone.data(), rows, isa());
          ASSERT_EQ(
              std::memcmp(alone.data(), batch.data() + t * rows, rows * 4), 0)
              << TypeName(wt) << " n=" << n << " m=" << m << " t=" << t;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllIsas, IsaTest, ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512),
    [](const auto& info) { return std::string(IsaName(info.param)); });

TEST(IsaDispatchTest, BestIsaIsAvailable) {
  EXPECT_TRUE(IsaAvailable(BestIsa()));
  EXPECT_NE(BestIsa(), Isa::kAuto);
  EXPECT_TRUE(IsaAvailable(Isa::kScalar));
}

}  // namespace
}  // namespace triptych::kernels
