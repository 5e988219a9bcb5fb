// Register-tiled int8 matmuls for several tokens at once (MatMulRows with
// m > 1) on AVX-512 VNNI: Q8_0 and Q4_0 weights times Q8_0 activations, and
// Q4_K and Q6_K weights times Q8_K activations (second half of the file).
// Compiled with the AVX-512 flags of avx512.cc; only reached after the
// run-time CPU check in kernels/quant.cc.
//
// Layout. One ZMM lane holds one weight row, so a tile is 16 rows x T tokens
// (T <= 8). For each 32-element block the 16 rows are transposed into eight
// ZMM "k-groups" (lane r = bytes 4k..4k+3 of row r); VPDPBUSD then multiplies
// a k-group with one activation dword broadcast to all lanes ({1to16}), and
// after the eight k-groups lane r holds the full integer dot of the block for
// (row r, token t). Converting and scaling happens once per block per
// (tile, token): 8 dot instructions per 3 float ones.
//
// Unsigned weights. VPDPBUSD multiplies u8 x s8. Q4_0 quants are already
// unsigned (q in 0..15, value q - 8); Q8_0 quants are biased by +128. The
// bias is removed exactly in integer arithmetic: the accumulator starts at
// -bias * sum(activation quants of the block).
//
// Exactness. Per block the kernel computes the same integer sum as the scalar
// reference and then sum += sumi * (dx * dy) with separate multiply and add
// (no FMA), block after block, so results are bit-identical to the scalar
// reference (kernels/cpu/scalar.cc DotQ8_0 / DotQ4_0).
//
// Data flow per call: the activations of all tokens are repacked once (dword
// k of every token of a tile side by side, plus per-block scale and bias
// correction); then for each 16-row tile the weights are transposed into a
// per-thread buffer (reused by every token tile) and each token tile is run
// with its accumulators in registers.

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/cpu/blocks.h"
#include "kernels/cpu/kernel_table.h"

namespace triptych::kernels::cpu {
namespace {

constexpr int kTileRows = 16;  // one ZMM lane per row
constexpr int kTileTokens = 8;
// Tokens whose packed activations are kept at once: bounds the activation
// buffer (about 40 bytes per token per block, 450 KiB for 64 x 5632) so it
// stays in L2 while every row tile re-reads it.
constexpr int64_t kTokenChunk = 64;

// Packed weights of one 16-row tile, per 32-element block.
struct PackedBlock32 {
  __m512i w[8];        // k-group k: lane r = 4 unsigned quants of row r
  float d[kTileRows];  // row scales
};
static_assert(sizeof(PackedBlock32) == 576);

inline float HalfBitsToFloat(uint16_t h) { return _cvtsh_ss(h); }

// Transposes 16 rows x 16 bytes (row r at p + r * stride): out[j] lane r =
// bytes 4j..4j+3 of row r.
inline __attribute__((always_inline)) void Transpose16x16Bytes(const uint8_t* p,
                                                               int64_t stride,
                                                               __m512i out[4]) {
  auto load = [&](int r) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + r * stride));
  };
  __m512i v[4];
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) {
    // v[q] 128-bit lane L holds row 4L + q.
    __m512i x = _mm512_castsi128_si512(load(q));
    x = _mm512_inserti32x4(x, load(4 + q), 1);
    x = _mm512_inserti32x4(x, load(8 + q), 2);
    v[q] = _mm512_inserti32x4(x, load(12 + q), 3);
  }
  // 4x4 dword transpose inside each 128-bit lane.
  const __m512i t0 = _mm512_unpacklo_epi32(v[0], v[1]);
  const __m512i t1 = _mm512_unpackhi_epi32(v[0], v[1]);
  const __m512i t2 = _mm512_unpacklo_epi32(v[2], v[3]);
  const __m512i t3 = _mm512_unpackhi_epi32(v[2], v[3]);
  out[0] = _mm512_unpacklo_epi64(t0, t2);
  out[1] = _mm512_unpackhi_epi64(t0, t2);
  out[2] = _mm512_unpacklo_epi64(t1, t3);
  out[3] = _mm512_unpackhi_epi64(t1, t3);
}

