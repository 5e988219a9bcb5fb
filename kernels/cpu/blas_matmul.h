#ifndef TRIPTYCH_KERNELS_CPU_BLAS_MATMUL_H_
#define TRIPTYCH_KERNELS_CPU_BLAS_MATMUL_H_

// MatMulRows for float weights (F32 / F16 / BF16) with many tokens through
// OpenBLAS sgemm. Used by the SIMD tables from kBlasMinTokensF32 tokens for
// F32 (sgemm reads the weights in place; 1.75x the per-row dots already at
// m = 8) and from kBlasMinTokens for F16 / BF16 (whose weights are first
// widened to float panels, which only pays off with more tokens: at m = 8 it
// is as fast as the per-row dots).
//
// Threads: OpenBLAS is limited to one thread (openblas_set_num_threads(1),
// once, on first use) because callers already split rows over their own
// thread pool; OpenBLAS threads on top would oversubscribe the cores. The
// setting is process-wide.
//
// Numerics: sums in float in sgemm's order, so results differ from the
// scalar reference (double sums) by float rounding. F16 / BF16 activations
// are widened exactly to float, as are the weights.

#include <cstdint>

#include "kernels/cpu/kernel_table.h"

namespace triptych::kernels::cpu {

inline constexpr int64_t kBlasMinTokensF32 = 8;
inline constexpr int64_t kBlasMinTokens = 16;

// Rows [row_begin, row_end) of Y = X * W^T as MatMulFn. `weight_to_f32`
// converts a weight row to float (null for F32 weights, used in place);
// `act_to_f32` likewise for an activation row (null for F32). Thread-safe:
// conversion buffers are per thread.
void BlasMatMulRows(DequantizeFn weight_to_f32, DequantizeFn act_to_f32,
                    int64_t elem_bytes, const void* w, int64_t n,
                    int64_t row_begin, int64_t row_end, const void* act,
                    int64_t act_stride, int64_t m, float* y, int64_t y_stride);

}  // namespace triptych::kernels::cpu

#endif  // TRIPTYCH_KERNELS_CPU_BLAS_MATMUL_H_
