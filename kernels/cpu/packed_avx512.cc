// AVX-512 (VL + VNNI) matmuls on the row-interleaved layout
// (packed_layout.h): the 256-bit kernels of packed_kernels.inc with VPDPBUSD
// (one instruction for VPMADDUBSW + the 16-bit add, and no widening step).
// Compiled with the AVX-512 flags of avx512.cc.
#define TRIPTYCH_PACKED_VNNI 1
#define TRIPTYCH_PACKED_ENTRY PackedMatMulAvx512
#include "kernels/cpu/packed_kernels.inc"
