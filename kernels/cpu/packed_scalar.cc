// Packing, unpacking and the scalar reference matmul of the row-interleaved
// layout (packed_layout.h). Baseline x86-64; no ISA flags.

#include <cstring>
#include <vector>

#include "kernels/cpu/blocks.h"
#include "kernels/cpu/packed_layout.h"

namespace triptych::kernels::cpu {
namespace {

// Copies the 4-byte runs of `nrun` runs per row between a row block and a
// group block's quants: group[32 k + 4 r + i] <-> row[4 k + i].
void RunsToGroup(const uint8_t* row, int r, int nrun, uint8_t* group) {
  for (int k = 0; k < nrun; ++k) std::memcpy(group + 32 * k + 4 * r, row + 4 * k, 4);
}
void RunsToRow(const uint8_t* group, int r, int nrun, uint8_t* row) {
  for (int k = 0; k < nrun; ++k) std::memcpy(row + 4 * k, group + 32 * k + 4 * r, 4);
}

// Re-encodes 8 six-bit scales and mins into the 12-byte Q4_K form that
// GetScaleMinK4 reads.
void EncodeScalesK4(const uint8_t* sc, const uint8_t* m, uint8_t* q) {
  for (int j = 0; j < 4; ++j) {
    q[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    q[j + 4] = static_cast<uint8_t>(m[j] | ((m[j + 4] >> 4) << 6));
    q[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
  }
}

void PackBlock(int type_idx, const void* const* rows, int nrows, int64_t b,
               void* dst) {
  switch (type_idx) {
    case kIdxQ4_0: {
      auto* g = static_cast<GroupQ4_0*>(dst);
      std::memset(g, 0, sizeof(*g));
      for (int r = 0; r < nrows; ++r) {
        const BlockQ4_0& x = static_cast<const BlockQ4_0*>(rows[r])[b];
        g->d[r] = x.d;
        RunsToGroup(x.qs, r, 4, g->qs);
      }
      // Zero padding rows: quants 8 (value 0) and scale 0.
      for (int r = nrows; r < kGroupRows; ++r) {
        for (int k = 0; k < 4; ++k) std::memset(g->qs + 32 * k + 4 * r, 0x88, 4);
      }
      break;
    }
    case kIdxQ8_0: {
      auto* g = static_cast<GroupQ8_0*>(dst);
      std::memset(g, 0, sizeof(*g));
      for (int r = 0; r < nrows; ++r) {
        const BlockQ8_0& x = static_cast<const BlockQ8_0*>(rows[r])[b];
        g->d[r] = x.d;
        RunsToGroup(reinterpret_cast<const uint8_t*>(x.qs), r, 8,
                    reinterpret_cast<uint8_t*>(g->qs));
      }
      break;
    }
    case kIdxQ4K: {
      auto* g = static_cast<GroupQ4K*>(dst);
      std::memset(g, 0, sizeof(*g));
      for (int r = 0; r < nrows; ++r) {
        const BlockQ4K& x = static_cast<const BlockQ4K*>(rows[r])[b];
        g->d[r] = x.d;
        g->dmin[r] = x.dmin;
        for (int j = 0; j < 8; ++j) {
          uint8_t sc, m;
          GetScaleMinK4(j, x.scales, &sc, &m);
          g->sc[j][r] = sc;
          g->m[j / 2][r][j % 2] = m;
        }
        for (int q = 0; q < 4; ++q) RunsToGroup(x.qs + 32 * q, r, 8, g->qs[q]);
      }
      break;
    }
    default:
      break;
  }
}

}  // namespace

int64_t GroupBlockBytes(int type_idx) {
  switch (type_idx) {
    case kIdxQ4_0:
      return sizeof(GroupQ4_0);
    case kIdxQ8_0:
      return sizeof(GroupQ8_0);
    case kIdxQ4K:
      return sizeof(GroupQ4K);
    default:
      return 0;
  }
}

int64_t GroupBlockElems(int type_idx) { return type_idx == kIdxQ4K ? kQKK : kQK; }

void PackGroupRows(int type_idx, const void* w, int64_t rows, int64_t n,
                   void* dst) {
  const int64_t nb = n / GroupBlockElems(type_idx);
  const int64_t gbytes = GroupBlockBytes(type_idx);
  const int64_t row_bytes =
      nb * (type_idx == kIdxQ4_0   ? sizeof(BlockQ4_0)
            : type_idx == kIdxQ8_0 ? sizeof(BlockQ8_0)
                                   : sizeof(BlockQ4K));
  const auto* src = static_cast<const uint8_t*>(w);
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t r0 = 0; r0 < rows; r0 += kGroupRows) {
    const int nrows = static_cast<int>(rows - r0 < kGroupRows ? rows - r0 : kGroupRows);
    const void* row_ptrs[kGroupRows];
    for (int r = 0; r < nrows; ++r) row_ptrs[r] = src + (r0 + r) * row_bytes;
    for (int64_t b = 0; b < nb; ++b, out += gbytes) {
      PackBlock(type_idx, row_ptrs, nrows, b, out);
    }
  }
}

void UnpackGroupRow(int type_idx, const void* packed, int64_t n, int64_t row,
                    void* dst) {
  const int64_t nb = n / GroupBlockElems(type_idx);
  const int64_t gbytes = GroupBlockBytes(type_idx);
  const auto* group =
      static_cast<const uint8_t*>(packed) + (row / kGroupRows) * nb * gbytes;
  const int r = static_cast<int>(row % kGroupRows);
  for (int64_t b = 0; b < nb; ++b, group += gbytes) {
    switch (type_idx) {
      case kIdxQ4_0: {
        const auto* g = reinterpret_cast<const GroupQ4_0*>(group);
        BlockQ4_0& x = static_cast<BlockQ4_0*>(dst)[b];
        x.d = g->d[r];
        RunsToRow(g->qs, r, 4, x.qs);
        break;
      }
      case kIdxQ8_0: {
        const auto* g = reinterpret_cast<const GroupQ8_0*>(group);
        BlockQ8_0& x = static_cast<BlockQ8_0*>(dst)[b];
        x.d = g->d[r];
        RunsToRow(reinterpret_cast<const uint8_t*>(g->qs), r, 8,
                  reinterpret_cast<uint8_t*>(x.qs));
        break;
      }
      case kIdxQ4K: {
        const auto* g = reinterpret_cast<const GroupQ4K*>(group);
        BlockQ4K& x = static_cast<BlockQ4K*>(dst)[b];
        x.d = g->d[r];
        x.dmin = g->dmin[r];
        uint8_t sc[8], m[8];
        for (int j = 0; j < 8; ++j) {
          sc[j] = g->sc[j][r];
          m[j] = g->m[j / 2][r][j % 2];
        }
        EncodeScalesK4(sc, m, x.scales);
        for (int q = 0; q < 4; ++q) RunsToRow(g->qs[q], r, 8, x.qs + 32 * q);
        break;
      }
      default:
        break;
    }
  }
}

void PackedMatMulScalar(int type_idx, const void* packed, int64_t n,
                        int64_t row_begin, int64_t row_end, const void* act,
                        int64_t act_stride, int64_t m, float* y,
                        int64_t y_stride) {
  const int64_t nb = n / GroupBlockElems(type_idx);
  const int64_t block_bytes = type_idx == kIdxQ4_0   ? sizeof(BlockQ4_0)
                              : type_idx == kIdxQ8_0 ? sizeof(BlockQ8_0)
                                                     : sizeof(BlockQ4K);
  std::vector<uint8_t> row(nb * block_bytes);
  const VecDotFn dot = ScalarKernels().vec_dot[type_idx];
  const auto* ab = static_cast<const uint8_t*>(act);
  for (int64_t r = row_begin; r < row_end; ++r) {
    UnpackGroupRow(type_idx, packed, n, r, row.data());
    for (int64_t t = 0; t < m; ++t) {
      y[t * y_stride + r] = dot(n, row.data(), ab + t * act_stride);
    }
  }
}

}  // namespace triptych::kernels::cpu
