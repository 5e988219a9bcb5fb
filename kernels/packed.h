#ifndef TRIPTYCH_KERNELS_PACKED_H_
#define TRIPTYCH_KERNELS_PACKED_H_

// Row-interleaved ("packed") weight layout for the quantized matmuls.
//
// A weight matrix of Q4_0, Q8_0 or Q4_K is rewritten once at load so that
// each group of kPackRows consecutive rows is stored block by block with the
// rows interleaved in 4-byte runs: one 256-bit load then holds 4 quants of
// each of the 8 rows, multiplies against 4 broadcast activation quants, and
// the sums land one row per SIMD lane. The m = 1 (decode) dot then needs no
// horizontal sums, converts one integer vector to float per block for 8
// rows, and scales all 8 rows with one vector of block scales. Byte layouts
// are described in kernels/cpu/packed_layout.h; the layout itself does not
// depend on the ISA (the scalar reference reads it too).
//
// All functions are thread-safe (pure).

#include <cstdint>

#include "kernels/ggml_type.h"
#include "kernels/quant.h"

namespace triptych::kernels {

// Rows per interleaved group. Matrices whose row count is not a multiple are
// padded with zero rows in the packed copy.
inline constexpr int64_t kPackRows = 8;

// True when `type` has a packed layout and this process should use it: the
// CPU has AVX2 (AVX-512 CPUs included). AVX2 runs the packed kernels for
// every m; AVX-512 runs them below kUnpackMinTokens tokens (decode, where
// they are about 1.7x faster than its row-major kernels) and unpacks rows
// into its row-major VNNI / register-tiled kernels from there (prefill).
bool UsePackedLayout(GgmlType type);

// AVX-512: tokens from which PackedMatMulRows unpacks rows, up to
// kUnpackBytes of them at a time per thread, into the row-major kernels.
inline constexpr int64_t kUnpackMinTokens = 16;
inline constexpr int64_t kUnpackBytes = int64_t{2} << 20;

// True when `type` has a packed layout at all (Q8_0, Q4_0, Q4_K).
bool HasPackedLayout(GgmlType type);

// Bytes of the packed copy of `rows` x `n` weights (`n` a multiple of the
// type's block size); rows are rounded up to kPackRows. Requires
// HasPackedLayout(type).
int64_t PackedBytes(GgmlType type, int64_t rows, int64_t n);

// Writes the packed copy of the row-major matrix `w` (`rows` rows of
// RowBytes(type, n) bytes) to `dst` (PackedBytes() bytes).
void PackWeights(GgmlType type, const void* w, int64_t rows, int64_t n,
                 void* dst);

// Reconstructs row `row` of a packed matrix in the row-major block format
// (RowBytes(type, n) bytes at `dst`), bit-identical to the original row.
void UnpackRow(GgmlType type, const void* packed, int64_t n, int64_t row,
               void* dst);

// MatMulRows (kernels/quant.h) on a packed matrix: rows [row_begin, row_end)
// of Y = X * W^T, y[t * y_stride + r]. `row_begin` must be a multiple of
// kPackRows. Bit-identical to MatMulRows on the row-major matrix with the
// scalar reference (same integer block sums, same float operations in the
// same order), on every ISA.
void PackedMatMulRows(GgmlType type, const void* packed, int64_t n,
                      int64_t row_begin, int64_t row_end, const void* act,
                      int64_t act_stride, int64_t m, float* y,
                      int64_t y_stride, Isa isa = Isa::kAuto);

}  // namespace triptych::kernels

#endif  // TRIPTYCH_KERNELS_PACKED_H_
