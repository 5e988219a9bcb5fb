// Scalar reference: block layouts from hand-built blocks with known values,
// reference quantizer rounding, and dequantize(quantize(x)) error bounds.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/blocks.h"
#include "kernels/quant.h"

namespace triptych::kernels {
namespace {

using cpu::BlockQ4_0;
using cpu::BlockQ4K;
using cpu::BlockQ6K;
using cpu::BlockQ8_0;
using cpu::BlockQ8K;

std::vector<float> Dequant(GgmlType type, const void* src, int64_t n) {
  std::vector<float> out(n);
  DequantizeRow(type, src, out.data(), n, Isa::kScalar);
  return out;
}

std::vector<float> Gaussian(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

double RelRms(const std::vector<float>& ref, const std::vector<float>& got) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    num += (static_cast<double>(ref[i]) - got[i]) *
           (static_cast<double>(ref[i]) - got[i]);
    den += static_cast<double>(ref[i]) * ref[i];
  }
  return std::sqrt(num / den);
}

TEST(BlockLayoutTest, Q8_0KnownBlock) {
  BlockQ8_0 b;
  b.d = 0x3800;  // 0.5
  for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(j - 16);
  const std::vector<float> y = Dequant(GgmlType::kQ8_0, &b, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 0.5f * (j - 16)) << j;
}

TEST(BlockLayoutTest, Q4_0KnownBlock) {
  // Low nibble of byte j is element j, high nibble element j + 16.
  const uint8_t bytes[18] = {0x00, 0x40,  // d = 2.0
                             0xF0, 0xE1, 0xD2, 0xC3, 0xB4, 0xA5, 0x96, 0x87,
                             0x78, 0x69, 0x5A, 0x4B, 0x3C, 0x2D, 0x1E, 0x0F};
  const std::vector<float> y = Dequant(GgmlType::kQ4_0, bytes, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 2.0f * (j - 8)) << j;
    EXPECT_EQ(y[j + 16], 2.0f * (15 - j - 8)) << j;
  }
}

TEST(BlockLayoutTest, Q4KKnownBlock) {
  // Sub-block scales sc = {1, 2, 3, 4, 17, 33, 50, 63} and mins
  // m = {0, 5, 10, 63, 16, 31, 47, 1}, packed by hand:
  //   bytes 0..3:  sc[j] | (sc[j + 4] >> 4) << 6
  //   bytes 4..7:  m[j]  | (m[j + 4] >> 4) << 6
  //   bytes 8..11: (sc[j + 4] & 15) | (m[j + 4] & 15) << 4
  const uint8_t scales[12] = {1 | (1 << 6),  2 | (2 << 6),  3 | (3 << 6),
                              4 | (3 << 6),  0 | (1 << 6),  5 | (1 << 6),
                              10 | (2 << 6), 63 | (0 << 6), 1 | (0 << 4),
                              1 | (15 << 4), 2 | (15 << 4), 15 | (1 << 4)};
  const int sc[8] = {1, 2, 3, 4, 17, 33, 50, 63};
  const int mn[8] = {0, 5, 10, 63, 16, 31, 47, 1};
  BlockQ4K b;
  b.d = 0x3C00;     // 1.0
  b.dmin = 0x3800;  // 0.5
  std::memcpy(b.scales, scales, 12);
  // Byte 32 g + l: low nibble = element 64 g + l, high = element 64 g + 32 + l.
  auto q_of = [](int i) { return (i * 5 + i / 32) & 15; };
  for (int g = 0; g < 4; ++g) {
    for (int l = 0; l < 32; ++l) {
      b.qs[32 * g + l] =
          static_cast<uint8_t>(q_of(64 * g + l) | (q_of(64 * g + 32 + l) << 4));
    }
  }
  const std::vector<float> y = Dequant(GgmlType::kQ4_K, &b, 256);
  for (int i = 0; i < 256; ++i) {
    const int j = i / 32;
    EXPECT_EQ(y[i], 1.0f * sc[j] * q_of(i) - 0.5f * mn[j]) << i;
  }
}

