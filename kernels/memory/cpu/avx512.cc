// AVX-512F variants of the memory ops. Compiled with AVX-512 flags (only this
// file); called only when isa.h reports AVX-512 available. Bit-identical to
// cpu/scalar.cc: one __m512 holds the 16 canonical lanes, tails use masked
// loads (a masked-off element adds +0 to its lane, which leaves it unchanged
// since a lane never holds -0), and the reduction follows the tree order.

#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/fp16.h"
#include "kernels/memory/cpu/kernel_table.h"

namespace triptych::kernels::memory::cpu {
namespace {

inline float Reduce8(__m256 v) {
  __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  a = _mm_add_ps(a, _mm_movehl_ps(a, a));
  a = _mm_add_ss(a, _mm_shuffle_ps(a, a, 1));
  return _mm_cvtss_f32(a);
}

// s[j] + s[j + 8], then Reduce8: the canonical tree.
inline float Reduce16(__m512 v) {
  const __m256 lo = _mm512_castps512_ps256(v);
  const __m256 hi =
      _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
  return Reduce8(_mm256_add_ps(lo, hi));
}

inline float MaxF(float a, float b) { return a > b ? a : b; }

// Quest bounds of kRows consecutive blocks for one query head; the rows are
// independent dependency chains, so interleaving them hides add latency
// without changing any row's order.
template <int kRows>
inline void QuestRows(const float* q, int head_dim, const float* mins,
                      const float* maxs, float* out) {
  __m512 acc[kRows];
  for (int r = 0; r < kRows; ++r) acc[r] = _mm512_setzero_ps();
  int i = 0;
  for (; i + 16 <= head_dim; i += 16) {
    const __m512 qv = _mm512_loadu_ps(q + i);
    for (int r = 0; r < kRows; ++r) {
      const int64_t off = static_cast<int64_t>(r) * head_dim + i;
      const __m512 lo = _mm512_mul_ps(qv, _mm512_loadu_ps(mins + off));
      const __m512 hi = _mm512_mul_ps(qv, _mm512_loadu_ps(maxs + off));
      acc[r] = _mm512_add_ps(acc[r], _mm512_max_ps(lo, hi));
    }
  }
  if (i < head_dim) {
    const __mmask16 m = static_cast<__mmask16>((1u << (head_dim - i)) - 1);
    const __m512 qv = _mm512_maskz_loadu_ps(m, q + i);
    for (int r = 0; r < kRows; ++r) {
      const int64_t off = static_cast<int64_t>(r) * head_dim + i;
      const __m512 lo = _mm512_mul_ps(qv, _mm512_maskz_loadu_ps(m, mins + off));
      const __m512 hi = _mm512_mul_ps(qv, _mm512_maskz_loadu_ps(m, maxs + off));
      acc[r] = _mm512_add_ps(acc[r], _mm512_max_ps(lo, hi));
    }
  }
  for (int r = 0; r < kRows; ++r) out[r] = Reduce16(acc[r]);
}

template <int kRows>
inline void QuestBlocks(const float* q, int num_heads, int head_dim,
                        const float* mins, const float* maxs, float* scores) {
  float best[kRows];
  QuestRows<kRows>(q, head_dim, mins, maxs, best);
  for (int h = 1; h < num_heads; ++h) {
    float s[kRows];
    QuestRows<kRows>(q + static_cast<int64_t>(h) * head_dim, head_dim, mins,
                     maxs, s);
    for (int r = 0; r < kRows; ++r) best[r] = MaxF(s[r], best[r]);
  }
  for (int r = 0; r < kRows; ++r) scores[r] = best[r];
}

void QuestScoresAvx512(const float* q, int num_heads, int head_dim,
                       const float* mins, const float* maxs,
                       int64_t num_blocks, float* scores) {
  int64_t b = 0;
  for (; b + 4 <= num_blocks; b += 4) {
    QuestBlocks<4>(q, num_heads, head_dim, mins + b * head_dim,
                   maxs + b * head_dim, scores + b);
  }
  for (; b < num_blocks; ++b) {
    QuestBlocks<1>(q, num_heads, head_dim, mins + b * head_dim,
                   maxs + b * head_dim, scores + b);
  }
}

template <int kRows>
inline void DenseRows(const float* q, const float* docs, int dim,
                      float* scores) {
  __m512 acc[kRows];
  for (int r = 0; r < kRows; ++r) acc[r] = _mm512_setzero_ps();
  int i = 0;
  for (; i + 16 <= dim; i += 16) {
    const __m512 qv = _mm512_loadu_ps(q + i);
    for (int r = 0; r < kRows; ++r) {
      const __m512 dv =
          _mm512_loadu_ps(docs + static_cast<int64_t>(r) * dim + i);
      acc[r] = _mm512_add_ps(acc[r], _mm512_mul_ps(qv, dv));
    }
  }
  if (i < dim) {
    const __mmask16 m = static_cast<__mmask16>((1u << (dim - i)) - 1);
    const __m512 qv = _mm512_maskz_loadu_ps(m, q + i);
    for (int r = 0; r < kRows; ++r) {
      const __m512 dv =
          _mm512_maskz_loadu_ps(m, docs + static_cast<int64_t>(r) * dim + i);
      acc[r] = _mm512_add_ps(acc[r], _mm512_mul_ps(qv, dv));
    }
  }
  for (int r = 0; r < kRows; ++r) scores[r] = Reduce16(acc[r]);
}

void DenseIpAvx512(const float* q, const float* docs, int64_t num_docs,
                   int dim, float* scores) {
  int64_t d = 0;
  for (; d + 4 <= num_docs; d += 4) DenseRows<4>(q, docs + d * dim, dim, scores + d);
  for (; d < num_docs; ++d) DenseRows<1>(q, docs + d * dim, dim, scores + d);
}

// Min/max of channels [i, i + 16) over the tokens; `load` widens 16 keys.
template <typename Load16>
inline void Summary16(Load16 load, int64_t token_stride, int num_tokens,
                      float* mins, float* maxs) {
  __m512 mn = load(0);
  __m512 mx = mn;
  for (int t = 1; t < num_tokens; ++t) {
    const __m512 x = load(t * token_stride);
    mn = _mm512_min_ps(x, mn);  // x < mn ? x : mn, as the reference
    mx = _mm512_max_ps(x, mx);
  }
  _mm512_storeu_ps(mins, mn);
  _mm512_storeu_ps(maxs, mx);
}

template <typename T, typename Widen>
inline void SummaryTail(const T* keys, Widen widen, int64_t token_stride,
                        int num_tokens, int begin, int head_dim, float* mins,
                        float* maxs) {
  for (int i = begin; i < head_dim; ++i) {
    float mn = widen(keys[i]);
    float mx = mn;
    for (int t = 1; t < num_tokens; ++t) {
      const float x = widen(keys[t * token_stride + i]);
      mn = x < mn ? x : mn;
      mx = x > mx ? x : mx;
    }
    mins[i] = mn;
    maxs[i] = mx;
  }
}

void KeySummaryF32Avx512(const float* keys, int64_t token_stride,
                         int num_tokens, int head_dim, float* mins,
                         float* maxs) {
  int i = 0;
  for (; i + 16 <= head_dim; i += 16) {
    const float* k = keys + i;
    Summary16([k](int64_t off) { return _mm512_loadu_ps(k + off); },
              token_stride, num_tokens, mins + i, maxs + i);
  }
  SummaryTail(keys, [](float x) { return x; }, token_stride, num_tokens, i,
              head_dim, mins, maxs);
}

void KeySummaryF16Avx512(const uint16_t* keys, int64_t token_stride,
                         int num_tokens, int head_dim, float* mins,
                         float* maxs) {
  int i = 0;
  for (; i + 16 <= head_dim; i += 16) {
    const uint16_t* k = keys + i;
    Summary16(
        [k](int64_t off) {
          return _mm512_cvtph_ps(_mm256_loadu_si256(
              reinterpret_cast<const __m256i*>(k + off)));
        },
        token_stride, num_tokens, mins + i, maxs + i);
  }
  SummaryTail(keys,
              [](uint16_t h) { return ::triptych::kernels::cpu::Fp16ToFp32(h); },
              token_stride, num_tokens, i, head_dim, mins, maxs);
}

}  // namespace

const MemoryKernelTable& Avx512MemoryKernels() {
  static const MemoryKernelTable t = {
      .quest_scores = QuestScoresAvx512,
      .dense_ip = DenseIpAvx512,
      .key_summary_f32 = KeySummaryF32Avx512,
      .key_summary_f16 = KeySummaryF16Avx512,
  };
  return t;
}

}  // namespace triptych::kernels::memory::cpu