// Weight formats: how to turn block b of 16 rows (row r of the tile at
// tile + r * row_bytes) into unsigned k-groups.
struct Q8_0Format {
  using Block = BlockQ8_0;
  static constexpr int kBias = 128;
  static void Pack(const uint8_t* blk, int64_t row_bytes, PackedBlock32& out) {
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    __m512i z[4];
#pragma GCC unroll 2
    for (int half = 0; half < 2; ++half) {
      Transpose16x16Bytes(blk + offsetof(Block, qs) + 16 * half, row_bytes, z);
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        _mm512_store_si512(&out.w[4 * half + j], _mm512_xor_si512(z[j], flip));
      }
    }
  }
};

struct Q4_0Format {
  using Block = BlockQ4_0;
  static constexpr int kBias = 8;
  static void Pack(const uint8_t* blk, int64_t row_bytes, PackedBlock32& out) {
    __m512i z[4];
    Transpose16x16Bytes(blk + offsetof(Block, qs), row_bytes, z);
    const __m512i mask = _mm512_set1_epi8(0xF);
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      // Byte i of a block holds element i (low nibble) and i + 16 (high).
      _mm512_store_si512(&out.w[j], _mm512_and_si512(z[j], mask));
      _mm512_store_si512(&out.w[4 + j],
                         _mm512_and_si512(_mm512_srli_epi16(z[j], 4), mask));
    }
  }
};

// Packs the 16 rows starting at `tile` (row_bytes apart).
template <typename F>
void PackWeightTile(const uint8_t* tile, int64_t row_bytes, int64_t nb,
                    PackedBlock32* out) {
  using Block = typename F::Block;
  alignas(32) uint16_t d[kTileRows];
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = tile + b * static_cast<int64_t>(sizeof(Block));
    F::Pack(blk, row_bytes, out[b]);
#pragma GCC unroll 16
    for (int r = 0; r < kTileRows; ++r) {
      std::memcpy(&d[r], blk + r * row_bytes + offsetof(Block, d), 2);
    }
    _mm512_store_ps(out[b].d, _mm512_cvtph_ps(_mm256_load_si256(
                                  reinterpret_cast<const __m256i*>(d))));
  }
}

// Packed activations of a tile of T tokens, per block: int32 q[8][T] (dword k
// of token t), float d[T], int32 corr[T] = -bias * sum of the block's quants.
constexpr int64_t ActBlockBytes(int t) { return 40 * t; }

void PackActTile(const uint8_t* act, int64_t act_stride, int tokens, int64_t nb,
                 int bias, uint8_t* out) {
  for (int64_t b = 0; b < nb; ++b) {
    int32_t* q = reinterpret_cast<int32_t*>(out + b * ActBlockBytes(tokens));
    float* d = reinterpret_cast<float*>(q + 8 * tokens);
    int32_t* corr = q + 9 * tokens;
    for (int t = 0; t < tokens; ++t) {
      const BlockQ8_0& blk =
          reinterpret_cast<const BlockQ8_0*>(act + t * act_stride)[b];
      int sum = 0;
      for (int k = 0; k < 8; ++k) {
        std::memcpy(&q[k * tokens + t], blk.qs + 4 * k, 4);
        for (int i = 0; i < 4; ++i) sum += blk.qs[4 * k + i];
      }
      d[t] = HalfBitsToFloat(blk.d);
      corr[t] = -bias * sum;
    }
  }
}

// A memory range to prefetch while a tile computes, spread over its blocks.
struct Prefetch {
  const uint8_t* p = nullptr;
  int64_t bytes = 0;
  int64_t lines_per_block = 0;
};

