// AVX2 (+FMA, F16C) variants of the memory ops. Compiled with AVX2 flags
// (only this file); called only when isa.h reports AVX2 available.
// Bit-identical to cpu/scalar.cc: the 16 canonical lanes are two __m256
// (lanes 0-7 and 8-15), tails use masked loads (+0 leaves a lane unchanged),
// and the reduction follows the tree order (lo + hi is the w = 8 step).

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

inline float MaxF(float a, float b) { return a > b ? a : b; }

// Load masks for a tail of r < 16 elements: lanes [0, r) of (lo, hi).
struct TailMask {
  __m256i lo, hi;
  explicit TailMask(int r) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    lo = _mm256_cmpgt_epi32(_mm256_set1_epi32(r), idx);
    hi = _mm256_cmpgt_epi32(_mm256_set1_epi32(r - 8), idx);
  }
};

// 16 lanes of a row as (lo, hi), either full or masked.
struct Pair {
  __m256 lo, hi;
};
inline Pair Load16(const float* p) {
  return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)};
}
inline Pair Load16(const float* p, const TailMask& m) {
  return {_mm256_maskload_ps(p, m.lo), _mm256_maskload_ps(p + 8, m.hi)};
}

inline void QuestStep(const Pair& q, const Pair& mn, const Pair& mx,
                      Pair& acc) {
  acc.lo = _mm256_add_ps(acc.lo, _mm256_max_ps(_mm256_mul_ps(q.lo, mn.lo),
                                               _mm256_mul_ps(q.lo, mx.lo)));
  acc.hi = _mm256_add_ps(acc.hi, _mm256_max_ps(_mm256_mul_ps(q.hi, mn.hi),
                                               _mm256_mul_ps(q.hi, mx.hi)));
}

template <int kRows>
inline void QuestRows(const float* q, int head_dim, const float* mins,
                      const float* maxs, float* out) {
  Pair acc[kRows];
  for (int r = 0; r < kRows; ++r) acc[r] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  int i = 0;
  for (; i + 16 <= head_dim; i += 16) {
    const Pair qv = Load16(q + i);
    for (int r = 0; r < kRows; ++r) {
      const int64_t off = static_cast<int64_t>(r) * head_dim + i;
      QuestStep(qv, Load16(mins + off), Load16(maxs + off), acc[r]);
    }
  }
  if (i < head_dim) {
    const TailMask m(head_dim - i);
    const Pair qv = Load16(q + i, m);
    for (int r = 0; r < kRows; ++r) {
      const int64_t off = static_cast<int64_t>(r) * head_dim + i;
      QuestStep(qv, Load16(mins + off, m), Load16(maxs + off, m), acc[r]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    out[r] = Reduce8(_mm256_add_ps(acc[r].lo, acc[r].hi));
  }
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

void QuestScoresAvx2(const float* q, int num_heads, int head_dim,
                     const float* mins, const float* maxs, int64_t num_blocks,
                     float* scores) {
  int64_t b = 0;
  for (; b + 2 <= num_blocks; b += 2) {
    QuestBlocks<2>(q, num_heads, head_dim, mins + b * head_dim,
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
  Pair acc[kRows];
  for (int r = 0; r < kRows; ++r) acc[r] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  auto step = [](const Pair& a, const Pair& b, Pair& s) {
    s.lo = _mm256_add_ps(s.lo, _mm256_mul_ps(a.lo, b.lo));
    s.hi = _mm256_add_ps(s.hi, _mm256_mul_ps(a.hi, b.hi));
  };
  int i = 0;
  for (; i + 16 <= dim; i += 16) {
    const Pair qv = Load16(q + i);
    for (int r = 0; r < kRows; ++r) {
      step(qv, Load16(docs + static_cast<int64_t>(r) * dim + i), acc[r]);
    }
  }
  if (i < dim) {
    const TailMask m(dim - i);
    const Pair qv = Load16(q + i, m);
    for (int r = 0; r < kRows; ++r) {
      step(qv, Load16(docs + static_cast<int64_t>(r) * dim + i, m), acc[r]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    scores[r] = Reduce8(_mm256_add_ps(acc[r].lo, acc[r].hi));
  }
}

void DenseIpAvx2(const float* q, const float* docs, int64_t num_docs, int dim,
                 float* scores) {
  int64_t d = 0;
  for (; d + 4 <= num_docs; d += 4) DenseRows<4>(q, docs + d * dim, dim, scores + d);
  for (; d < num_docs; ++d) DenseRows<1>(q, docs + d * dim, dim, scores + d);
}

template <typename Load8>
inline void Summary8(Load8 load, int64_t token_stride, int num_tokens,
                     float* mins, float* maxs) {
  __m256 mn = load(0);
  __m256 mx = mn;
  for (int t = 1; t < num_tokens; ++t) {
    const __m256 x = load(t * token_stride);
    mn = _mm256_min_ps(x, mn);  // x < mn ? x : mn, as the reference
    mx = _mm256_max_ps(x, mx);
  }
  _mm256_storeu_ps(mins, mn);
  _mm256_storeu_ps(maxs, mx);
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

void KeySummaryF32Avx2(const float* keys, int64_t token_stride, int num_tokens,
                       int head_dim, float* mins, float* maxs) {
  int i = 0;
  for (; i + 8 <= head_dim; i += 8) {
    const float* k = keys + i;
    Summary8([k](int64_t off) { return _mm256_loadu_ps(k + off); },
             token_stride, num_tokens, mins + i, maxs + i);
  }
  SummaryTail(keys, [](float x) { return x; }, token_stride, num_tokens, i,
              head_dim, mins, maxs);
}

void KeySummaryF16Avx2(const uint16_t* keys, int64_t token_stride,
                       int num_tokens, int head_dim, float* mins, float* maxs) {
  int i = 0;
  for (; i + 8 <= head_dim; i += 8) {
    const uint16_t* k = keys + i;
    Summary8(
        [k](int64_t off) {
          return _mm256_cvtph_ps(
              _mm_loadu_si128(reinterpret_cast<const __m128i*>(k + off)));
        },
        token_stride, num_tokens, mins + i, maxs + i);
  }
  SummaryTail(keys,
              [](uint16_t h) { return ::triptych::kernels::cpu::Fp16ToFp32(h); },
              token_stride, num_tokens, i, head_dim, mins, maxs);
}

}  // namespace

const MemoryKernelTable& Avx2MemoryKernels() {
  static const MemoryKernelTable t = {
      .quest_scores = QuestScoresAvx2,
      .dense_ip = DenseIpAvx2,
      .key_summary_f32 = KeySummaryF32Avx2,
      .key_summary_f16 = KeySummaryF16Avx2,
  };
  return t;
}

}  // namespace triptych::kernels::memory::cpu
