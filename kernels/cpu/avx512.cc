// AVX-512 (F, BW, VL, DQ, VNNI, BF16) kernels. This file is compiled with the
// matching -mavx512* flags and only called after a run-time CPU check
// (kernels/quant.cc). The shared 256-bit integer kernels use VPDPBUSD here;
// float dots and activation conversions use 512-bit vectors.

#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/cpu/blas_matmul.h"
#include "kernels/cpu/blocks.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/kernel_table.h"

namespace triptych::kernels::cpu {
namespace {

#include "kernels/cpu/x86_kernels.inc"

inline float HorizontalSum512(__m512 v) { return _mm512_reduce_add_ps(v); }

struct F32Elems16 {
  using Elem = float;
  static __m512 Load(const float* p) { return _mm512_loadu_ps(p); }
  static float ToFloat(float v) { return v; }
};
struct F16Elems16 {
  using Elem = uint16_t;
  static __m512 Load(const uint16_t* p) {
    return _mm512_cvtph_ps(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static float ToFloat(uint16_t v) { return HalfBitsToFloat(v); }
};
struct Bf16Elems16 {
  using Elem = uint16_t;
  static __m512 Load(const uint16_t* p) {
    const __m512i v = _mm512_cvtepu16_epi32(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
  }
  static float ToFloat(uint16_t v) { return Bf16ToFp32(v); }
};

// Dots of one weight row (elements WE) with T activation rows (elements AE):
// WE == AE for the per-row path, AE float for the widened small batches
// (MatMulHalfWide). The sums are the same term for term either way (a half
// or bfloat16 widens exactly), so both paths give identical bits.
template <typename WE, typename AE, int T>
void DotFloat512(int64_t n, const void* w, const void* const* act, float* out) {
  const typename WE::Elem* x = static_cast<const typename WE::Elem*>(w);
  const typename AE::Elem* y[T];
  for (int t = 0; t < T; ++t)
    y[t] = static_cast<const typename AE::Elem*>(act[t]);
  __m512 acc[2][T];
  for (int t = 0; t < T; ++t) acc[0][t] = acc[1][t] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 w0 = WE::Load(x + i), w1 = WE::Load(x + i + 16);
    // Unrolled so that the accumulators stay in registers (GCC at -O2 keeps
    // them on the stack otherwise).
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      acc[0][t] = _mm512_fmadd_ps(w0, AE::Load(y[t] + i), acc[0][t]);
      acc[1][t] = _mm512_fmadd_ps(w1, AE::Load(y[t] + i + 16), acc[1][t]);
    }
  }
  for (int t = 0; t < T; ++t) {
    float s = HorizontalSum512(_mm512_add_ps(acc[0][t], acc[1][t]));
    for (int64_t k = i; k < n; ++k)
      s += WE::ToFloat(x[k]) * AE::ToFloat(y[t][k]);
    out[t] = s;
  }
}

template <int T>
struct KF32x16 {
  static void Run(int64_t n, const void* w, const void* const* a, float* o) {
    DotFloat512<F32Elems16, F32Elems16, T>(n, w, a, o);
  }
};
template <int T>
struct KF16x16 {
  static void Run(int64_t n, const void* w, const void* const* a, float* o) {
    DotFloat512<F16Elems16, F16Elems16, T>(n, w, a, o);
  }
};
template <int T>
struct KBf16x16 {
  static void Run(int64_t n, const void* w, const void* const* a, float* o) {
    DotFloat512<Bf16Elems16, Bf16Elems16, T>(n, w, a, o);
  }
};

void QuantizeF16Avx512(const float* src, void* dst, int64_t n) {
  uint16_t* y = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm256_storeu_si256(
        reinterpret_cast<__m256i*>(y + i),
        _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) y[i] = Fp32ToFp16(src[i]);
}

void DequantizeF16Avx512(const void* src, float* dst, int64_t n) {
  const uint16_t* x = static_cast<const uint16_t*>(src);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(dst + i, F16Elems16::Load(x + i));
  for (; i < n; ++i) dst[i] = Fp16ToFp32(x[i]);
}

// F16 / BF16 weights with a few tokens (decode batches): the activations are
// widened to float once per call (exact), so each weight vector is widened
// once and used by up to 8 tokens, and the token loads are plain float
// loads; DotFloat512<E, F32Elems16> keeps the per-row path's bits.
template <typename E, GgmlType kType, DequantizeFn kWiden>
void MatMulHalfWide(const void* w, int64_t n, int64_t row_begin,
                    int64_t row_end, const void* act, int64_t act_stride,
                    int64_t m, float* y, int64_t y_stride) {
  using Elem = typename E::Elem;
  thread_local std::vector<float> wide;
  wide.resize(static_cast<size_t>(m * n));
  const char* ab = static_cast<const char*>(act);
  for (int64_t t = 0; t < m; ++t)
    kWiden(ab + t * act_stride, wide.data() + t * n, n);
  const int64_t row_bytes = RowBytes(kType, n);
  const char* wb = static_cast<const char*>(w);
  for (int64_t r = row_begin; r < row_end; ++r) {
    const Elem* wr = reinterpret_cast<const Elem*>(wb + r * row_bytes);
    int64_t t = 0;
    auto run = [&](auto tokens) {
      constexpr int kT = decltype(tokens)::value;
      const void* a[kT];
      float out[kT];
      for (int i = 0; i < kT; ++i) a[i] = wide.data() + (t + i) * n;
      DotFloat512<E, F32Elems16, kT>(n, wr, a, out);
      for (int i = 0; i < kT; ++i) y[(t + i) * y_stride + r] = out[i];
      t += kT;
    };
    while (t + 8 <= m) run(std::integral_constant<int, 8>());
    if (t + 4 <= m) run(std::integral_constant<int, 4>());
    if (t + 2 <= m) run(std::integral_constant<int, 2>());
    if (t < m) run(std::integral_constant<int, 1>());
  }
}

// ---------------------------------------------------------------------------
// Q8_0 / Q4_0 matmul with 512-bit dots over pairs of blocks. The activations
// of a token chunk are first repacked (once per call, shared by all rows):
// the quants contiguous, padded to an even block count, then for each block
// pair 16 floats [d0 x 8, d1 x 8] matching the VPDPBUSD lanes.

struct PackedQ8_0Layout {
  int64_t pairs;
  int64_t TokenBytes() const { return pairs * 128; }
};

void PackQ8_0(const BlockQ8_0* y, int64_t nb, const PackedQ8_0Layout& l,
              uint8_t* out) {
  int8_t* qs = reinterpret_cast<int8_t*>(out);
  float* sc = reinterpret_cast<float*>(out + l.pairs * 64);
  for (int64_t b = 0; b < 2 * l.pairs; ++b) {
    float d = 0.0f;
    if (b < nb) {
      std::memcpy(qs + 32 * b, y[b].qs, 32);
      d = HalfBitsToFloat(y[b].d);
    } else {
      std::memset(qs + 32 * b, 0, 32);
    }
    _mm256_storeu_ps(sc + 8 * b, _mm256_set1_ps(d));
  }
}

template <int T>
inline __attribute__((always_inline)) void PairStep(__m512i w, __m512 dxv,
                                                    const uint8_t* const* pk,
                                                    int64_t scale_off,
                                                    int64_t p,
                                                    __m512 (&acc)[T]) {
  const __mmask64 neg = _mm512_movepi8_mask(w);
  const __m512i aw = _mm512_abs_epi8(w);
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
    const __m512i yq = _mm512_loadu_si512(pk[t] + 64 * p);
    const __m512i s = _mm512_mask_sub_epi8(yq, neg, _mm512_setzero_si512(), yq);
    const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), aw, s);
    const __m512 dy = _mm512_loadu_ps(
        reinterpret_cast<const float*>(pk[t] + scale_off) + 16 * p);
    acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dxv, dy),
                             acc[t]);
  }
}