inline void PrefetchBlock(const Prefetch& pf, int64_t b) {
  for (int64_t i = 0; i < pf.lines_per_block; ++i) {
    const int64_t off = (b * pf.lines_per_block + i) * 64;
    if (off < pf.bytes) {
      _mm_prefetch(reinterpret_cast<const char*>(pf.p + off), _MM_HINT_T0);
    }
  }
}

// One 16-row x T-token tile over all blocks; writes the valid rows (mask).
template <int T>
void RunTile(const PackedBlock32* w, const uint8_t* act, int64_t nb, float* y,
             int64_t y_stride, __mmask16 rows_mask, Prefetch pf) {
  // With few tokens the 8 dependent VPDPBUSDs per block would be latency
  // bound; split even and odd k-groups into two chains then.
  constexpr bool kSplit = T < 4;
  __m512 accf[T];
  for (int t = 0; t < T; ++t) accf[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const int32_t* aq =
        reinterpret_cast<const int32_t*>(act + b * ActBlockBytes(T));
    const float* ad = reinterpret_cast<const float*>(aq + 8 * T);
    const int32_t* ac = aq + 9 * T;
    PrefetchBlock(pf, b);
    __m512i acc[T], acc2[T];
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      acc[t] = _mm512_set1_epi32(ac[t]);
      if (kSplit) acc2[t] = _mm512_setzero_si512();
    }
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) {
      const __m512i wk = _mm512_loadu_si512(&w[b].w[k]);
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        const __m512i a = _mm512_set1_epi32(aq[k * T + t]);
        if (kSplit && (k & 1)) {
          acc2[t] = _mm512_dpbusd_epi32(acc2[t], wk, a);
        } else {
          acc[t] = _mm512_dpbusd_epi32(acc[t], wk, a);
        }
      }
    }
    const __m512 dx = _mm512_loadu_ps(w[b].d);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const __m512i sumi = kSplit ? _mm512_add_epi32(acc[t], acc2[t]) : acc[t];
      const __m512 scale = _mm512_mul_ps(dx, _mm512_set1_ps(ad[t]));
      accf[t] = _mm512_add_ps(accf[t],
                              _mm512_mul_ps(_mm512_cvtepi32_ps(sumi), scale));
    }
  }
  for (int t = 0; t < T; ++t) {
    _mm512_mask_storeu_ps(y + t * y_stride, rows_mask, accf[t]);
  }
}

// The Q8_0 / Q4_0 kernel family in the shape MatMulTiled expects.
template <typename F>
struct Blocks32Kernel {
  using Packed = PackedBlock32;
  static constexpr int64_t kBlockElems = kQK;
  static constexpr int64_t kBlockBytes = sizeof(typename F::Block);
  static constexpr int64_t ActBlockBytes(int t) { return 40 * t; }
  static void PackAct(const uint8_t* act, int64_t act_stride, int tokens,
                      int64_t nb, uint8_t* out) {
    PackActTile(act, act_stride, tokens, nb, F::kBias, out);
  }
  static void PackWeights(const uint8_t* tile, int64_t row_bytes, int64_t nb,
                          Packed* out) {
    PackWeightTile<F>(tile, row_bytes, nb, out);
  }
  template <int T>
  static void Run(const Packed* w, const uint8_t* act, int64_t nb, float* y,
                  int64_t y_stride, __mmask16 rows_mask, Prefetch pf) {
    RunTile<T>(w, act, nb, y, y_stride, rows_mask, pf);
  }
};

// ---------------------------------------------------------------------------
// K-quants (Q4_K, Q6_K) with Q8_K activations, same lane-per-row tiling over
// 256-element super-blocks: 64 k-groups of unsigned quants, then per
// sub-block the integer dot is multiplied by the row's sub-block scale
// (VPMULLD). The min / offset terms use the activation block sums and
// VPDPWSSD on int16 pairs. Integer sums and the float epilogue follow the
// scalar reference exactly (DotQ4K / DotQ6K), so results are bit-identical.