TEST(BlockLayoutTest, Q6KKnownBlock) {
  // Element 128 h + 32 k + l: low 4 bits in ql[64 h + 32 (k & 1) + l] (low
  // nibble for k < 2, high nibble for k >= 2); high 2 bits in qh[32 h + l]
  // at bit 2 k. value = d * scales[i / 16] * (q - 32).
  auto q_of = [](int i) { return (i * 7 + 3) & 63; };
  BlockQ6K b;
  std::memset(&b, 0, sizeof(b));
  for (int i = 0; i < 256; ++i) {
    const int h = i / 128, k = (i % 128) / 32, l = i % 32;
    const int q = q_of(i);
    uint8_t& low = b.ql[64 * h + 32 * (k & 1) + l];
    low |= static_cast<uint8_t>((q & 15) << (k >= 2 ? 4 : 0));
    b.qh[32 * h + l] |= static_cast<uint8_t>((q >> 4) << (2 * k));
  }
  for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<int8_t>(j * 9 - 70);
  b.d = 0x3400;  // 0.25
  // Spot-check the byte offsets against the struct definition.
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(&b)[208], 0x00);
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(&b)[209], 0x34);
  const std::vector<float> y = Dequant(GgmlType::kQ6_K, &b, 256);
  for (int i = 0; i < 256; ++i) {
    EXPECT_EQ(y[i], 0.25f * b.scales[i / 16] * (q_of(i) - 32)) << i;
  }
}

TEST(BlockLayoutTest, Q8KKnownBlock) {
  BlockQ8K b;
  b.d = 0.125f;
  for (int j = 0; j < 256; ++j) b.qs[j] = static_cast<int8_t>((j % 255) - 127);
  const std::vector<float> y = Dequant(GgmlType::kQ8_K, &b, 256);
  for (int j = 0; j < 256; ++j) EXPECT_EQ(y[j], 0.125f * b.qs[j]);
  EXPECT_EQ(offsetof(BlockQ8K, bsums), 260u);
}

TEST(QuantizeRefTest, Q8_0Rounding) {
  // amax = 127 gives d = 1 exactly; x.5 rounds away from zero (roundf).
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;
  x[1] = 2.5f;
  x[2] = -2.5f;
  x[3] = 0.49f;
  x[4] = -126.6f;
  BlockQ8_0 b;
  QuantizeRow(GgmlType::kQ8_0, x.data(), &b, 32, Isa::kScalar);
  EXPECT_EQ(b.d, 0x3C00);
  EXPECT_EQ(b.qs[0], 127);
  EXPECT_EQ(b.qs[1], 3);
  EXPECT_EQ(b.qs[2], -3);
  EXPECT_EQ(b.qs[3], 0);
  EXPECT_EQ(b.qs[4], -127);
  // All zeros: d = 0, q = 0.
  std::vector<float> z(32, 0.0f);
  QuantizeRow(GgmlType::kQ8_0, z.data(), &b, 32, Isa::kScalar);
  EXPECT_EQ(b.d, 0);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(b.qs[j], 0);
}

TEST(QuantizeRefTest, Q4_0MaxMapsToMinus8) {
  // The signed value of largest magnitude (here +16) gets q = 0, i.e. -8 d
  // with d = 16 / -8 = -2.
  std::vector<float> x(32, 0.0f);
  x[5] = 16.0f;
  x[20] = -14.0f;
  x[7] = 3.0f;
  BlockQ4_0 b;
  QuantizeRow(GgmlType::kQ4_0, x.data(), &b, 32, Isa::kScalar);
  EXPECT_EQ(b.d, 0xC000);  // -2.0
  EXPECT_EQ(b.qs[5] & 0xF, 0);
  EXPECT_EQ(b.qs[4] >> 4, 15);  // -14 / -2 + 8 = 15
  EXPECT_EQ(b.qs[7] & 0xF, 7);  // (int)(3 / -2 + 8.5) = 7
  EXPECT_EQ(b.qs[0] & 0xF, 8);
  const std::vector<float> y = Dequant(GgmlType::kQ4_0, &b, 32);
  EXPECT_EQ(y[5], 16.0f);
  EXPECT_EQ(y[20], -14.0f);
}

TEST(QuantizeRefTest, Q8KBsumsAndScale) {
  const std::vector<float> x = Gaussian(512, 3);
  BlockQ8K b[2];
  QuantizeRow(GgmlType::kQ8_K, x.data(), b, 512, Isa::kScalar);
  for (int k = 0; k < 2; ++k) {
    float amax = 0;
    for (int i = 0; i < 256; ++i)
      amax = std::max(amax, std::fabs(x[256 * k + i]));
    EXPECT_NEAR(std::fabs(b[k].d), amax / 127, amax * 1e-6);
    int max_q = 0;
    for (int j = 0; j < 16; ++j) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) {
        sum += b[k].qs[16 * j + l];
        max_q =
            std::max(max_q, std::abs(static_cast<int>(b[k].qs[16 * j + l])));
      }
      EXPECT_EQ(b[k].bsums[j], sum) << j;
    }
    EXPECT_EQ(max_q, 127);
  }
}

