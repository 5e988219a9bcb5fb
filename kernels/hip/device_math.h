#ifndef TRIPTYCH_KERNELS_HIP_DEVICE_MATH_H_
#define TRIPTYCH_KERNELS_HIP_DEVICE_MATH_H_

// Device-side helpers of the forward ops (included only by hipcc / nvcc
// translation units): half / bfloat16 conversions bit-exact with
// kernels/cpu/fp16.h, dequantization of 8 consecutive weights in the GGUF
// block layouts of kernels/cpu/blocks.h (same operation order as the scalar
// reference, so dequantized values are identical), and block reductions in
// shared memory (no warp shuffles: AMD wavefronts are 64 wide, NVIDIA warps
// 32).

#include <cstdint>
#include <cstring>

#include "kernels/cpu/blocks.h"
#include "kernels/ggml_type.h"
#include "kernels/hip/gpu_compat.h"

namespace triptych::kernels::hip {

// Bit casts through memcpy (every toolchain, HIP-CPU's g++ included, folds
// it to a register move; __uint_as_float is not available to g++).
__device__ inline float DevBitsToFloat(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}
__device__ inline uint32_t DevFloatBits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

__device__ inline float DevHalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FF;
  if (exp == 0x1F) {
    return DevBitsToFloat(sign | 0x7F800000 | (mant << 13) |
                          (mant != 0 ? 0x400000u : 0u));
  }
  if (exp != 0)
    return DevBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
  if (mant == 0) return DevBitsToFloat(sign);
  int e = 113;
  while ((mant & 0x400) == 0) {
    mant <<= 1;
    --e;
  }
  return DevBitsToFloat(sign | (static_cast<uint32_t>(e) << 23) |
                        ((mant & 0x3FF) << 13));
}

__device__ inline uint16_t DevFloatToHalf(float f) {
  const uint32_t u = DevFloatBits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000);
  const uint32_t abs = u & 0x7FFFFFFF;
  if (abs > 0x7F800000) {
    return sign | 0x7E00 | static_cast<uint16_t>((abs >> 13) & 0x3FF);
  }
  if (abs >= 0x47800000) return sign | 0x7C00;
  const int exp = static_cast<int>(abs >> 23);
  if (exp >= 113) {
    const uint32_t rounded =
        abs + 0xFFF + ((abs >> 13) & 1) - (static_cast<uint32_t>(112) << 23);
    const uint32_t h = rounded >> 13;
    return sign | static_cast<uint16_t>(h >= 0x7C00 ? 0x7C00 : h);
  }
  if (exp < 102) return sign;
  const uint32_t mant = (abs & 0x7FFFFF) | 0x800000;
  const int shift = 126 - exp;
  const uint32_t q = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  const uint32_t r = q + ((rem > half || (rem == half && (q & 1))) ? 1 : 0);
  return sign | static_cast<uint16_t>(r);
}

