#ifndef TRIPTYCH_KERNELS_QUANT_H_
#define TRIPTYCH_KERNELS_QUANT_H_

// Device-independent declarations of the weight-type ops: conversion to and
// from float, and the dot products the matmuls are built from. Block layouts
// are the standard GGUF ones (ggml-common.h), so files quantized by other
// tools load unchanged. Implementations live under kernels/cpu/ (scalar
// reference plus AVX2 / AVX-512 variants picked at run time).
//
// All functions are thread-safe (pure).

#include <cstdint>

#include "kernels/ggml_type.h"

namespace triptych::kernels {

// CPU instruction-set variants. kAuto picks the best the CPU supports.
enum class Isa { kAuto, kScalar, kAvx2, kAvx512 };

// The variant kAuto resolves to on this CPU.
Isa BestIsa();
const char* IsaName(Isa isa);
// True when this CPU can run `isa`.
bool IsaAvailable(Isa isa);

// Element type activations are converted to before a dot product with
// weights of `weight_type` (as ggml's vec_dot_type): F32 -> F32, F16 -> F16,
// BF16 -> BF16, Q8_0 and Q4_0 -> Q8_0, Q4_K and Q6_K -> Q8_K.
GgmlType VecDotType(GgmlType weight_type);

// Converts `n` elements (a multiple of the type's block size) to float.
// `type` is any supported type or Q8_K.
void DequantizeRow(GgmlType type, const void* src, float* dst, int64_t n,
                   Isa isa = Isa::kAuto);

// Converts `n` floats to `type` (any supported type or Q8_K), using the
// reference rounding of ggml's quantize_row_*_ref.
void QuantizeRow(GgmlType type, const float* src, void* dst, int64_t n,
                 Isa isa = Isa::kAuto);

// Dot product of a weight row of `weight_type` with an activation row already
// converted to VecDotType(weight_type); both hold `n` elements.
float VecDot(GgmlType weight_type, int64_t n, const void* weight_row,
             const void* act_row, Isa isa = Isa::kAuto);

// Rows [row_begin, row_end) of Y = X * W^T, where W is a row-major matrix of
// `weight_type` with `n` columns (row stride RowBytes(weight_type, n)) and X
// holds `m` activation rows already converted to VecDotType(weight_type),
// `act_stride` bytes apart. Writes y[t * y_stride + r] for token t and row r.
// Blocks over rows and tokens so each weight row is read once per call.
// Numerics by path: the quantized types are bit-identical to the scalar
// reference on AVX-512 for every m; float weights with many tokens (F32 from
// 8, F16 / BF16 from 16) go through OpenBLAS sgemm with float sums, which
// differ from the reference's double sums by float rounding (see
// kernels/cpu/blas_matmul.h, which also explains why OpenBLAS is limited to
// one thread).
void MatMulRows(GgmlType weight_type, const void* w, int64_t n,
                int64_t row_begin, int64_t row_end, const void* act,
                int64_t act_stride, int64_t m, float* y, int64_t y_stride,
                Isa isa = Isa::kAuto);

// Half and bfloat16 conversions (IEEE round-to-nearest-even).
uint16_t FloatToHalf(float f);
float HalfToFloat(uint16_t h);
uint16_t FloatToBf16(float f);
float Bf16ToFloat(uint16_t h);

}  // namespace triptych::kernels

#endif  // TRIPTYCH_KERNELS_QUANT_H_
