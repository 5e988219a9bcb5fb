#include "kernels/packed.h"

#include <cstdio>
#include <cstdlib>

#include "kernels/cpu/kernel_table.h"
#include "kernels/cpu/packed_layout.h"

namespace triptych::kernels {
namespace {

// The packed-layout index of `type`, or -1.
int PackedIndex(GgmlType type) {
  switch (type) {
    case GgmlType::kQ4_0:
      return cpu::kIdxQ4_0;
    case GgmlType::kQ8_0:
      return cpu::kIdxQ8_0;
    case GgmlType::kQ4_K:
      return cpu::kIdxQ4K;
    default:
      return -1;
  }
}

int PackedIndexOrDie(GgmlType type) {
  const int idx = PackedIndex(type);
  if (idx < 0) {
    std::fprintf(stderr, "triptych::kernels: no packed layout for type %s\n",
                 TypeName(type).data());
    std::abort();
  }
  return idx;
}

}  // namespace

bool HasPackedLayout(GgmlType type) { return PackedIndex(type) >= 0; }

bool UsePackedLayout(GgmlType type) {
  const int idx = PackedIndex(type);
  return idx >= 0 && BestIsa() == Isa::kAvx2 &&
         cpu::PackedMatMulAvx2(idx) != nullptr;
}

int64_t PackedBytes(GgmlType type, int64_t rows, int64_t n) {
  const int idx = PackedIndexOrDie(type);
  const int64_t groups = (rows + kPackRows - 1) / kPackRows;
  return groups * (n / cpu::GroupBlockElems(idx)) * cpu::GroupBlockBytes(idx);
}

void PackWeights(GgmlType type, const void* w, int64_t rows, int64_t n,
                 void* dst) {
  cpu::PackGroupRows(PackedIndexOrDie(type), w, rows, n, dst);
}

void UnpackRow(GgmlType type, const void* packed, int64_t n, int64_t row,
               void* dst) {
  cpu::UnpackGroupRow(PackedIndexOrDie(type), packed, n, row, dst);
}

void PackedMatMulRows(GgmlType type, const void* packed, int64_t n,
                      int64_t row_begin, int64_t row_end, const void* act,
                      int64_t act_stride, int64_t m, float* y,
                      int64_t y_stride, Isa isa) {
  const int idx = PackedIndexOrDie(type);
  if (row_begin >= row_end || m <= 0) return;
  if (row_begin % kPackRows != 0) {
    std::fprintf(stderr, "triptych::kernels: packed row range must start at a "
                         "multiple of %lld\n", static_cast<long long>(kPackRows));
    std::abort();
  }
  if (isa == Isa::kAuto) isa = BestIsa();
  if (!IsaAvailable(isa)) {
    std::fprintf(stderr, "triptych::kernels: ISA %s not available on this CPU\n",
                 IsaName(isa));
    std::abort();
  }
  // AVX-512 CPUs also run the AVX2 packed kernels (no 512-bit variant yet).
  if (isa != Isa::kScalar) {
    if (cpu::MatMulFn fn = cpu::PackedMatMulAvx2(idx)) {
      fn(packed, n, row_begin, row_end, act, act_stride, m, y, y_stride);
      return;
    }
  }
  cpu::PackedMatMulScalar(idx, packed, n, row_begin, row_end, act, act_stride,
                          m, y, y_stride);
}

}  // namespace triptych::kernels