struct PackedBlockK {
  __m512i w[64];   // k-group k: lane r = quants 4k..4k+3 of row r (unsigned)
  __m512i sc[16];  // int32 sub-block scales (Q4_K: 8 of 32, Q6_K: 16 of 16)
  // int16 pairs for VPDPWSSD with activation block-sum pairs: Q4_K the mins
  // (m[2i], m[2i+1]), i < 4; Q6_K the scales (sc[2i], sc[2i+1]), i < 8.
  __m512i pairs[8];
  float d[kTileRows];
  float dmin[kTileRows];  // Q4_K only
};

// Packed Q8_K activations of T tokens, per super-block: int32 q[64][T],
// float d[T], int32 pairs[8][T] (int16 pairs of block sums: Q4_K sums over
// the 8 sub-blocks of 32, Q6_K the 16 raw bsums).
constexpr int64_t ActBlockBytesK(int t) { return (64 + 1 + 8) * 4 * t; }

template <bool kSums32>
void PackActK(const uint8_t* act, int64_t act_stride, int tokens, int64_t nb,
              uint8_t* out) {
  for (int64_t b = 0; b < nb; ++b) {
    int32_t* q = reinterpret_cast<int32_t*>(out + b * ActBlockBytesK(tokens));
    float* d = reinterpret_cast<float*>(q + 64 * tokens);
    int32_t* pairs = q + 65 * tokens;
    for (int t = 0; t < tokens; ++t) {
      const BlockQ8K& blk =
          reinterpret_cast<const BlockQ8K*>(act + t * act_stride)[b];
      for (int k = 0; k < 64; ++k) {
        std::memcpy(&q[k * tokens + t], blk.qs + 4 * k, 4);
      }
      d[t] = blk.d;
      for (int i = 0; i < 8; ++i) {
        uint32_t v = 0;
        if (kSums32) {
          if (i < 4) {
            const uint16_t lo =
                static_cast<uint16_t>(blk.bsums[4 * i] + blk.bsums[4 * i + 1]);
            const uint16_t hi = static_cast<uint16_t>(blk.bsums[4 * i + 2] +
                                                      blk.bsums[4 * i + 3]);
            v = lo | (uint32_t{hi} << 16);
          }
        } else {
          std::memcpy(&v, &blk.bsums[2 * i], 4);
        }
        pairs[i * tokens + t] = static_cast<int32_t>(v);
      }
    }
  }
}

// 16 halves at `p` + r * stride to floats.
inline __m512 GatherHalves(const uint8_t* p, int64_t stride) {
  alignas(32) uint16_t h[kTileRows];
#pragma GCC unroll 16
  for (int r = 0; r < kTileRows; ++r) std::memcpy(&h[r], p + r * stride, 2);
  return _mm512_cvtph_ps(
      _mm256_load_si256(reinterpret_cast<const __m256i*>(h)));
}

// Byte `i` (0..3) of each dword, zero-extended.
inline __m512i ByteU(__m512i x, int i) {
  return _mm512_and_si512(_mm512_srli_epi32(x, 8 * i), _mm512_set1_epi32(0xFF));
}

struct Q4KKernel {
  using Packed = PackedBlockK;
  static constexpr int64_t kBlockElems = kQKK;
  static constexpr int64_t kBlockBytes = sizeof(BlockQ4K);
  static constexpr int64_t ActBlockBytes(int t) { return ActBlockBytesK(t); }
  static void PackAct(const uint8_t* act, int64_t act_stride, int tokens,
                      int64_t nb, uint8_t* out) {
    PackActK<true>(act, act_stride, tokens, nb, out);
  }

