// Row and element-wise forward ops (forward_ops.h): RMSNorm, RoPE, SwiGLU,
// residual add, bias add, embedding lookup, and the sampling helpers
// (argmax, softmax with temperature). Same formulas and operation order as
// runtime/model/model.cc and runtime/sampling/sampler.cc; sums are tree
// reductions instead of sequential loops.

#include <cmath>
#include <cstdint>
#include <string>

#include "kernels/hip/device_buffer.h"
#include "kernels/hip/device_math.h"
#include "kernels/hip/forward_ops.h"

namespace triptych::kernels::hip {
namespace {

constexpr int kThreads = 256;

hipStream_t S(StreamHandle s) { return static_cast<hipStream_t>(s); }

std::string BadShape(const char* op, const char* what) {
  return std::string(op) + ": " + what;
}

// One block per row; the sum of squares in double as the CPU reference.
__global__ void RmsNormKernel(const float* x, const float* w, int64_t n,
                              float eps, float* out) {
  __shared__ double red[kThreads];
  const int t = threadIdx.x;
  const float* row = x + blockIdx.x * n;
  double s = 0.0;
  for (int64_t i = t; i < n; i += kThreads) {
    s += static_cast<double>(row[i]) * row[i];
  }
  red[t] = s;
  __syncthreads();
  for (int step = kThreads / 2; step >= 1; step /= 2) {
    if (t < step) red[t] = red[t] + red[t + step];
    __syncthreads();
  }
  const float scale =
      1.0f / sqrtf(static_cast<float>(red[0] / static_cast<double>(n)) + eps);
  float* o = out + blockIdx.x * n;
  for (int64_t i = t; i < n; i += kThreads) o[i] = row[i] * scale * w[i];
}

// One thread per (token, head, rotated pair).
__global__ void RopeKernel(float* x, int64_t tokens, int heads,
                           const int32_t* pos, int head_dim, int half,
                           float theta_scale, float linear_scale, bool neox,
                           const float* freq_factors) {
  const int64_t total = tokens * heads * half;
  for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
       idx < total; idx += int64_t{gridDim.x} * blockDim.x) {
    const int i = static_cast<int>(idx % half);
    const int64_t th = idx / half;  // token * heads + head
    const int64_t t = th / heads;
    float theta = static_cast<float>(pos[t]) / linear_scale;
    for (int k = 0; k < i; ++k) theta *= theta_scale;
    const float ff = freq_factors != nullptr ? freq_factors[i] : 1.0f;
    const float c = cosf(theta / ff), s = sinf(theta / ff);
    float* v = x + th * head_dim;
    const int a = neox ? i : 2 * i;
    const int b = neox ? i + half : 2 * i + 1;
    const float x0 = v[a], x1 = v[b];
    v[a] = x0 * c - x1 * s;
    v[b] = x0 * s + x1 * c;
  }
}

__global__ void SwiGluKernel(const float* gate, const float* up, int64_t n,
                             float* out) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const float g = gate[i];
    out[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

__global__ void AddKernel(float* x, const float* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    x[i] += y[i];
  }
}

__global__ void AddBiasKernel(float* x, const float* bias, int64_t total,
                              int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    x[i] += bias[i % n];
  }
}

// One thread per 8 output elements of a row.
__global__ void GetRowsKernel(GgmlType type, const uint8_t* table,
                              int64_t row_bytes, int64_t cols,
                              const int32_t* ids, int64_t count, float* out) {
  const int64_t groups = (cols + 7) / 8;
  const int64_t total = count * groups;
  for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
       idx < total; idx += int64_t{gridDim.x} * blockDim.x) {
    const int64_t t = idx / groups, col0 = (idx % groups) * 8;
    float v[8];
    Dequant8(type, table + ids[t] * row_bytes, col0, cols, v);
    float* o = out + t * cols;
    for (int e = 0; e < 8 && col0 + e < cols; ++e) o[col0 + e] = v[e];
  }
}

// One block per row: the first index of the largest non-NaN logit.
__global__ void ArgmaxKernel(const float* logits, int64_t vocab, int32_t* ids) {
  __shared__ float best[kThreads];
  __shared__ int64_t where[kThreads];
  const int t = threadIdx.x;
  const float* row = logits + blockIdx.x * vocab;
  float b = 0.0f;
  int64_t w = -1;
  for (int64_t i = t; i < vocab; i += kThreads) {
    const float v = row[i];
    if (v == v && (w < 0 || v > b)) {
      b = v;
      w = i;
    }
  }
  best[t] = b;
  where[t] = w;
  __syncthreads();
  for (int step = kThreads / 2; step >= 1; step /= 2) {
    if (t < step) {
      const float ob = best[t + step];
      const int64_t ow = where[t + step];
      const bool take = ow >= 0 && (where[t] < 0 || ob > best[t] ||
                                    (ob == best[t] && ow < where[t]));
      if (take) {
        best[t] = ob;
        where[t] = ow;
      }
    }
    __syncthreads();
  }
  if (t == 0) ids[blockIdx.x] = static_cast<int32_t>(where[0]);
}

__global__ void SoftmaxKernel(const float* logits, int64_t vocab, float inv_t,
                              float* probs) {
  __shared__ float red[kThreads];
  const int t = threadIdx.x;
  const float* row = logits + blockIdx.x * vocab;
  float* out = probs + blockIdx.x * vocab;
  float m = -INFINITY;
  for (int64_t i = t; i < vocab; i += kThreads) m = fmaxf(m, row[i]);
  m = BlockMax(m, red);
  float s = 0.0f;
  for (int64_t i = t; i < vocab; i += kThreads) {
    const float e = expf((row[i] - m) * inv_t);
    out[i] = e;
    s += e;
  }
  s = BlockSum(s, red);
  const float inv = 1.0f / s;
  for (int64_t i = t; i < vocab; i += kThreads) out[i] = out[i] * inv;
}

}  // namespace

