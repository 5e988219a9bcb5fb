// AVX2 matmuls on the row-interleaved layout (packed_layout.h). Compiled with
// -mavx2 -mfma -mf16c and only called after a run-time CPU check.
//
// One 256-bit load of a group block holds 4 quants of each of the 8 rows; it
// is multiplied (VPMADDUBSW, unsigned weight nibble x signed activation)
// against the matching 4 activation quants broadcast to every row, so each
// 32-bit lane collects one row. 4-bit quants are unsigned in the layout: the
// Q4_0 offset of 8 is applied once per block as 8 * sum(activation block),
// shared by all rows, and Q4_K has no offset. Products of up to 8 runs are
// summed in 16 bits (|sum| <= 8 * 2 * 15 * 127 = 30480 for activations in
// [-127, 127], which QuantizeRow guarantees), then widened once per block.
//
// Bit-exact with the scalar reference: the integer block sums are exact and
// the float work per row is the reference's, in its order (scale products,
// one multiply and one add per block, no fused multiply-add).

#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/cpu/blocks.h"
#include "kernels/cpu/packed_layout.h"

namespace triptych::kernels::cpu {
namespace {

// Tokens per pass over the row groups; a group (a few KiB) stays in L1 while
// the chunk's tokens use it, 4 at a time.
constexpr int64_t kTokenChunk = 16;

inline __m256i Load256(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

// 4 activation bytes broadcast to every 32-bit lane.
inline __m256i Broadcast4(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

inline __m256 HalvesToFloat(const uint16_t* h) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h)));
}

inline float HalfToFloat(uint16_t h) { return _cvtsh_ss(h); }

// Writes lanes [0, rows) of v to y.
inline void StoreRows(float* y, __m256 v, int64_t rows) {
  if (rows >= kGroupRows) {
    _mm256_storeu_ps(y, v);
    return;
  }
  alignas(32) float tmp[kGroupRows];
  _mm256_store_ps(tmp, v);
  for (int64_t r = 0; r < rows; ++r) y[r] = tmp[r];
}

// Per-call activation side data, reused across calls on a thread.
std::vector<int32_t>& ActScratch() {
  static thread_local std::vector<int32_t> v;
  return v;
}

// ---------------------------------------------------------------------------
// Q4_0 x Q8_0.

template <int T>
inline __attribute__((always_inline)) void GroupQ4_0Tokens(
    const GroupQ4_0* g, int64_t nb, const BlockQ8_0* const* a,
    const int32_t* const* sum8, __m256 (&acc)[T]) {
  const __m256i mask4 = _mm256_set1_epi8(0xF);
  const __m256i ones = _mm256_set1_epi16(1);
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m256i s16[T];
    for (int t = 0; t < T; ++t) s16[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) {
      const __m256i raw = Load256(g[b].qs + 32 * k);
      const __m256i lo = _mm256_and_si256(raw, mask4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask4);
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t) {
        const __m256i p0 = _mm256_maddubs_epi16(lo, Broadcast4(a[t][b].qs + 4 * k));
        const __m256i p1 = _mm256_maddubs_epi16(hi, Broadcast4(a[t][b].qs + 16 + 4 * k));
        s16[t] = _mm256_add_epi16(s16[t], _mm256_add_epi16(p0, p1));
      }
    }
    const __m256 dw = HalvesToFloat(g[b].d);
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) {
      const __m256i isum = _mm256_sub_epi32(_mm256_madd_epi16(s16[t], ones),
                                            _mm256_set1_epi32(sum8[t][b]));
      const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(HalfToFloat(a[t][b].d)));
      acc[t] = _mm256_add_ps(acc[t], _mm256_mul_ps(_mm256_cvtepi32_ps(isum), scale));
    }
  }
}

