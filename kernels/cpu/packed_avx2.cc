// AVX2 matmuls on the row-interleaved layout (packed_layout.h): the kernels
// of packed_kernels.inc with VPMADDUBSW. Compiled with -mavx2 -mfma -mf16c.
#define TRIPTYCH_PACKED_VNNI 0
#define TRIPTYCH_PACKED_ENTRY PackedMatMulAvx2
#include "kernels/cpu/packed_kernels.inc"
