// AVX2 + FMA + F16C kernels. This file is compiled with -mavx2 -mfma -mf16c
// and only called after a run-time CPU check (kernels/quant.cc).

#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/blas_matmul.h"
#include "kernels/cpu/blocks.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/kernel_table.h"

namespace triptych::kernels::cpu {
namespace {

#include "kernels/cpu/x86_kernels.inc"

KernelTable MakeTable() {
  KernelTable t;
  FillCommonTable(t);
  t.vec_dot[kIdxF32] = VecDotVia<KF32x8>;
  t.vec_dot[kIdxF16] = VecDotVia<KF16x8>;
  t.vec_dot[kIdxBf16] = VecDotVia<KBf16x8>;
  t.mat_mul[kIdxF32] = MatMulBlocked<KF32x8, GgmlType::kF32>;
  t.mat_mul[kIdxF16] = MatMulBlocked<KF16x8, GgmlType::kF16>;
  t.mat_mul[kIdxBf16] = MatMulBlocked<KBf16x8, GgmlType::kBF16>;
  t.dequantize[kIdxBf16] = DequantizeBf16Avx;
  t.mat_mul_multi[kIdxF32] =
      MatMulFloatMulti<MatMulBlocked<KF32x8, GgmlType::kF32>, nullptr, nullptr,
                       4, kBlasMinTokensF32>;
  t.mat_mul_multi[kIdxF16] =
      MatMulFloatMulti<MatMulBlocked<KF16x8, GgmlType::kF16>, DequantizeF16Avx,
                       DequantizeF16Avx, 2, kBlasMinTokens>;
  t.mat_mul_multi[kIdxBf16] =
      MatMulFloatMulti<MatMulBlocked<KBf16x8, GgmlType::kBF16>,
                       DequantizeBf16Avx, DequantizeBf16Avx, 2, kBlasMinTokens>;
  return t;
}

}  // namespace

const KernelTable& Avx2Kernels() {
  static const KernelTable table = MakeTable();
  return table;
}

}  // namespace triptych::kernels::cpu
