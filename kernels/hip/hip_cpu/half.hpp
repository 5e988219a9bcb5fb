#ifndef TRIPTYCH_KERNELS_HIP_HIP_CPU_HALF_HPP_
#define TRIPTYCH_KERNELS_HIP_HIP_CPU_HALF_HPP_

// The part of the `half` library's interface (half_float::half, half_cast,
// cos/exp/log/sin/sqrt) that AMD's HIP CPU Runtime's hip_fp16.h is written
// against. hip-cpu's copy here lacks its external/ folder and Debian does not
// package `half`, so this is Triptych's own minimal stand-in: a half stores
// IEEE binary16 bits and computes in float (every operation converts to
// float, rounds the result back to half on assignment, round-to-nearest-
// even). Triptych's kernels do not use __half (device_math.h converts bits
// itself); this exists so that hip_runtime.h compiles.

#include <cmath>
#include <cstdint>
#include <cstring>

namespace half_float {

class half {
 public:
  constexpr half() = default;
  half(float f) : bits_(FromFloat(f)) {}  // NOLINT: implicit like the library
  operator float() const { return ToFloat(bits_); }  // NOLINT

 private:
  static uint16_t FromFloat(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000);
    const uint32_t a = u & 0x7FFFFFFF;
    if (a > 0x7F800000) return sign | 0x7E00;
    if (a >= 0x47800000) return sign | 0x7C00;
    const int exp = static_cast<int>(a >> 23);
    if (exp >= 113) {
      const uint32_t r = a + 0xFFF + ((a >> 13) & 1) - (uint32_t{112} << 23);
      const uint32_t h = r >> 13;
      return sign | static_cast<uint16_t>(h >= 0x7C00 ? 0x7C00 : h);
    }
    if (exp < 102) return sign;
    const uint32_t m = (a & 0x7FFFFF) | 0x800000;
    const int shift = 126 - exp;
    const uint32_t q = m >> shift, rem = m & ((1u << shift) - 1);
    const uint32_t hb = 1u << (shift - 1);
    return sign | static_cast<uint16_t>(
                      q + ((rem > hb || (rem == hb && (q & 1))) ? 1 : 0));
  }
  static float ToFloat(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1F;
    uint32_t mant = h & 0x3FF, u;
    if (exp == 0x1F) {
      u = sign | 0x7F800000 | (mant << 13);
    } else if (exp != 0) {
      u = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant == 0) {
      u = sign;
    } else {
      int e = 113;
      while ((mant & 0x400) == 0) {
        mant <<= 1;
        --e;
      }
      u = sign | (static_cast<uint32_t>(e) << 23) | ((mant & 0x3FF) << 13);
    }
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
  }

  uint16_t bits_ = 0;
};

template <typename T, typename U>
T half_cast(U x) {
  return static_cast<T>(static_cast<float>(x));
}

inline half cos(half x) { return half(std::cos(static_cast<float>(x))); }
inline half exp(half x) { return half(std::exp(static_cast<float>(x))); }
inline half log(half x) { return half(std::log(static_cast<float>(x))); }
inline half sin(half x) { return half(std::sin(static_cast<float>(x))); }
inline half sqrt(half x) { return half(std::sqrt(static_cast<float>(x))); }
inline bool isinf(half x) { return std::isinf(static_cast<float>(x)); }
inline bool isnan(half x) { return std::isnan(static_cast<float>(x)); }

}  // namespace half_float

#endif  // TRIPTYCH_KERNELS_HIP_HIP_CPU_HALF_HPP_