template <typename W>
inline __m512i LoadPair(const typename W::Block* x, int64_t b,
                        bool has_second) {
  const __m256i lo = W::Load(x[b]);
  const __m256i hi = has_second ? W::Load(x[b + 1]) : _mm256_setzero_si256();
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

inline __m512 PairScales(float d0, float d1) {
  return _mm512_insertf32x8(_mm512_set1_ps(d0), _mm256_set1_ps(d1), 1);
}

template <typename W, int T>
void DotPackedQ8_0(int64_t nb, const void* w, const PackedQ8_0Layout& l,
                   const uint8_t* const* pk, float* out) {
  const typename W::Block* x = static_cast<const typename W::Block*>(w);
  const int64_t scale_off = l.pairs * 64;
  __m512 acc0[T], acc1[T];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc0[t] = acc1[t] = _mm512_setzero_ps();
  const int64_t full_pairs = nb / 2;
  int64_t p = 0;
  for (; p + 1 < full_pairs; p += 2) {
    PairStep<T>(LoadPair<W>(x, 2 * p, true),
                PairScales(HalfBitsToFloat(x[2 * p].d),
                           HalfBitsToFloat(x[2 * p + 1].d)),
                pk, scale_off, p, acc0);
    PairStep<T>(LoadPair<W>(x, 2 * p + 2, true),
                PairScales(HalfBitsToFloat(x[2 * p + 2].d),
                           HalfBitsToFloat(x[2 * p + 3].d)),
                pk, scale_off, p + 1, acc1);
  }
  if (p < full_pairs) {
    PairStep<T>(LoadPair<W>(x, 2 * p, true),
                PairScales(HalfBitsToFloat(x[2 * p].d),
                           HalfBitsToFloat(x[2 * p + 1].d)),
                pk, scale_off, p, acc0);
    ++p;
  }
  if (nb % 2 != 0) {
    PairStep<T>(LoadPair<W>(x, 2 * p, false),
                PairScales(HalfBitsToFloat(x[2 * p].d), 0.0f), pk, scale_off, p,
                acc1);
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t)
    out[t] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[t], acc1[t]));
}

