#include "kernels/quant.h"

#include <cstdio>
#include <cstdlib>

#include "common/cpu_features.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/kernel_table.h"

namespace triptych::kernels {
namespace {

using cpu::KernelTable;

[[noreturn]] void Die(const char* what, GgmlType type) {
  std::fprintf(stderr, "triptych::kernels: %s not supported for type %u (%s)\n",
               what, static_cast<unsigned>(type), TypeName(type).data());
  std::abort();
}

// The weight kernels' AVX-512 variant uses VNNI and BF16 besides F/BW/VL/DQ.
bool CpuHasAvx2() { return GetCpuFeatures().avx2; }
bool CpuHasAvx512() {
  const CpuFeatures& f = GetCpuFeatures();
  return f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512vnni &&
         f.avx512bf16;
}

// `upper` with its null entries taken from `lower`.
KernelTable Merge(const KernelTable& upper, const KernelTable& lower) {
  KernelTable t = upper;
  for (int i = 0; i < cpu::kNumTypes; ++i) {
    if (!t.dequantize[i]) t.dequantize[i] = lower.dequantize[i];
    if (!t.quantize[i]) t.quantize[i] = lower.quantize[i];
    if (!t.vec_dot[i]) t.vec_dot[i] = lower.vec_dot[i];
    if (!t.mat_mul[i]) t.mat_mul[i] = lower.mat_mul[i];
    if (!t.mat_mul_multi[i]) t.mat_mul_multi[i] = lower.mat_mul_multi[i];
  }
  return t;
}

// The complete table of `isa` (not kAuto); the ISA must be available.
const KernelTable& TableFor(Isa isa) {
  static const KernelTable* const tables = [] {
    static KernelTable t[3];
    t[0] = cpu::ScalarKernels();
    if (CpuHasAvx2()) t[1] = Merge(cpu::Avx2Kernels(), t[0]);
    if (CpuHasAvx512()) t[2] = Merge(cpu::Avx512Kernels(), t[1]);
    return t;
  }();
  switch (isa) {
    case Isa::kAvx512:
      return tables[2];
    case Isa::kAvx2:
      return tables[1];
    default:
      return tables[0];
  }
}

const KernelTable& Resolve(Isa isa) {
  if (isa == Isa::kAuto) isa = BestIsa();
  if (!IsaAvailable(isa)) {
    std::fprintf(stderr,
                 "triptych::kernels: ISA %s not available on this CPU\n",
                 IsaName(isa));
    std::abort();
  }
  return TableFor(isa);
}

int IndexOrDie(GgmlType type, const char* what) {
  const int idx = cpu::IndexOf(type);
  if (idx < 0) Die(what, type);
  return idx;
}

}  // namespace

Isa BestIsa() {
  static const Isa best = CpuHasAvx512() ? Isa::kAvx512
                          : CpuHasAvx2() ? Isa::kAvx2
                                         : Isa::kScalar;
  return best;
}

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kAuto:
      return "auto";
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "unknown";
}

bool IsaAvailable(Isa isa) {
  switch (isa) {
    case Isa::kAuto:
    case Isa::kScalar:
      return true;
    case Isa::kAvx2:
      return CpuHasAvx2();
    case Isa::kAvx512:
      return CpuHasAvx512();
  }
  return false;
}

GgmlType VecDotType(GgmlType weight_type) {
  switch (weight_type) {
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_0:
      return GgmlType::kQ8_0;
    case GgmlType::kQ4_K:
    case GgmlType::kQ6_K:
      return GgmlType::kQ8_K;
    default:
      return weight_type;
  }
}

void DequantizeRow(GgmlType type, const void* src, float* dst, int64_t n,
                   Isa isa) {
  const int idx = IndexOrDie(type, "DequantizeRow");
  Resolve(isa).dequantize[idx](src, dst, n);
}

void QuantizeRow(GgmlType type, const float* src, void* dst, int64_t n,
                 Isa isa) {
  const int idx = IndexOrDie(type, "QuantizeRow");
  Resolve(isa).quantize[idx](src, dst, n);
}

float VecDot(GgmlType weight_type, int64_t n, const void* weight_row,
             const void* act_row, Isa isa) {
  const int idx = IndexOrDie(weight_type, "VecDot");
  const cpu::VecDotFn fn = Resolve(isa).vec_dot[idx];
  if (!fn) Die("VecDot", weight_type);
  return fn(n, weight_row, act_row);
}

void MatMulRows(GgmlType weight_type, const void* w, int64_t n,
                int64_t row_begin, int64_t row_end, const void* act,
                int64_t act_stride, int64_t m, float* y, int64_t y_stride,
                Isa isa) {
  const int idx = IndexOrDie(weight_type, "MatMulRows");
  const KernelTable& table = Resolve(isa);
  cpu::MatMulFn fn = table.mat_mul[idx];
  if (!fn) Die("MatMulRows", weight_type);
  if (row_begin >= row_end || m <= 0) return;
  if (m > 1 && table.mat_mul_multi[idx]) fn = table.mat_mul_multi[idx];
  fn(w, n, row_begin, row_end, act, act_stride, m, y, y_stride);
}

uint16_t FloatToHalf(float f) { return cpu::Fp32ToFp16(f); }
float HalfToFloat(uint16_t h) { return cpu::Fp16ToFp32(h); }
uint16_t FloatToBf16(float f) { return cpu::Fp32ToBf16(f); }
float Bf16ToFloat(uint16_t h) { return cpu::Bf16ToFp32(h); }

}  // namespace triptych::kernels