std::string GpuRmsNorm(const float* x, const float* weight, int64_t rows,
                       int64_t n, float eps, float* out, StreamHandle stream) {
  if (rows < 0 || n <= 0 || rows > 0x7FFFFFFF) {
    return BadShape("GpuRmsNorm", "rows must be >= 0 and n > 0");
  }
  if (rows == 0) return {};
  hipLaunchKernelGGL(RmsNormKernel, static_cast<unsigned>(rows), kThreads, 0,
                     S(stream), x, weight, n, eps, out);
  return LaunchError("RmsNormKernel");
}

std::string GpuRope(float* x, int64_t tokens, int heads, const int32_t* pos,
                    const GpuRopeParams& p, StreamHandle stream) {
  if (tokens < 0 || heads <= 0 || p.rope_dim <= 0 || p.rope_dim % 2 != 0 ||
      p.rope_dim > p.head_dim || p.linear_scale == 0.0f) {
    return BadShape("GpuRope",
                    "need tokens >= 0, heads > 0, an even 0 < rope_dim <= "
                    "head_dim and a non-zero linear_scale");
  }
  const int half = p.rope_dim / 2;
  const int64_t total = tokens * heads * half;
  if (total == 0) return {};
  // The same float as model.cc's std::pow(theta, -2.0f / rope_dim).
  const float theta_scale =
      std::pow(p.theta, -2.0f / static_cast<float>(p.rope_dim));
  hipLaunchKernelGGL(RopeKernel, GridFor(total, kThreads), kThreads, 0,
                     S(stream), x, tokens, heads, pos, p.head_dim, half,
                     theta_scale, p.linear_scale, p.neox, p.freq_factors);
  return LaunchError("RopeKernel");
}

std::string GpuSwiGlu(const float* gate, const float* up, int64_t n, float* out,
                      StreamHandle stream) {
  if (n < 0) return BadShape("GpuSwiGlu", "n < 0");
  if (n == 0) return {};
  hipLaunchKernelGGL(SwiGluKernel, GridFor(n, kThreads), kThreads, 0, S(stream),
                     gate, up, n, out);
  return LaunchError("SwiGluKernel");
}

std::string GpuAdd(float* x, const float* y, int64_t n, StreamHandle stream) {
  if (n < 0) return BadShape("GpuAdd", "n < 0");
  if (n == 0) return {};
  hipLaunchKernelGGL(AddKernel, GridFor(n, kThreads), kThreads, 0, S(stream), x,
                     y, n);
  return LaunchError("AddKernel");
}

std::string GpuAddBias(float* x, const float* bias, int64_t rows, int64_t n,
                       StreamHandle stream) {
  if (rows < 0 || n <= 0) return BadShape("GpuAddBias", "rows < 0 or n <= 0");
  if (rows == 0) return {};
  hipLaunchKernelGGL(AddBiasKernel, GridFor(rows * n, kThreads), kThreads, 0,
                     S(stream), x, bias, rows * n, n);
  return LaunchError("AddBiasKernel");
}

std::string GpuGetRows(GgmlType type, const void* table, int64_t cols,
                       const int32_t* ids, int64_t count, float* out,
                       StreamHandle stream) {
  if (!GpuMatMulSupports(type)) {
    return BadShape("GpuGetRows", "unsupported weight type");
  }
  const auto traits = GetTypeTraits(static_cast<uint32_t>(type));
  if (count < 0 || cols <= 0 || cols % traits->block_elems != 0) {
    return BadShape("GpuGetRows",
                    "need count >= 0 and cols a positive multiple of the "
                    "type's block size");
  }
  if (count == 0) return {};
  const int64_t groups = count * ((cols + 7) / 8);
  hipLaunchKernelGGL(GetRowsKernel, GridFor(groups, kThreads), kThreads, 0,
                     S(stream), type, static_cast<const uint8_t*>(table),
                     RowBytes(type, cols), cols, ids, count, out);
  return LaunchError("GetRowsKernel");
}

std::string GpuArgmax(const float* logits, int64_t rows, int64_t vocab,
                      int32_t* ids, StreamHandle stream) {
  if (rows < 0 || vocab <= 0 || rows > 0x7FFFFFFF) {
    return BadShape("GpuArgmax", "rows < 0 or vocab <= 0");
  }
  if (rows == 0) return {};
  hipLaunchKernelGGL(ArgmaxKernel, static_cast<unsigned>(rows), kThreads, 0,
                     S(stream), logits, vocab, ids);
  return LaunchError("ArgmaxKernel");
}

std::string GpuSoftmax(const float* logits, int64_t rows, int64_t vocab,
                       float temperature, float* probs, StreamHandle stream) {
  if (rows < 0 || vocab <= 0 || rows > 0x7FFFFFFF || !(temperature > 0.0f)) {
    return BadShape("GpuSoftmax", "need rows >= 0, vocab > 0, temperature > 0");
  }
  if (rows == 0) return {};
  hipLaunchKernelGGL(SoftmaxKernel, static_cast<unsigned>(rows), kThreads, 0,
                     S(stream), logits, vocab, 1.0f / temperature, probs);
  return LaunchError("SoftmaxKernel");
}

}  // namespace triptych::kernels::hip
