// Scalar reference kernels: dequantization, dot products and the naive
// matmul. Written for clarity; every ISA variant is tested against these.

#include <cstdint>

#include "kernels/cpu/blocks.h"
#include "kernels/cpu/fp16.h"
#include "kernels/cpu/kernel_table.h"
#include "kernels/cpu/scalar_quantize.h"

namespace triptych::kernels::cpu {
namespace {

// ---------------------------------------------------------------------------
// Dequantization.

void DequantizeF32(const void* src, float* dst, int64_t n) {
  const float* x = static_cast<const float*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = x[i];
}

void DequantizeF16(const void* src, float* dst, int64_t n) {
  const uint16_t* x = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = Fp16ToFp32(x[i]);
}

void DequantizeBf16(const void* src, float* dst, int64_t n) {
  const uint16_t* x = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = Bf16ToFp32(x[i]);
}

void DequantizeQ8_0(const void* src, float* dst, int64_t n) {
  const BlockQ8_0* x = static_cast<const BlockQ8_0*>(src);
  for (int64_t b = 0; b < n / kQK; ++b, dst += kQK) {
    const float d = Fp16ToFp32(x[b].d);
    for (int j = 0; j < kQK; ++j) dst[j] = d * x[b].qs[j];
  }
}

void DequantizeQ4_0(const void* src, float* dst, int64_t n) {
  const BlockQ4_0* x = static_cast<const BlockQ4_0*>(src);
  for (int64_t b = 0; b < n / kQK; ++b, dst += kQK) {
    const float d = Fp16ToFp32(x[b].d);
    for (int j = 0; j < kQK / 2; ++j) {
      dst[j] = d * ((x[b].qs[j] & 0xF) - 8);
      dst[j + kQK / 2] = d * ((x[b].qs[j] >> 4) - 8);
    }
  }
}

void DequantizeQ4K(const void* src, float* dst, int64_t n) {
  const BlockQ4K* x = static_cast<const BlockQ4K*>(src);
  for (int64_t b = 0; b < n / kQKK; ++b) {
    const float d = Fp16ToFp32(x[b].d);
    const float dmin = Fp16ToFp32(x[b].dmin);
    const uint8_t* q = x[b].qs;
    for (int g = 0; g < 4; ++g, q += 32) {
      uint8_t sc, m;
      GetScaleMinK4(2 * g, x[b].scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      GetScaleMinK4(2 * g + 1, x[b].scales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) *dst++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *dst++ = d2 * (q[l] >> 4) - m2;
    }
  }
}

// The 6-bit quant of element `i` (0..255) of a Q6_K block, minus 32.
int Q6KValue(const BlockQ6K& blk, int i) {
  const int half = i / 128, r = i % 128, quarter = r / 32, l = r % 32;
  const uint8_t* ql = blk.ql + 64 * half;
  const uint8_t* qh = blk.qh + 32 * half;
  const int low = (quarter & 1) ? ql[l + 32] : ql[l];
  const int lo4 = (quarter < 2) ? (low & 0xF) : (low >> 4);
  const int hi2 = (qh[l] >> (2 * quarter)) & 3;
  return (lo4 | (hi2 << 4)) - 32;
}

void DequantizeQ6K(const void* src, float* dst, int64_t n) {
  const BlockQ6K* x = static_cast<const BlockQ6K*>(src);
  for (int64_t b = 0; b < n / kQKK; ++b, dst += kQKK) {
    const float d = Fp16ToFp32(x[b].d);
    for (int i = 0; i < kQKK; ++i) {
      dst[i] = d * x[b].scales[i / 16] * Q6KValue(x[b], i);
    }
  }
}

void DequantizeQ8K(const void* src, float* dst, int64_t n) {
  const BlockQ8K* x = static_cast<const BlockQ8K*>(src);
  for (int64_t b = 0; b < n / kQKK; ++b, dst += kQKK) {
    for (int j = 0; j < kQKK; ++j) dst[j] = x[b].d * x[b].qs[j];
  }
}

// ---------------------------------------------------------------------------
// Dot products. Float types accumulate in double (as ggml's scalar code);
// quantized types sum integers within a block, then scale in float.

float DotF32(int64_t n, const void* w, const void* a) {
  const float* x = static_cast<const float*>(w);
  const float* y = static_cast<const float*>(a);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * y[i];
  return static_cast<float>(sum);
}

float DotF16(int64_t n, const void* w, const void* a) {
  const uint16_t* x = static_cast<const uint16_t*>(w);
  const uint16_t* y = static_cast<const uint16_t*>(a);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    sum += static_cast<double>(Fp16ToFp32(x[i])) * Fp16ToFp32(y[i]);
  }
  return static_cast<float>(sum);
}

float DotBf16(int64_t n, const void* w, const void* a) {
  const uint16_t* x = static_cast<const uint16_t*>(w);
  const uint16_t* y = static_cast<const uint16_t*>(a);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    sum += static_cast<double>(Bf16ToFp32(x[i])) * Bf16ToFp32(y[i]);
  }
  return static_cast<float>(sum);
}

float DotQ8_0(int64_t n, const void* w, const void* a) {
  const BlockQ8_0* x = static_cast<const BlockQ8_0*>(w);
  const BlockQ8_0* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0;
  for (int64_t b = 0; b < n / kQK; ++b) {
    int sumi = 0;
    for (int j = 0; j < kQK; ++j) sumi += x[b].qs[j] * y[b].qs[j];
    sum += sumi * (Fp16ToFp32(x[b].d) * Fp16ToFp32(y[b].d));
  }
  return sum;
}

float DotQ4_0(int64_t n, const void* w, const void* a) {
  const BlockQ4_0* x = static_cast<const BlockQ4_0*>(w);
  const BlockQ8_0* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0;
  for (int64_t b = 0; b < n / kQK; ++b) {
    int sumi = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      sumi += ((x[b].qs[j] & 0xF) - 8) * y[b].qs[j];
      sumi += ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + kQK / 2];
    }
    sum += sumi * (Fp16ToFp32(x[b].d) * Fp16ToFp32(y[b].d));
  }
  return sum;
}