  static void PackWeights(const uint8_t* tile, int64_t row_bytes, int64_t nb,
                          Packed* out) {
    const __m512i mask4 = _mm512_set1_epi8(0xF);
    alignas(64) uint8_t unpacked[kTileRows][16];
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = tile + b * kBlockBytes;
      Packed& o = out[b];
      __m512i z[4];
#pragma GCC unroll 8
      for (int piece = 0; piece < 8; ++piece) {
        // Bytes 16 piece .. +15 of qs: group g = piece / 2 holds sub-block
        // 2g (low nibbles) and 2g + 1 (high) of elements l = 16 (piece % 2)..
        Transpose16x16Bytes(blk + offsetof(BlockQ4K, qs) + 16 * piece,
                            row_bytes, z);
        const int k0 = 16 * (piece / 2) + 4 * (piece % 2);
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) {
          _mm512_store_si512(&o.w[k0 + j], _mm512_and_si512(z[j], mask4));
          _mm512_store_si512(
              &o.w[k0 + 8 + j],
              _mm512_and_si512(_mm512_srli_epi16(z[j], 4), mask4));
        }
      }
      // The 6-bit scales and mins: unpacked per row to sc[0..7], m[0..7],
      // then transposed so that lane r holds row r's.
      for (int r = 0; r < kTileRows; ++r) {
        uint32_t u[3];
        std::memcpy(u, blk + r * row_bytes + offsetof(BlockQ4K, scales), 12);
        const uint32_t k6 = 0x3F3F3F3F, k4 = 0x0F0F0F0F, k2 = 0x03030303;
        const uint32_t v[4] = {
            u[0] & k6, (u[2] & k4) | (((u[0] >> 6) & k2) << 4), u[1] & k6,
            ((u[2] >> 4) & k4) | (((u[1] >> 6) & k2) << 4)};
        std::memcpy(unpacked[r], v, 16);
      }
      Transpose16x16Bytes(unpacked[0], 16, z);  // z: sc0-3, sc4-7, m0-3, m4-7
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) o.sc[j] = ByteU(z[j / 4], j % 4);
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) {
        const __m512i x = z[2 + i / 2];
        const int lo = 2 * (i % 2);
        o.pairs[i] = _mm512_or_si512(ByteU(x, lo),
                                     _mm512_slli_epi32(ByteU(x, lo + 1), 16));
      }
      _mm512_store_ps(o.d,
                      GatherHalves(blk + offsetof(BlockQ4K, d), row_bytes));
      _mm512_store_ps(o.dmin,
                      GatherHalves(blk + offsetof(BlockQ4K, dmin), row_bytes));
    }
  }

  template <int T>
  static void Run(const Packed* w, const uint8_t* act, int64_t nb, float* y,
                  int64_t y_stride, __mmask16 rows_mask, Prefetch pf) {
    __m512 accf[T];
    for (int t = 0; t < T; ++t) accf[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      PrefetchBlock(pf, b);
      const int32_t* aq =
          reinterpret_cast<const int32_t*>(act + b * ActBlockBytesK(T));
      const float* ad = reinterpret_cast<const float*>(aq + 64 * T);
      const int32_t* ap = aq + 65 * T;
      const Packed& x = w[b];
      __m512i sumi[T];
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) sumi[t] = _mm512_setzero_si512();
      for (int j = 0; j < 8; ++j) {
        __m512i acc[T];
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int kk = 0; kk < 8; ++kk) {
          const __m512i wk = _mm512_load_si512(&x.w[8 * j + kk]);
#pragma GCC unroll 8
          for (int t = 0; t < T; ++t) {
            acc[t] = _mm512_dpbusd_epi32(
                acc[t], wk, _mm512_set1_epi32(aq[(8 * j + kk) * T + t]));
          }
        }
        const __m512i sc = _mm512_load_si512(&x.sc[j]);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
          sumi[t] = _mm512_add_epi32(sumi[t], _mm512_mullo_epi32(acc[t], sc));
        }
      }
      const __m512 dx = _mm512_load_ps(x.d);
      const __m512 dmx = _mm512_load_ps(x.dmin);
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        __m512i summ = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) {
          summ = _mm512_dpwssd_epi32(summ, _mm512_load_si512(&x.pairs[i]),
                                     _mm512_set1_epi32(ap[i * T + t]));
        }
        const __m512 dy = _mm512_set1_ps(ad[t]);
        const __m512 d = _mm512_mul_ps(dy, dx);
        const __m512 dmin = _mm512_mul_ps(dy, dmx);
        accf[t] = _mm512_add_ps(
            accf[t],
            _mm512_sub_ps(_mm512_mul_ps(d, _mm512_cvtepi32_ps(sumi[t])),
                          _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(summ))));
      }
    }
    for (int t = 0; t < T; ++t) {
      _mm512_mask_storeu_ps(y + t * y_stride, rows_mask, accf[t]);
    }
  }
};

