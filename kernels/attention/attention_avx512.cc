// AVX-512F variant of AttendOneQuery (compiled with -mavx512f -mf16c -mfma).

#include <immintrin.h>

#include "kernels/attention/attention_impl.h"
#include "kernels/attention/attention_simd.inc"

namespace triptych::kernels::attention::internal {
namespace {

struct V512 {
  using R = __m512;
  static constexpr int kW = 16;
  static R Zero() { return _mm512_setzero_ps(); }
  static R Set1(float x) { return _mm512_set1_ps(x); }
  static R Load(const float* p) { return _mm512_loadu_ps(p); }
  static R LoadH(const uint16_t* p) {
    return _mm512_cvtph_ps(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static void Store(float* p, R x) { _mm512_storeu_ps(p, x); }
  static R Fma(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
  static R Max(R a, R b) { return _mm512_max_ps(a, b); }
  static R Sub(R a, R b) { return _mm512_sub_ps(a, b); }
  static R Mul(R a, R b) { return _mm512_mul_ps(a, b); }
  static R Add(R a, R b) { return _mm512_add_ps(a, b); }
  static float Sum(R x) { return _mm512_reduce_add_ps(x); }
  static float MaxAll(R x) { return _mm512_reduce_max_ps(x); }
  static R Exp(R x);
};

struct Ops512 {
  static __m512 Round(__m512 x) {
    return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  static __m512 Pow2(__m512 n) {
    const __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
  }
};

__m512 V512::Exp(__m512 x) { return ExpNonPositive<V512, Ops512>(x); }

}  // namespace

void AttendAvx512(const AttentionShape& shape, const float* q,
                  absl::Span<const KvRun> runs, float* out,
                  AttentionScratch* scratch) {
  AttendSimd<V512>(shape, q, runs, out, scratch);
}

}  // namespace triptych::kernels::attention::internal
