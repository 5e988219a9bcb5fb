// Half / bfloat16 conversions: exact round-to-nearest-even, denormals,
// infinities and NaNs; the scalar code is also checked against the hardware
// conversion (VCVTPH2PS / VCVTPS2PH) through the ISA variants.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/quant.h"

namespace triptych::kernels {
namespace {

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float FromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

TEST(HalfTest, KnownValues) {
  EXPECT_EQ(FloatToHalf(0.0f), 0x0000);
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(FloatToHalf(1.0f), 0x3C00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xC000);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7BFF);  // largest finite
  EXPECT_EQ(FloatToHalf(65519.0f), 0x7BFF);  // rounds down
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7C00);  // tie rounds to even = Inf
  EXPECT_EQ(FloatToHalf(1e10f), 0x7C00);
  EXPECT_EQ(FloatToHalf(-std::numeric_limits<float>::infinity()), 0xFC00);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -24)), 0x0001);  // smallest denormal
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -25)), 0x0000);  // tie to even: 0
  EXPECT_EQ(FloatToHalf(std::ldexp(3.0f, -26)), 0x0001);  // 0.75 ulp: up
  EXPECT_EQ(FloatToHalf(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 ulp: tie to 2
  EXPECT_EQ(FloatToHalf(std::ldexp(5.0f, -25)), 0x0002);  // 2.5 ulp: tie to 2
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3C00);  // tie: even
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(3.0f, -11)), 0x3C02);  // tie: even
  EXPECT_EQ(FloatToHalf(std::ldexp(1023.0f, -24) + std::ldexp(1.0f, -25)),
            0x0400);  // largest denormal + half ulp carries into normal
  EXPECT_EQ(FloatToHalf(std::nanf("")) & 0x7E00, 0x7E00);

  EXPECT_EQ(HalfToFloat(0x3C00), 1.0f);
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(HalfToFloat(0x03FF), std::ldexp(1023.0f, -24));
  EXPECT_EQ(HalfToFloat(0x7BFF), 65504.0f);
  EXPECT_TRUE(std::isinf(HalfToFloat(0x7C00)));
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7C01)));
  EXPECT_EQ(Bits(HalfToFloat(0x8000)), 0x80000000u);
}

TEST(HalfTest, AllHalvesRoundTrip) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = HalfToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToHalf(f), h) << "half 0x" << std::hex << h;
  }
}

// Every ISA variant's F16 conversion equals the scalar one. The AVX2 and
// AVX-512 variants use the hardware instructions, so this checks the scalar
// code against the CPU for all halves and for many floats, including all
// rounding ties around every half.
TEST(HalfTest, MatchesHardwareConversion) {
  std::vector<uint16_t> halves(0x10000);
  for (uint32_t h = 0; h < 0x10000; ++h) halves[h] = static_cast<uint16_t>(h);
  std::vector<float> floats;
  std::mt19937 rng(7);
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = HalfToFloat(static_cast<uint16_t>(h));
    const uint32_t u = Bits(f);
    // The tie point just above this half, and points around it.
    for (int32_t delta : {-1, 0, 1}) {
      floats.push_back(FromBits(u + (1u << 12) + delta));
    }
    floats.push_back(FromBits(u + (rng() & 0x1FFF)));
  }
  for (int i = 0; i < 200000; ++i) floats.push_back(FromBits(rng()));
  floats.resize(floats.size() / 16 * 16);

  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (!IsaAvailable(isa)) {
      std::printf("skipping %s: not supported by this CPU\n", IsaName(isa));
      continue;
    }
    std::vector<float> got(halves.size());
    DequantizeRow(GgmlType::kF16, halves.data(), got.data(), halves.size(),
                  isa);
    for (size_t i = 0; i < halves.size(); ++i) {
      ASSERT_EQ(Bits(got[i]), Bits(HalfToFloat(halves[i])))
          << IsaName(isa) << " half 0x" << std::hex << halves[i];
    }
    std::vector<uint16_t> out(floats.size());
    QuantizeRow(GgmlType::kF16, floats.data(), out.data(), floats.size(), isa);
    for (size_t i = 0; i < floats.size(); ++i) {
      ASSERT_EQ(out[i], FloatToHalf(floats[i]))
          << IsaName(isa) << " float bits 0x" << std::hex << Bits(floats[i]);
    }
  }
}

TEST(Bf16Test, KnownValues) {
  EXPECT_EQ(FloatToBf16(1.0f), 0x3F80);
  EXPECT_EQ(FloatToBf16(-2.0f), 0xC000);
  EXPECT_EQ(FloatToBf16(FromBits(0x3F808000)), 0x3F80);  // tie: even (down)
  EXPECT_EQ(FloatToBf16(FromBits(0x3F818000)), 0x3F82);  // tie: even (up)
  EXPECT_EQ(FloatToBf16(FromBits(0x3F808001)), 0x3F81);
  EXPECT_EQ(FloatToBf16(FromBits(0x7F7FFFFF)), 0x7F80);  // rounds to Inf
  EXPECT_EQ(FloatToBf16(FromBits(0x00018000)), 0x0002);  // denormal kept
  EXPECT_EQ(FloatToBf16(FromBits(0x7F800001)), 0x7FC0);  // sNaN made quiet
  EXPECT_EQ(FloatToBf16(FromBits(0xFFC00000)), 0xFFC0);
  EXPECT_EQ(Bits(Bf16ToFloat(0x3F80)), 0x3F800000u);
  EXPECT_EQ(Bits(Bf16ToFloat(0x0001)), 0x00010000u);
}

// Nearest-even against a reference computed in double.
TEST(Bf16Test, RoundsToNearestEven) {
  std::mt19937 rng(11);
  for (int i = 0; i < 1000000; ++i) {
    const uint32_t u = rng();
    const float f = FromBits(u);
    if (std::isnan(f) || std::isinf(f)) continue;
    const uint16_t got = FloatToBf16(f);
    const uint16_t down = static_cast<uint16_t>(u >> 16);
    const uint16_t up = static_cast<uint16_t>(down + 1);
    const double ed = std::fabs(static_cast<double>(Bf16ToFloat(down)) - f);
    const double eu = std::fabs(static_cast<double>(Bf16ToFloat(up)) - f);
    // `up` of the largest finite magnitude is Inf, which is right when the
    // value is at least the midpoint; compare the bit patterns then.
    const uint16_t want =
        (std::isinf(Bf16ToFloat(up)) && (u & 0xFFFF) >= 0x8000 &&
         !((u & 0xFFFF) == 0x8000 && !(down & 1)))
            ? up
        : eu < ed || (eu == ed && (up & 1) == 0) ? up
                                                 : down;
    ASSERT_EQ(got, want) << std::hex << u;
  }
}

}  // namespace
}  // namespace triptych::kernels
