#include "kernels/packed.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

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
  return idx >= 0 && BestIsa() != Isa::kScalar &&
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
  // Many tokens (prefill) on an AVX-512 CPU: its row-major VNNI /
  // register-tiled kernels beat the AVX2 packed ones by about 2x there, so
  // the rows are unpacked up to kUnpackBytes at a time into a per-thread buffer
  // and run through them (the unpack is amortised over the tokens). Both
  // paths are bit-identical to the scalar reference.
  if (isa == Isa::kAvx512 && m >= kUnpackMinTokens) {
    const int64_t row_bytes = RowBytes(type, n);
    // Each call packs the activations again, so chunks are large.
    const int64_t chunk =
        std::max<int64_t>(kPackRows, kUnpackBytes / row_bytes / kPackRows * kPackRows);
    static thread_local std::vector<uint8_t> buf;
    buf.resize(static_cast<size_t>(std::min(chunk, row_end - row_begin) * row_bytes));
    for (int64_t r0 = row_begin; r0 < row_end; r0 += chunk) {
      const int64_t r1 = std::min(row_end, r0 + chunk);
      for (int64_t r = r0; r < r1; ++r) {
        cpu::UnpackGroupRow(idx, packed, n, r, buf.data() + (r - r0) * row_bytes);
      }
      MatMulRows(type, buf.data(), n, 0, r1 - r0, act, act_stride, m, y + r0, y_stride, isa);
    }
    return;
  }
  // Fewer tokens (decode): the packed kernels, with VNNI on AVX-512 CPUs
  // (they beat the row-major AVX-512 ones at m = 1).
  if (isa == Isa::kAvx512) {
    if (cpu::MatMulFn fn = cpu::PackedMatMulAvx512(idx)) {
      fn(packed, n, row_begin, row_end, act, act_stride, m, y, y_stride);
      return;
    }
  }
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