__device__ inline void DevScaleMinK4(int j, const uint8_t* q, uint8_t* sc,
                                     uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Elements [col0, col0 + 8) of a weight row of `type` with `cols` elements,
// col0 a multiple of 8. Elements at or past `cols` read as 0 (only float
// types can end mid-group: quantized rows are whole blocks).
__device__ inline void Dequant8(GgmlType type, const uint8_t* row, int64_t col0,
                                int64_t cols, float* out) {
  using cpu::BlockQ4_0;
  using cpu::BlockQ4K;
  using cpu::BlockQ6K;
  using cpu::BlockQ8_0;
  using cpu::kQK;
  using cpu::kQKK;
  switch (type) {
    case GgmlType::kF32: {
      const float* p = reinterpret_cast<const float*>(row);
      for (int e = 0; e < 8; ++e) out[e] = col0 + e < cols ? p[col0 + e] : 0.0f;
      return;
    }
    case GgmlType::kF16: {
      const uint16_t* p = reinterpret_cast<const uint16_t*>(row);
      for (int e = 0; e < 8; ++e) {
        out[e] = col0 + e < cols ? DevHalfToFloat(p[col0 + e]) : 0.0f;
      }
      return;
    }
    case GgmlType::kBF16: {
      const uint16_t* p = reinterpret_cast<const uint16_t*>(row);
      for (int e = 0; e < 8; ++e) {
        out[e] = col0 + e < cols
                     ? DevBitsToFloat(static_cast<uint32_t>(p[col0 + e]) << 16)
                     : 0.0f;
      }
      return;
    }
    case GgmlType::kQ8_0: {
      const BlockQ8_0* b = reinterpret_cast<const BlockQ8_0*>(row) + col0 / kQK;
      const float d = DevHalfToFloat(b->d);
      const int j0 = static_cast<int>(col0 % kQK);
      for (int e = 0; e < 8; ++e) out[e] = d * b->qs[j0 + e];
      return;
    }
    case GgmlType::kQ4_0: {
      const BlockQ4_0* b = reinterpret_cast<const BlockQ4_0*>(row) + col0 / kQK;
      const float d = DevHalfToFloat(b->d);
      const int j0 = static_cast<int>(col0 % kQK);
      for (int e = 0; e < 8; ++e) {
        const int j = j0 + e;
        const int q =
            j < kQK / 2 ? (b->qs[j] & 0xF) : (b->qs[j - kQK / 2] >> 4);
        out[e] = d * (q - 8);
      }
      return;
    }
    case GgmlType::kQ4_K: {
      const BlockQ4K* b = reinterpret_cast<const BlockQ4K*>(row) + col0 / kQKK;
      const int i0 = static_cast<int>(col0 % kQKK);
      const int g = i0 / 64, sub = i0 / 32;  // 64-group, 32-sub-block
      uint8_t sc, m;
      DevScaleMinK4(sub, b->scales, &sc, &m);
      const float d1 = DevHalfToFloat(b->d) * sc;
      const float m1 = DevHalfToFloat(b->dmin) * m;
      const uint8_t* q = b->qs + 32 * g + i0 % 32;
      const bool high = (sub & 1) != 0;
      for (int e = 0; e < 8; ++e) {
        out[e] = d1 * (high ? (q[e] >> 4) : (q[e] & 0xF)) - m1;
      }
      return;
    }
    case GgmlType::kQ6_K: {
      const BlockQ6K* b = reinterpret_cast<const BlockQ6K*>(row) + col0 / kQKK;
      const int i0 = static_cast<int>(col0 % kQKK);
      const float d = DevHalfToFloat(b->d);
      const float ds = d * b->scales[i0 / 16];
      const int half = i0 / 128, r = i0 % 128, quarter = r / 32;
      const uint8_t* ql = b->ql + 64 * half + ((quarter & 1) ? 32 : 0);
      const uint8_t* qh = b->qh + 32 * half;
      for (int e = 0; e < 8; ++e) {
        const int l = r % 32 + e;
        const int lo4 = quarter < 2 ? (ql[l] & 0xF) : (ql[l] >> 4);
        const int hi2 = (qh[l] >> (2 * quarter)) & 3;
        out[e] = ds * ((lo4 | (hi2 << 4)) - 32);
      }
      return;
    }
    default:
      for (int e = 0; e < 8; ++e) out[e] = 0.0f;
  }
}

// Block-wide reductions over blockDim.x threads (a power of two <= 1024)
// through `red` (blockDim.x floats of shared memory). Every thread gets the
// result. Contains barriers: call from all threads of the block.
__device__ inline float BlockSum(float v, float* red) {
  const int t = threadIdx.x;
  red[t] = v;
  __syncthreads();
  for (int w = blockDim.x / 2; w >= 1; w /= 2) {
    if (t < w) red[t] = red[t] + red[t + w];
    __syncthreads();
  }
  const float r = red[0];
  __syncthreads();
  return r;
}

__device__ inline float BlockMax(float v, float* red) {
  const int t = threadIdx.x;
  red[t] = v;
  __syncthreads();
  for (int w = blockDim.x / 2; w >= 1; w /= 2) {
    if (t < w) red[t] = fmaxf(red[t], red[t + w]);
    __syncthreads();
  }
  const float r = red[0];
  __syncthreads();
  return r;
}

// Grid size for `n` items of `per_block`, capped for a 1-D grid.
inline unsigned GridFor(int64_t n, int64_t per_block) {
  const int64_t g = (n + per_block - 1) / per_block;
  return static_cast<unsigned>(g < 1 ? 1 : (g > 65535 * 32 ? 65535 * 32 : g));
}

}  // namespace triptych::kernels::hip

#endif  // TRIPTYCH_KERNELS_HIP_DEVICE_MATH_H_