template <typename W, GgmlType kType>
void MatMulQ8_0Avx512(const void* w, int64_t n, int64_t row_begin,
                      int64_t row_end, const void* act, int64_t act_stride,
                      int64_t m, float* y, int64_t y_stride) {
  const int64_t nb = n / kQK;
  const PackedQ8_0Layout layout{(nb + 1) / 2};
  const int64_t row_bytes = RowBytes(kType, n);
  const char* wb = static_cast<const char*>(w);
  const char* ab = static_cast<const char*>(act);
  // Per-thread scratch: callers run MatMulRows on many threads at once.
  thread_local std::vector<uint8_t> scratch;
  const int64_t chunk = m < kTokenChunk ? m : kTokenChunk;
  if (static_cast<int64_t>(scratch.size()) < chunk * layout.TokenBytes()) {
    scratch.resize(chunk * layout.TokenBytes());
  }
  for (int64_t t0 = 0; t0 < m; t0 += kTokenChunk) {
    const int64_t t_end = t0 + kTokenChunk < m ? t0 + kTokenChunk : m;
    for (int64_t t = t0; t < t_end; ++t) {
      PackQ8_0(reinterpret_cast<const BlockQ8_0*>(ab + t * act_stride), nb,
               layout, scratch.data() + (t - t0) * layout.TokenBytes());
    }
    for (int64_t r = row_begin; r < row_end; ++r) {
      const char* wr = wb + r * row_bytes;
      int64_t t = t0;
      auto run = [&](auto tokens) {
        constexpr int kT = decltype(tokens)::value;
        const uint8_t* pk[kT];
        float out[kT];
        for (int i = 0; i < kT; ++i)
          pk[i] = scratch.data() + (t - t0 + i) * layout.TokenBytes();
        DotPackedQ8_0<W, kT>(nb, wr, layout, pk, out);
        for (int i = 0; i < kT; ++i) y[(t + i) * y_stride + r] = out[i];
        t += kT;
      };
      while (t + 4 <= t_end) run(std::integral_constant<int, 4>());
      if (t + 2 <= t_end) run(std::integral_constant<int, 2>());
      if (t < t_end) run(std::integral_constant<int, 1>());
    }
  }
}

KernelTable MakeTable() {
  KernelTable t;
  FillCommonTable(t);
  t.vec_dot[kIdxF32] = VecDotVia<KF32x16>;
  t.vec_dot[kIdxF16] = VecDotVia<KF16x16>;
  t.vec_dot[kIdxBf16] = VecDotVia<KBf16x16>;
  t.mat_mul[kIdxF32] = MatMulBlocked<KF32x16, GgmlType::kF32>;
  t.mat_mul[kIdxF16] = MatMulBlocked<KF16x16, GgmlType::kF16>;
  t.mat_mul[kIdxBf16] = MatMulBlocked<KBf16x16, GgmlType::kBF16>;
  t.mat_mul[kIdxQ8_0] = MatMulQ8_0Avx512<Q8_0Weights, GgmlType::kQ8_0>;
  t.mat_mul[kIdxQ4_0] = MatMulQ8_0Avx512<Q4_0Weights, GgmlType::kQ4_0>;
  t.quantize[kIdxF16] = QuantizeF16Avx512;
  t.dequantize[kIdxF16] = DequantizeF16Avx512;
  t.dequantize[kIdxBf16] = DequantizeBf16Avx;
  t.mat_mul_multi[kIdxF32] =
      MatMulFloatMulti<MatMulBlocked<KF32x16, GgmlType::kF32>, nullptr, nullptr,
                       4, kBlasMinTokensF32>;
  t.mat_mul_multi[kIdxF16] = MatMulFloatMulti<
      MatMulHalfWide<F16Elems16, GgmlType::kF16, DequantizeF16Avx512>,
      DequantizeF16Avx512, DequantizeF16Avx512, 2, kBlasMinTokens>;
  t.mat_mul_multi[kIdxBf16] = MatMulFloatMulti<
      MatMulHalfWide<Bf16Elems16, GgmlType::kBF16, DequantizeBf16Avx>,
      DequantizeBf16Avx, DequantizeBf16Avx, 2, kBlasMinTokens>;
  FillAvx512TiledKernels(t);
  return t;
}

}  // namespace

const KernelTable& Avx512Kernels() {
  static const KernelTable table = MakeTable();
  return table;
}

}  // namespace triptych::kernels::cpu
