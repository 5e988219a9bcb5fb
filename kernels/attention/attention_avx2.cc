// AVX2 variant of AttendOneQuery (compiled with -mavx2 -mfma -mf16c).

#include <immintrin.h>

#include "kernels/attention/attention_impl.h"
#include "kernels/attention/attention_simd.inc"

namespace triptych::kernels::attention::internal {
namespace {

struct V256 {
  using R = __m256;
  static constexpr int kW = 8;
  static R Zero() { return _mm256_setzero_ps(); }
  static R Set1(float x) { return _mm256_set1_ps(x); }
  static R Load(const float* p) { return _mm256_loadu_ps(p); }
  static R LoadH(const uint16_t* p) {
    return _mm256_cvtph_ps(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static void Store(float* p, R x) { _mm256_storeu_ps(p, x); }
  static R Fma(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }
  static R Max(R a, R b) { return _mm256_max_ps(a, b); }
  static R Sub(R a, R b) { return _mm256_sub_ps(a, b); }
  static R Mul(R a, R b) { return _mm256_mul_ps(a, b); }
  static R Add(R a, R b) { return _mm256_add_ps(a, b); }
  static float Sum(R x) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float MaxAll(R x) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static R Exp(R x);
};

struct Ops256 {
  static __m256 Round(__m256 x) {
    return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  static __m256 Pow2(__m256 n) {
    const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
  }
};

__m256 V256::Exp(__m256 x) { return ExpNonPositive<V256, Ops256>(x); }

}  // namespace

void AttendAvx2(const AttentionShape& shape, const float* q,
                absl::Span<const KvRun> runs, float* out,
                AttentionScratch* scratch) {
  AttendSimd<V256>(shape, q, runs, out, scratch);
}

}  // namespace triptych::kernels::attention::internal