struct Q6KKernel {
  using Packed = PackedBlockK;
  static constexpr int64_t kBlockElems = kQKK;
  static constexpr int64_t kBlockBytes = sizeof(BlockQ6K);
  static constexpr int64_t ActBlockBytes(int t) { return ActBlockBytesK(t); }
  static void PackAct(const uint8_t* act, int64_t act_stride, int tokens,
                      int64_t nb, uint8_t* out) {
    PackActK<false>(act, act_stride, tokens, nb, out);
  }

  static void PackWeights(const uint8_t* tile, int64_t row_bytes, int64_t nb,
                          Packed* out) {
    const __m512i mask4 = _mm512_set1_epi8(0xF);
    const __m512i mask_hi = _mm512_set1_epi8(0x30);
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = tile + b * kBlockBytes;
      Packed& o = out[b];
      // Element 128 h + 32 q + l: low 4 bits from ql[64 h + l] (q = 0, 2) or
      // ql[64 h + 32 + l] (q = 1, 3), low or high nibble; 2 high bits from
      // qh[32 h + l] >> 2q. Groups of 16 l at a time.
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
#pragma GCC unroll 2
        for (int pp = 0; pp < 2; ++pp) {
          __m512i l0[4], l1[4], hb[4];
          const uint8_t* ql = blk + offsetof(BlockQ6K, ql) + 64 * h + 16 * pp;
          Transpose16x16Bytes(ql, row_bytes, l0);
          Transpose16x16Bytes(ql + 32, row_bytes, l1);
          Transpose16x16Bytes(blk + offsetof(BlockQ6K, qh) + 32 * h + 16 * pp,
                              row_bytes, hb);
#pragma GCC unroll 4
          for (int j = 0; j < 4; ++j) {
            const int k = 32 * h + 4 * pp + j;  // quarter 0; +8 per quarter
            _mm512_store_si512(
                &o.w[k],
                _mm512_or_si512(
                    _mm512_and_si512(l0[j], mask4),
                    _mm512_and_si512(_mm512_slli_epi16(hb[j], 4), mask_hi)));
            _mm512_store_si512(
                &o.w[k + 8],
                _mm512_or_si512(
                    _mm512_and_si512(l1[j], mask4),
                    _mm512_and_si512(_mm512_slli_epi16(hb[j], 2), mask_hi)));
            _mm512_store_si512(
                &o.w[k + 16],
                _mm512_or_si512(
                    _mm512_and_si512(_mm512_srli_epi16(l0[j], 4), mask4),
                    _mm512_and_si512(hb[j], mask_hi)));
            _mm512_store_si512(
                &o.w[k + 24],
                _mm512_or_si512(
                    _mm512_and_si512(_mm512_srli_epi16(l1[j], 4), mask4),
                    _mm512_and_si512(_mm512_srli_epi16(hb[j], 2), mask_hi)));
          }
        }
      }
      __m512i z[4];  // lane r: scales 4i..4i+3 of row r (int8)
      Transpose16x16Bytes(blk + offsetof(BlockQ6K, scales), row_bytes, z);
#pragma GCC unroll 16
      for (int j = 0; j < 16; ++j) {
        o.sc[j] = _mm512_srai_epi32(
            _mm512_slli_epi32(z[j / 4], 24 - 8 * (j % 4)), 24);
      }
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) {
        const __m512i x = z[i / 2];
        // int16 slots: lo = bytes 0 and 2, hi = bytes 1 and 3, sign-extended.
        const __m512i lo = _mm512_srai_epi16(_mm512_slli_epi16(x, 8), 8);
        const __m512i hi = _mm512_srai_epi16(x, 8);
        o.pairs[i] =
            i % 2 == 0
                ? _mm512_or_si512(
                      _mm512_and_si512(lo, _mm512_set1_epi32(0xFFFF)),
                      _mm512_slli_epi32(hi, 16))
                : _mm512_or_si512(
                      _mm512_srli_epi32(lo, 16),
                      _mm512_and_si512(hi, _mm512_set1_epi32(
                                               static_cast<int>(0xFFFF0000u))));
      }
      _mm512_store_ps(o.d,
                      GatherHalves(blk + offsetof(BlockQ6K, d), row_bytes));
    }
  }

  template <int T>
  static void Run(const Packed* w, const uint8_t* act, int64_t nb, float* y,
                  int64_t y_stride, __mmask16 rows_mask, Prefetch pf) {
    __m512 accf[T];
    for (int t = 0; t < T; ++t) accf[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      PrefetchBlock(pf, b);
      const int32_t* aq =
          reinterpret_cast<const int32_t*>(act + b * ActBlockBytesK(T));
      const float* ad = reinterpret_cast<const float*>(aq + 64 * T);
      const int32_t* ap = aq + 65 * T;
      const Packed& x = w[b];
      __m512i sumi[T];
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        // The -32 offset: 32 * sum_j sc[j] * bsums[j].
        __m512i s2 = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int i = 0; i < 8; ++i) {
          s2 = _mm512_dpwssd_epi32(s2, _mm512_load_si512(&x.pairs[i]),
                                   _mm512_set1_epi32(ap[i * T + t]));
        }
        sumi[t] =
            _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(s2, 5));
      }
      for (int j = 0; j < 16; ++j) {
        __m512i acc[T];
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int kk = 0; kk < 4; ++kk) {
          const __m512i wk = _mm512_load_si512(&x.w[4 * j + kk]);
#pragma GCC unroll 8
          for (int t = 0; t < T; ++t) {
            acc[t] = _mm512_dpbusd_epi32(
                acc[t], wk, _mm512_set1_epi32(aq[(4 * j + kk) * T + t]));
          }
        }
        const __m512i sc = _mm512_load_si512(&x.sc[j]);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
          sumi[t] = _mm512_add_epi32(sumi[t], _mm512_mullo_epi32(acc[t], sc));
        }
      }
      const __m512 dx = _mm512_load_ps(x.d);
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        const __m512 d = _mm512_mul_ps(_mm512_set1_ps(ad[t]), dx);
        accf[t] = _mm512_add_ps(accf[t],
                                _mm512_mul_ps(d, _mm512_cvtepi32_ps(sumi[t])));
      }
    }
    for (int t = 0; t < T; ++t) {
      _mm512_mask_storeu_ps(y + t * y_stride, rows_mask, accf[t]);
    }
  }
};

