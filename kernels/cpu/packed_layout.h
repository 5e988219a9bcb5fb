#ifndef TRIPTYCH_KERNELS_CPU_PACKED_LAYOUT_H_
#define TRIPTYCH_KERNELS_CPU_PACKED_LAYOUT_H_

// Byte layouts of the row-interleaved weight groups (see kernels/packed.h).
// A packed matrix is its row groups (8 rows each) one after the other; a
// group is its blocks in column order, each an 8-row "group block" below.
// Within a group block, quants are stored as runs of 4 bytes per row: byte
// 32 k + 4 r + i is byte 4 k + i of row r's block (k = run, r = row 0..7).

#include <cstdint>

#include "kernels/cpu/kernel_table.h"

namespace triptych::kernels::cpu {

inline constexpr int kGroupRows = 8;

// 8 Q4_0 blocks. Run k (0..3): the low nibbles are elements 4k..4k+3 of
// each row, the high nibbles elements 16+4k..16+4k+3.
struct GroupQ4_0 {
  uint16_t d[kGroupRows];
  uint8_t qs[kGroupRows * 16];
};
static_assert(sizeof(GroupQ4_0) == 144);

// 8 Q8_0 blocks. Run k (0..7): elements 4k..4k+3 of each row.
struct GroupQ8_0 {
  uint16_t d[kGroupRows];
  int8_t qs[kGroupRows * 32];
};
static_assert(sizeof(GroupQ8_0) == 272);

// 8 Q4_K super-blocks with the 6-bit scales and mins unpacked to bytes.
// sc[j][r]: scale of sub-block j of row r. m[p][r][h]: min of sub-block
// 2p + h of row r (pairs, for one 16-bit multiply-add per pair). qs: for
// each 32-byte group g of the original block (sub-blocks 2g, 2g+1), 8 runs
// of 4 bytes per row (low nibbles: sub-block 2g, high: 2g + 1).
struct GroupQ4K {
  uint16_t d[kGroupRows];
  uint16_t dmin[kGroupRows];
  uint8_t sc[8][kGroupRows];
  uint8_t m[4][kGroupRows][2];
  uint8_t qs[4][kGroupRows * 32];
};
static_assert(sizeof(GroupQ4K) == 1184);

// Bytes of one group block of `type_idx` (kIdxQ4_0, kIdxQ8_0, kIdxQ4K), or 0
// for a type without a packed layout.
int64_t GroupBlockBytes(int type_idx);
// Elements per group block (32 or 256).
int64_t GroupBlockElems(int type_idx);

// Scalar pack / unpack (packed_scalar.cc); the layout is ISA-independent.
void PackGroupRows(int type_idx, const void* w, int64_t rows, int64_t n,
                   void* dst);
void UnpackGroupRow(int type_idx, const void* packed, int64_t n, int64_t row,
                    void* dst);

// The scalar reference matmul on a packed matrix (unpacks each row and runs
// the scalar dot); serves every packed type.
void PackedMatMulScalar(int type_idx, const void* packed, int64_t n,
                        int64_t row_begin, int64_t row_end, const void* act,
                        int64_t act_stride, int64_t m, float* y,
                        int64_t y_stride);

// AVX2 packed matmuls (packed_avx2.cc), indexed like KernelTable; null for
// types without one. Only callable on CPUs with AVX2.
MatMulFn PackedMatMulAvx2(int type_idx);
// The same kernels with VNNI (packed_avx512.cc); only callable on CPUs with
// AVX-512 VL + VNNI (Isa::kAvx512). Same results, bit for bit.
MatMulFn PackedMatMulAvx512(int type_idx);

}  // namespace triptych::kernels::cpu

#endif  // TRIPTYCH_KERNELS_CPU_PACKED_LAYOUT_H_