struct RoundTripCase {
  GgmlType type;
  double max_rel_rms;
};

class RoundTripTest : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(RoundTripTest, ErrorWithinTypeBound) {
  const RoundTripCase c = GetParam();
  const int64_t n = 256 * 16;
  std::vector<float> x = Gaussian(n, 42);
  // A few outliers, as in real weights.
  x[17] = 9.0f;
  x[1000] = -7.5f;
  std::vector<uint8_t> q(RowBytes(c.type, n));
  QuantizeRow(c.type, x.data(), q.data(), n, Isa::kScalar);
  const std::vector<float> y = Dequant(c.type, q.data(), n);
  const double err = RelRms(x, y);
  EXPECT_LT(err, c.max_rel_rms) << TypeName(c.type);
  // And it is not vacuous: quantization loses something for the lossy types.
  if (c.type != GgmlType::kF32) EXPECT_GT(err, 0.0);
  std::printf("%s relative RMS error %.5f\n", TypeName(c.type).data(), err);
}

INSTANTIATE_TEST_SUITE_P(
    AllTypes, RoundTripTest,
    ::testing::Values(RoundTripCase{GgmlType::kF32, 1e-12},
                      RoundTripCase{GgmlType::kF16, 5e-4},
                      RoundTripCase{GgmlType::kBF16, 4e-3},
                      RoundTripCase{GgmlType::kQ8_0, 0.01},
                      RoundTripCase{GgmlType::kQ8_K, 0.01},
                      RoundTripCase{GgmlType::kQ6_K, 0.02},
                      RoundTripCase{GgmlType::kQ4_K, 0.08},
                      RoundTripCase{GgmlType::kQ4_0, 0.12}),
    [](const auto& info) { return std::string(TypeName(info.param.type)); });

TEST(QuantizeRefTest, ZeroRowsStayZero) {
  for (GgmlType t : {GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ4_K,
                     GgmlType::kQ6_K, GgmlType::kQ8_K}) {
    std::vector<float> x(256, 0.0f);
    std::vector<uint8_t> q(RowBytes(t, 256), 0xAB);
    QuantizeRow(t, x.data(), q.data(), 256, Isa::kScalar);
    for (float v : Dequant(t, q.data(), 256)) ASSERT_EQ(v, 0.0f) << TypeName(t);
  }
}

// The scalar dot equals the float dot of the dequantized rows up to rounding.
TEST(VecDotRefTest, MatchesDequantizedDot) {
  for (GgmlType wt :
       {GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16, GgmlType::kQ8_0,
        GgmlType::kQ4_0, GgmlType::kQ4_K, GgmlType::kQ6_K}) {
    const int64_t n = 1024;
    const GgmlType at = VecDotType(wt);
    const std::vector<float> w = Gaussian(n, 5), a = Gaussian(n, 6);
    std::vector<uint8_t> qw(RowBytes(wt, n)), qa(RowBytes(at, n));
    QuantizeRow(wt, w.data(), qw.data(), n, Isa::kScalar);
    QuantizeRow(at, a.data(), qa.data(), n, Isa::kScalar);
    const std::vector<float> dw = Dequant(wt, qw.data(), n);
    const std::vector<float> da = Dequant(at, qa.data(), n);
    double exact = 0, mag = 0;
    for (int64_t i = 0; i < n; ++i) {
      exact += static_cast<double>(dw[i]) * da[i];
      mag += std::fabs(static_cast<double>(dw[i]) * da[i]);
    }
    const float got = VecDot(wt, n, qw.data(), qa.data(), Isa::kScalar);
    EXPECT_NEAR(got, exact, 1e-5 * mag) << TypeName(wt);
  }
}

TEST(VecDotTypeTest, Mapping) {
  EXPECT_EQ(VecDotType(GgmlType::kF32), GgmlType::kF32);
  EXPECT_EQ(VecDotType(GgmlType::kF16), GgmlType::kF16);
  EXPECT_EQ(VecDotType(GgmlType::kBF16), GgmlType::kBF16);
  EXPECT_EQ(VecDotType(GgmlType::kQ8_0), GgmlType::kQ8_0);
  EXPECT_EQ(VecDotType(GgmlType::kQ4_0), GgmlType::kQ8_0);
  EXPECT_EQ(VecDotType(GgmlType::kQ4_K), GgmlType::kQ8_K);
  EXPECT_EQ(VecDotType(GgmlType::kQ6_K), GgmlType::kQ8_K);
}

}  // namespace
}  // namespace triptych::kernels
