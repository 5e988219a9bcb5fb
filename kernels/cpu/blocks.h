#ifndef TRIPTYCH_KERNELS_CPU_BLOCKS_H_
#define TRIPTYCH_KERNELS_CPU_BLOCKS_H_

// Byte layouts of the quantized blocks, identical to ggml-common.h so that
// GGUF files written by llama.cpp are read unchanged. Half-precision fields
// are stored as raw IEEE binary16 bits.

#include <cstdint>

namespace triptych::kernels::cpu {

inline constexpr int kQK = 32;    // elements per Q8_0 / Q4_0 block
inline constexpr int kQKK = 256;  // elements per K-quant super-block

struct BlockQ8_0 {
  uint16_t d;  // scale (fp16)
  int8_t qs[kQK];
};
static_assert(sizeof(BlockQ8_0) == 34);

// Element j (0..15) is the low nibble of qs[j], element j + 16 the high one.
struct BlockQ4_0 {
  uint16_t d;  // scale (fp16); value = d * (q - 8)
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

// 8 sub-blocks of 32; value = d * sc[j] * q - dmin * m[j], with the 6-bit
// sc/m packed into `scales` (see GetScaleMinK4). Each 32-byte group of qs
// holds sub-block 2k in its low nibbles and 2k + 1 in its high nibbles.
struct BlockQ4K {
  uint16_t d;     // super-block scale of the scales (fp16)
  uint16_t dmin;  // super-block scale of the mins (fp16)
  uint8_t scales[12];
  uint8_t qs[kQKK / 2];
};
static_assert(sizeof(BlockQ4K) == 144);

// 16 sub-blocks of 16; value = d * scales[j] * (q - 32), q = 4 low bits from
// ql and 2 high bits from qh (see DequantizeQ6K for the interleaving).
struct BlockQ6K {
  uint8_t ql[kQKK / 2];
  uint8_t qh[kQKK / 4];
  int8_t scales[kQKK / 16];
  uint16_t d;  // fp16
};
static_assert(sizeof(BlockQ6K) == 210);

// Activation type for the K-quants: value = d * q; bsums[j] is the sum of
// qs[16 j .. 16 j + 15].
struct BlockQ8K {
  float d;
  int8_t qs[kQKK];
  int16_t bsums[kQKK / 16];
};
static_assert(sizeof(BlockQ8K) == 292);

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K block.
// `static` on purpose: this header is included by translation units compiled
// with different ISA flags, and an external inline function could be linked
// from the AVX-512 copy into the baseline code.
static inline void GetScaleMinK4(int j, const uint8_t* q, uint8_t* sc,
                                 uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

}  // namespace triptych::kernels::cpu

#endif  // TRIPTYCH_KERNELS_CPU_BLOCKS_H_
