#ifndef TRIPTYCH_KERNELS_CPU_FP16_H_
#define TRIPTYCH_KERNELS_CPU_FP16_H_

// Scalar binary16 / bfloat16 <-> binary32 conversions, bit-exact with the x86
// instructions (VCVTPS2PH with round-to-nearest-even, VCVTPH2PS) and with
// ggml's bf16 rounding, including denormals, infinities and NaNs.
//
// The functions are `static` on purpose: this header is included by
// translation units compiled with different ISA flags, and an external inline
// function could be linked from the AVX-512 copy into baseline code.

#include <cstdint>
#include <cstring>

namespace triptych::kernels::cpu {

static inline uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

static inline float BitsToFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

static inline float Fp16ToFp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FF;
  if (exp == 0x1F) {
    // Inf stays Inf; a NaN keeps its payload and becomes quiet.
    return BitsToFloat(sign | 0x7F800000 | (mant << 13) |
                       (mant != 0 ? 0x400000u : 0u));
  }
  if (exp != 0) return BitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
  if (mant == 0) return BitsToFloat(sign);
  // Denormal: normalise the mantissa.
  int e = 113;
  while ((mant & 0x400) == 0) {
    mant <<= 1;
    --e;
  }
  return BitsToFloat(sign | (static_cast<uint32_t>(e) << 23) |
                     ((mant & 0x3FF) << 13));
}

static inline uint16_t Fp32ToFp16(float f) {
  const uint32_t u = FloatBits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000);
  const uint32_t abs = u & 0x7FFFFFFF;
  if (abs > 0x7F800000) {  // NaN: quiet, top payload bits kept.
    return sign | 0x7E00 | static_cast<uint16_t>((abs >> 13) & 0x3FF);
  }
  if (abs >= 0x47800000) return sign | 0x7C00;  // >= 65536: overflow to Inf.
  const int exp = static_cast<int>(abs >> 23);
  if (exp >= 113) {
    // Normal half (before rounding, which may carry into the exponent and up
    // to infinity, as it should).
    const uint32_t rounded =
        abs + 0xFFF + ((abs >> 13) & 1) - (static_cast<uint32_t>(112) << 23);
    const uint32_t h = rounded >> 13;
    return sign | static_cast<uint16_t>(h >= 0x7C00 ? 0x7C00 : h);
  }
  if (exp < 102) return sign;  // below half the smallest denormal: +-0.
  // Denormal half: shift the full mantissa and round to nearest even.
  const uint32_t mant = (abs & 0x7FFFFF) | 0x800000;
  const int shift = 126 - exp;  // 14..24
  const uint32_t q = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  const uint32_t r = q + ((rem > half || (rem == half && (q & 1))) ? 1 : 0);
  return sign | static_cast<uint16_t>(r);
}

static inline float Bf16ToFp32(uint16_t h) {
  return BitsToFloat(static_cast<uint32_t>(h) << 16);
}

// Round to nearest even; NaNs are made quiet (as ggml_compute_fp32_to_bf16).
static inline uint16_t Fp32ToBf16(float f) {
  const uint32_t u = FloatBits(f);
  if ((u & 0x7FFFFFFF) > 0x7F800000)
    return static_cast<uint16_t>((u >> 16) | 64);
  return static_cast<uint16_t>((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}

}  // namespace triptych::kernels::cpu

#endif  // TRIPTYCH_KERNELS_CPU_FP16_H_