float DotQ4K(int64_t n, const void* w, const void* a) {
  const BlockQ4K* x = static_cast<const BlockQ4K*>(w);
  const BlockQ8K* y = static_cast<const BlockQ8K*>(a);
  float sum = 0;
  for (int64_t b = 0; b < n / kQKK; ++b) {
    int sumi = 0, summ = 0;
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      GetScaleMinK4(j, x[b].scales, &sc, &m);
      const uint8_t* q = x[b].qs + 32 * (j / 2);
      const int shift = 4 * (j & 1);
      int dot = 0;
      for (int l = 0; l < 32; ++l) {
        dot += ((q[l] >> shift) & 0xF) * y[b].qs[32 * j + l];
      }
      sumi += sc * dot;
      summ += m * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
    }
    const float d = y[b].d * Fp16ToFp32(x[b].d);
    const float dmin = y[b].d * Fp16ToFp32(x[b].dmin);
    sum += d * static_cast<float>(sumi) - dmin * static_cast<float>(summ);
  }
  return sum;
}

float DotQ6K(int64_t n, const void* w, const void* a) {
  const BlockQ6K* x = static_cast<const BlockQ6K*>(w);
  const BlockQ8K* y = static_cast<const BlockQ8K*>(a);
  float sum = 0;
  for (int64_t b = 0; b < n / kQKK; ++b) {
    int sumi = 0;
    for (int j = 0; j < 16; ++j) {
      int dot = 0;
      for (int l = 0; l < 16; ++l) {
        dot += Q6KValue(x[b], 16 * j + l) * y[b].qs[16 * j + l];
      }
      sumi += x[b].scales[j] * dot;
    }
    const float d = y[b].d * Fp16ToFp32(x[b].d);
    sum += d * static_cast<float>(sumi);
  }
  return sum;
}