// 8 * (sum of the 32 quants) of each Q8_0 block of one activation row.
void Sum8Q8_0(const BlockQ8_0* a, int64_t nb, int32_t* out) {
  const __m256i ones8 = _mm256_set1_epi8(1);
  const __m256i ones16 = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, Load256(a[b].qs)), ones16);
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(1, 0, 3, 2)));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(2, 3, 0, 1)));
    out[b] = 8 * _mm_cvtsi128_si32(h);
  }
}

// ---------------------------------------------------------------------------
// Q4_K x Q8_K.

// Sub-block scales of 8 rows widened to 16-bit pairs (lanes 2r, 2r + 1).
inline __m256i ScalePairs(const uint8_t* sc) {
  const __m256i x = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sc)));
  return _mm256_or_si256(x, _mm256_slli_epi32(x, 16));
}

// For each Q8_K block of one activation row, 4 int32 each holding two 16-bit
// sums of 32 quants: sub-blocks (2p, 2p + 1) for p = 0..3.
void BsumPairsQ8K(const BlockQ8K* a, int64_t nb, int32_t* out) {
  const __m256i ones16 = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i s = _mm256_madd_epi16(Load256(a[b].bsums), ones16);  // 8 x int32
    const __m256i p = _mm256_packs_epi32(s, s);
    alignas(32) int32_t tmp[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), p);
    out[4 * b + 0] = tmp[0];
    out[4 * b + 1] = tmp[1];
    out[4 * b + 2] = tmp[4];
    out[4 * b + 3] = tmp[5];
  }
}

template <int T>
inline __attribute__((always_inline)) void GroupQ4KTokens(
    const GroupQ4K* g, int64_t nb, const BlockQ8K* const* a,
    const int32_t* const* pairs, __m256 (&acc)[T]) {
  const __m256i mask4 = _mm256_set1_epi8(0xF);
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m256i sumi[T];
    for (int t = 0; t < T; ++t) sumi[t] = _mm256_setzero_si256();
    for (int q = 0; q < 4; ++q) {
      __m256i slo[T], shi[T];
      for (int t = 0; t < T; ++t) slo[t] = shi[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
      for (int k = 0; k < 8; ++k) {
        const __m256i raw = Load256(g[b].qs[q] + 32 * k);
        const __m256i lo = _mm256_and_si256(raw, mask4);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask4);
#pragma GCC unroll 4
        for (int t = 0; t < T; ++t) {
          const int8_t* aq = a[t][b].qs + 64 * q + 4 * k;
          slo[t] = _mm256_add_epi16(slo[t], _mm256_maddubs_epi16(lo, Broadcast4(aq)));
          shi[t] = _mm256_add_epi16(shi[t], _mm256_maddubs_epi16(hi, Broadcast4(aq + 32)));
        }
      }
      const __m256i sc_lo = ScalePairs(g[b].sc[2 * q]);
      const __m256i sc_hi = ScalePairs(g[b].sc[2 * q + 1]);
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t) {
        sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(_mm256_madd_epi16(slo[t], sc_lo),
                                                             _mm256_madd_epi16(shi[t], sc_hi)));
      }
    }
    const __m256 dw = HalvesToFloat(g[b].d);
    const __m256 dmw = HalvesToFloat(g[b].dmin);
    __m256i mins[4];
    for (int p = 0; p < 4; ++p) {
      mins[p] = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g[b].m[p])));
    }
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) {
      const int32_t* pr = pairs[t] + 4 * b;
      __m256i summ = _mm256_madd_epi16(mins[0], _mm256_set1_epi32(pr[0]));
      summ = _mm256_add_epi32(summ, _mm256_madd_epi16(mins[1], _mm256_set1_epi32(pr[1])));
      summ = _mm256_add_epi32(summ, _mm256_madd_epi16(mins[2], _mm256_set1_epi32(pr[2])));
      summ = _mm256_add_epi32(summ, _mm256_madd_epi16(mins[3], _mm256_set1_epi32(pr[3])));
      const __m256 dy = _mm256_set1_ps(a[t][b].d);
      const __m256 d = _mm256_mul_ps(dy, dw);
      const __m256 dmin = _mm256_mul_ps(dy, dmw);
      const __m256 v = _mm256_sub_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(sumi[t])),
                                     _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(summ)));
      acc[t] = _mm256_add_ps(acc[t], v);
    }
  }
}