// The driver shared by the kernel families K (Blocks32Kernel, Q4KKernel,
// Q6KKernel): packs activations per token chunk, then per 16-row tile packs
// the weights once and runs every token tile on them.
template <typename K>
void MatMulTiled(const void* w, int64_t n, int64_t row_begin, int64_t row_end,
                 const void* act, int64_t act_stride, int64_t m, float* y,
                 int64_t y_stride) {
  using Packed = typename K::Packed;
  using RunFn = void (*)(const Packed*, const uint8_t*, int64_t, float*,
                         int64_t, __mmask16, Prefetch);
  static constexpr RunFn kRun[kTileTokens + 1] = {nullptr,
                                                  K::template Run<1>,
                                                  K::template Run<2>,
                                                  K::template Run<3>,
                                                  K::template Run<4>,
                                                  K::template Run<5>,
                                                  K::template Run<6>,
                                                  K::template Run<7>,
                                                  K::template Run<8>};
  const int64_t nb = n / K::kBlockElems;
  const int64_t row_bytes = nb * K::kBlockBytes;
  const uint8_t* wb = static_cast<const uint8_t*>(w);
  const uint8_t* ab = static_cast<const uint8_t*>(act);
  // Per-thread scratch: callers run MatMulRows on many threads at once.
  thread_local std::vector<Packed> wpack;
  thread_local std::vector<uint8_t> apack;
  thread_local std::vector<uint8_t> edge;
  if (static_cast<int64_t>(wpack.size()) < nb) wpack.resize(nb);
  const int64_t chunk = m < kTokenChunk ? m : kTokenChunk;
  const int64_t tile_bytes = nb * K::ActBlockBytes(kTileTokens);
  const int64_t tiles_per_chunk = (chunk + kTileTokens - 1) / kTileTokens;
  if (static_cast<int64_t>(apack.size()) < tiles_per_chunk * tile_bytes) {
    apack.resize(tiles_per_chunk * tile_bytes);
  }
  for (int64_t c0 = 0; c0 < m; c0 += kTokenChunk) {
    const int64_t c_end = c0 + kTokenChunk < m ? c0 + kTokenChunk : m;
    for (int64_t t0 = c0; t0 < c_end; t0 += kTileTokens) {
      const int tokens =
          static_cast<int>(c_end - t0 < kTileTokens ? c_end - t0 : kTileTokens);
      K::PackAct(ab + t0 * act_stride, act_stride, tokens, nb,
                 apack.data() + (t0 - c0) / kTileTokens * tile_bytes);
    }
    for (int64_t r0 = row_begin; r0 < row_end; r0 += kTileRows) {
      const int64_t rows = row_end - r0 < kTileRows ? row_end - r0 : kTileRows;
      const uint8_t* tile = wb + r0 * row_bytes;
      if (rows < kTileRows) {
        // Edge tile: a zero-padded copy; the padding lanes are not stored.
        edge.assign(kTileRows * row_bytes, 0);
        std::memcpy(edge.data(), tile, rows * row_bytes);
        tile = edge.data();
      }
      K::PackWeights(tile, row_bytes, nb, wpack.data());
      // The next tile's weights are fetched while this one computes: 16
      // strided row streams defeat the hardware prefetcher.
      Prefetch pf;
      pf.p = wb + (r0 + rows) * row_bytes;
      pf.bytes =
          (row_end - r0 - rows < kTileRows ? row_end - r0 - rows : kTileRows) *
          row_bytes;
      pf.lines_per_block = (pf.bytes / 64 + nb) / nb;
      const __mmask16 mask = static_cast<__mmask16>((1u << rows) - 1);
      for (int64_t t0 = c0; t0 < c_end; t0 += kTileTokens) {
        const int tokens = static_cast<int>(
            c_end - t0 < kTileTokens ? c_end - t0 : kTileTokens);
        kRun[tokens](wpack.data(),
                     apack.data() + (t0 - c0) / kTileTokens * tile_bytes, nb,
                     y + t0 * y_stride + r0, y_stride, mask, pf);
        pf = Prefetch();
      }
    }
  }
}

}  // namespace

void FillAvx512TiledKernels(KernelTable& t) {
  t.mat_mul_multi[kIdxQ8_0] = MatMulTiled<Blocks32Kernel<Q8_0Format>>;
  t.mat_mul_multi[kIdxQ4_0] = MatMulTiled<Blocks32Kernel<Q4_0Format>>;
  t.mat_mul_multi[kIdxQ4K] = MatMulTiled<Q4KKernel>;
  t.mat_mul_multi[kIdxQ6K] = MatMulTiled<Q6KKernel>;
}

}  // namespace triptych::kernels::cpu