// ---------------------------------------------------------------------------
// Matmul: one dot per (row, token).

template <VecDotFn kDot, GgmlType kType>
void MatMul(const void* w, int64_t n, int64_t row_begin, int64_t row_end,
            const void* act, int64_t act_stride, int64_t m, float* y,
            int64_t y_stride) {
  const int64_t row_bytes = RowBytes(kType, n);
  const char* wb = static_cast<const char*>(w);
  const char* ab = static_cast<const char*>(act);
  for (int64_t r = row_begin; r < row_end; ++r) {
    for (int64_t t = 0; t < m; ++t) {
      y[t * y_stride + r] = kDot(n, wb + r * row_bytes, ab + t * act_stride);
    }
  }
}

KernelTable MakeTable() {
  KernelTable t;
  t.dequantize[kIdxF32] = DequantizeF32;
  t.dequantize[kIdxF16] = DequantizeF16;
  t.dequantize[kIdxBf16] = DequantizeBf16;
  t.dequantize[kIdxQ8_0] = DequantizeQ8_0;
  t.dequantize[kIdxQ4_0] = DequantizeQ4_0;
  t.dequantize[kIdxQ4K] = DequantizeQ4K;
  t.dequantize[kIdxQ6K] = DequantizeQ6K;
  t.dequantize[kIdxQ8K] = DequantizeQ8K;

  t.quantize[kIdxF32] = QuantizeRowF32Ref;
  t.quantize[kIdxF16] = QuantizeRowF16Ref;
  t.quantize[kIdxBf16] = QuantizeRowBf16Ref;
  t.quantize[kIdxQ8_0] = QuantizeRowQ8_0Ref;
  t.quantize[kIdxQ4_0] = QuantizeRowQ4_0Ref;
  t.quantize[kIdxQ4K] = QuantizeRowQ4KRef;
  t.quantize[kIdxQ6K] = QuantizeRowQ6KRef;
  t.quantize[kIdxQ8K] = QuantizeRowQ8KRef;

  t.vec_dot[kIdxF32] = DotF32;
  t.vec_dot[kIdxF16] = DotF16;
  t.vec_dot[kIdxBf16] = DotBf16;
  t.vec_dot[kIdxQ8_0] = DotQ8_0;
  t.vec_dot[kIdxQ4_0] = DotQ4_0;
  t.vec_dot[kIdxQ4K] = DotQ4K;
  t.vec_dot[kIdxQ6K] = DotQ6K;

  t.mat_mul[kIdxF32] = MatMul<DotF32, GgmlType::kF32>;
  t.mat_mul[kIdxF16] = MatMul<DotF16, GgmlType::kF16>;
  t.mat_mul[kIdxBf16] = MatMul<DotBf16, GgmlType::kBF16>;
  t.mat_mul[kIdxQ8_0] = MatMul<DotQ8_0, GgmlType::kQ8_0>;
  t.mat_mul[kIdxQ4_0] = MatMul<DotQ4_0, GgmlType::kQ4_0>;
  t.mat_mul[kIdxQ4K] = MatMul<DotQ4K, GgmlType::kQ4_K>;
  t.mat_mul[kIdxQ6K] = MatMul<DotQ6K, GgmlType::kQ6_K>;
  return t;
}

}  // namespace

int IndexOf(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
      return kIdxF32;
    case GgmlType::kF16:
      return kIdxF16;
    case GgmlType::kBF16:
      return kIdxBf16;
    case GgmlType::kQ8_0:
      return kIdxQ8_0;
    case GgmlType::kQ4_0:
      return kIdxQ4_0;
    case GgmlType::kQ4_K:
      return kIdxQ4K;
    case GgmlType::kQ6_K:
      return kIdxQ6K;
    case GgmlType::kQ8_K:
      return kIdxQ8K;
    default:
      return -1;
  }
}

const KernelTable& ScalarKernels() {
  static const KernelTable table = MakeTable();
  return table;
}

}  // namespace triptych::kernels::cpu