// ---------------------------------------------------------------------------
// The matmul driver shared by the types: token chunks, row groups, then
// tokens 4, 2, 1 at a time.

struct Q4_0Kind {
  using Group = GroupQ4_0;
  using Act = BlockQ8_0;
  static constexpr int64_t kElems = kQK;
  static constexpr int64_t kSideInts = 1;  // per activation block
  static void Side(const Act* a, int64_t nb, int32_t* out) { Sum8Q8_0(a, nb, out); }
  template <int T>
  static void Run(const Group* g, int64_t nb, const Act* const* a, const int32_t* const* side,
                  __m256 (&acc)[T]) {
    GroupQ4_0Tokens<T>(g, nb, a, side, acc);
  }
};

struct Q4KKind {
  using Group = GroupQ4K;
  using Act = BlockQ8K;
  static constexpr int64_t kElems = kQKK;
  static constexpr int64_t kSideInts = 4;
  static void Side(const Act* a, int64_t nb, int32_t* out) { BsumPairsQ8K(a, nb, out); }
  template <int T>
  static void Run(const Group* g, int64_t nb, const Act* const* a, const int32_t* const* side,
                  __m256 (&acc)[T]) {
    GroupQ4KTokens<T>(g, nb, a, side, acc);
  }
};

template <typename K>
void PackedMatMul(const void* w, int64_t n, int64_t row_begin, int64_t row_end,
                  const void* act, int64_t act_stride, int64_t m, float* y,
                  int64_t y_stride) {
  using Group = typename K::Group;
  using Act = typename K::Act;
  const int64_t nb = n / K::kElems;
  const Group* groups = static_cast<const Group*>(w);
  const char* ab = static_cast<const char*>(act);
  std::vector<int32_t>& side = ActScratch();
  side.resize(kTokenChunk * nb * K::kSideInts);
  for (int64_t t0 = 0; t0 < m; t0 += kTokenChunk) {
    const int64_t t_end = t0 + kTokenChunk < m ? t0 + kTokenChunk : m;
    for (int64_t t = t0; t < t_end; ++t) {
      K::Side(reinterpret_cast<const Act*>(ab + t * act_stride), nb,
              side.data() + (t - t0) * nb * K::kSideInts);
    }
    for (int64_t r0 = row_begin; r0 < row_end; r0 += kGroupRows) {
      const Group* g = groups + (r0 / kGroupRows) * nb;
      const int64_t rows = row_end - r0;
      int64_t t = t0;
      auto run = [&](auto tokens) {
        constexpr int kT = decltype(tokens)::value;
        const Act* a[kT];
        const int32_t* s[kT];
        for (int i = 0; i < kT; ++i) {
          a[i] = reinterpret_cast<const Act*>(ab + (t + i) * act_stride);
          s[i] = side.data() + (t + i - t0) * nb * K::kSideInts;
        }
        __m256 acc[kT];
        K::template Run<kT>(g, nb, a, s, acc);
        for (int i = 0; i < kT; ++i) StoreRows(y + (t + i) * y_stride + r0, acc[i], rows);
        t += kT;
      };
      while (t + 4 <= t_end) run(std::integral_constant<int, 4>());
      if (t + 2 <= t_end) run(std::integral_constant<int, 2>());
      if (t < t_end) run(std::integral_constant<int, 1>());
    }
  }
}

}  // namespace

MatMulFn PackedMatMulAvx2(int type_idx) {
  switch (type_idx) {
    case kIdxQ4_0:
      return PackedMatMul<Q4_0Kind>;
    case kIdxQ4K:
      return PackedMatMul<Q4KKind>;
    default:
      return nullptr;
  }
}

}  // namespace triptych::kernels::cpu
