#ifndef TRIPTYCH_KERNELS_CPU_KERNEL_TABLE_H_
#define TRIPTYCH_KERNELS_CPU_KERNEL_TABLE_H_

// The CPU dispatch table: one KernelTable per ISA variant, indexed by element
// type. kernels/quant.cc picks the table and fills the entries a variant
// leaves null from the next lower variant (AVX-512 -> AVX2 -> scalar).

#include <cstdint>

#include "kernels/ggml_type.h"

namespace triptych::kernels::cpu {

// Dense index of the types with CPU kernels.
enum TypeIndex : int {
  kIdxF32 = 0,
  kIdxF16,
  kIdxBf16,
  kIdxQ8_0,
  kIdxQ4_0,
  kIdxQ4K,
  kIdxQ6K,
  kIdxQ8K,
  kNumTypes,
};

// The index of `type`, or -1 when it has no CPU kernels.
int IndexOf(GgmlType type);

using DequantizeFn = void (*)(const void* src, float* dst, int64_t n);
using QuantizeFn = void (*)(const float* src, void* dst, int64_t n);
using VecDotFn = float (*)(int64_t n, const void* w, const void* act);
using MatMulFn = void (*)(const void* w, int64_t n, int64_t row_begin,
                          int64_t row_end, const void* act, int64_t act_stride,
                          int64_t m, float* y, int64_t y_stride);

struct KernelTable {
  DequantizeFn dequantize[kNumTypes] = {};
  QuantizeFn quantize[kNumTypes] = {};
  // Indexed by the weight type; Q8_K has none.
  VecDotFn vec_dot[kNumTypes] = {};
  MatMulFn mat_mul[kNumTypes] = {};
  // Optional kernels for m > 1 (several tokens); when null, mat_mul serves
  // every m. mat_mul stays the choice for m == 1 (decode), where streaming
  // the weights once matters more than reuse across tokens.
  MatMulFn mat_mul_multi[kNumTypes] = {};
};

// Complete (no null entry for a weight type; Q8_K has no dot).
const KernelTable& ScalarKernels();
// Partial tables; only valid to call on CPUs with the ISA.
const KernelTable& Avx2Kernels();
const KernelTable& Avx512Kernels();

// Adds the register-tiled multi-token int8 matmuls (avx512_tiled.cc) to an
// AVX-512 table.
void FillAvx512TiledKernels(KernelTable& t);

}  // namespace triptych::kernels::cpu

#endif  // TRIPTYCH_KERNELS_CPU_KERNEL_TABLE_H_
