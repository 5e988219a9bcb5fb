// Dequantizing matrix products Y = X * W^T (forward_ops.h, GpuMatMul) for
// F32 / F16 / BF16 / Q8_0 / Q4_0 / Q4_K / Q6_K weights in their GGUF
// layouts, with float activations and float accumulation.
//
// Two kernels, both templated on the weight type so the dequantization
// switch folds away:
//  * GEMV (m <= 8 tokens: decode): 32 threads per weight row; each thread
//    dequantizes groups of 8 weights (lane, lane + 32, ...) once and
//    multiplies them with every token's activations, then a shared-memory
//    tree sums the 32 partials. Weights are read once per call.
//  * Tiled GEMM (prefill): 64 weight rows x 64 tokens per block, k-steps of
//    32 columns (one Q8_0 / Q4_0 block, one Q4_K / Q6_K sub-block range)
//    dequantized into shared memory, 4 x 4 outputs per thread.
// No vendor BLAS: Debian 12 packages neither hipBLAS/rocBLAS nor cuBLAS, and
// the quantized types need dequantization in the kernel anyway.

#include <cstdint>
#include <string>

#include "kernels/hip/device_buffer.h"
#include "kernels/hip/device_math.h"
#include "kernels/hip/forward_ops.h"

namespace triptych::kernels::hip {
namespace {

constexpr int kThreads = 256;
constexpr int kLanes = 32;                    // threads per row (GEMV)
constexpr int kGemvRows = kThreads / kLanes;  // rows per block
constexpr int kGemvMaxTokens = 8;
constexpr int kTileRows = 64, kTileTokens = 64, kTileK = 32;

template <GgmlType kType, int M>
__global__ void GemvKernel(const uint8_t* w, int64_t row_bytes, int64_t rows,
                           int64_t cols, const float* x, int m, float* y) {
  __shared__ float red[M][kThreads];
  const int t = threadIdx.x, lane = t % kLanes;
  const int64_t r = int64_t{blockIdx.x} * kGemvRows + t / kLanes;
  float acc[M];
  for (int k = 0; k < M; ++k) acc[k] = 0.0f;
  if (r < rows) {
    const uint8_t* row = w + r * row_bytes;
    const int64_t groups = (cols + 7) / 8;
    for (int64_t g = lane; g < groups; g += kLanes) {
      const int64_t c0 = g * 8;
      float v[8];
      Dequant8(kType, row, c0, cols, v);
      const int n = cols - c0 < 8 ? static_cast<int>(cols - c0) : 8;
      for (int k = 0; k < M; ++k) {
        if (k >= m) break;
        const float* xr = x + k * cols + c0;
        float s = acc[k];
        for (int e = 0; e < n; ++e) s = s + v[e] * xr[e];
        acc[k] = s;
      }
    }
  }
  for (int k = 0; k < M; ++k) red[k][t] = acc[k];
  __syncthreads();
  for (int step = kLanes / 2; step >= 1; step /= 2) {
    if (lane < step) {
      for (int k = 0; k < M; ++k) red[k][t] = red[k][t] + red[k][t + step];
    }
    __syncthreads();
  }
  if (r < rows && lane == 0) {
    for (int k = 0; k < M && k < m; ++k) y[k * rows + r] = red[k][t];
  }
}

template <GgmlType kType>
__global__ void GemmKernel(const uint8_t* w, int64_t row_bytes, int64_t rows,
                           int64_t cols, const float* x, int64_t m, float* y) {
  // +4 keeps the transposed stores from hitting one bank.
  __shared__ float ws[kTileK][kTileRows + 4];
  __shared__ float xs[kTileK][kTileTokens + 4];
  const int t = threadIdx.x, tx = t % 16, ty = t / 16;
  const int64_t r0 = int64_t{blockIdx.x} * kTileRows;
  const int64_t n0 = int64_t{blockIdx.y} * kTileTokens;
  const int lr = t / 4, lc = (t % 4) * 8;  // what this thread loads
  float acc[4][4];
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
  }
  for (int64_t k0 = 0; k0 < cols; k0 += kTileK) {
    float v[8];
    const int64_t r = r0 + lr;
    if (r < rows) {
      Dequant8(kType, w + r * row_bytes, k0 + lc, cols, v);
    } else {
      for (int e = 0; e < 8; ++e) v[e] = 0.0f;
    }
    for (int e = 0; e < 8; ++e) ws[lc + e][lr] = v[e];
    const int64_t tok = n0 + lr;
    for (int e = 0; e < 8; ++e) {
      const int64_t c = k0 + lc + e;
      xs[lc + e][lr] = tok < m && c < cols ? x[tok * cols + c] : 0.0f;
    }
    __syncthreads();
    for (int k = 0; k < kTileK; ++k) {
      float a[4], b[4];
      for (int i = 0; i < 4; ++i) a[i] = ws[k][ty * 4 + i];
      for (int j = 0; j < 4; ++j) b[j] = xs[k][tx * 4 + j];
      for (int i = 0; i < 4; ++i) {
        for (int j = 0; j < 4; ++j) acc[i][j] = acc[i][j] + a[i] * b[j];
      }
    }
    __syncthreads();
  }
  for (int i = 0; i < 4; ++i) {
    const int64_t r = r0 + ty * 4 + i;
    if (r >= rows) continue;
    for (int j = 0; j < 4; ++j) {
      const int64_t tok = n0 + tx * 4 + j;
      if (tok < m) y[tok * rows + r] = acc[i][j];
    }
  }
}

template <GgmlType kType>
std::string Launch(const uint8_t* w, int64_t row_bytes, int64_t rows,
                   int64_t cols, const float* x, int64_t m, float* y,
                   hipStream_t s) {
  if (m <= kGemvMaxTokens) {
    const unsigned grid =
        static_cast<unsigned>((rows + kGemvRows - 1) / kGemvRows);
    const int mi = static_cast<int>(m);
    if (m == 1) {
      hipLaunchKernelGGL((GemvKernel<kType, 1>), grid, kThreads, 0, s, w,
                         row_bytes, rows, cols, x, mi, y);
    } else if (m == 2) {
      hipLaunchKernelGGL((GemvKernel<kType, 2>), grid, kThreads, 0, s, w,
                         row_bytes, rows, cols, x, mi, y);
    } else if (m <= 4) {
      hipLaunchKernelGGL((GemvKernel<kType, 4>), grid, kThreads, 0, s, w,
                         row_bytes, rows, cols, x, mi, y);
    } else {
      hipLaunchKernelGGL((GemvKernel<kType, 8>), grid, kThreads, 0, s, w,
                         row_bytes, rows, cols, x, mi, y);
    }
    return LaunchError("GemvKernel");
  }
  const dim3 grid(static_cast<unsigned>((rows + kTileRows - 1) / kTileRows),
                  static_cast<unsigned>((m + kTileTokens - 1) / kTileTokens));
  hipLaunchKernelGGL((GemmKernel<kType>), grid, kThreads, 0, s, w, row_bytes,
                     rows, cols, x, m, y);
  return LaunchError("GemmKernel");
}

}  // namespace

std::string GpuMatMul(GgmlType type, const void* w, int64_t rows, int64_t cols,
                      const float* x, int64_t m, float* y,
                      StreamHandle stream) {
  if (!GpuMatMulSupports(type)) {
    return "GpuMatMul: unsupported weight type " + std::string(TypeName(type));
  }
  const int64_t block = GetTypeTraits(static_cast<uint32_t>(type))->block_elems;
  if (rows <= 0 || cols <= 0 || m < 0 || cols % block != 0 ||
      (rows + kTileRows - 1) / kTileRows > 0x7FFFFFFF ||
      (m + kTileTokens - 1) / kTileTokens > 65535) {
    return "GpuMatMul: need rows > 0, 0 <= m <= 4194240 and cols a positive "
           "multiple of " +
           std::to_string(block);
  }
  if (m == 0) return {};
  const auto* wb = static_cast<const uint8_t*>(w);
  const int64_t rb = RowBytes(type, cols);
  const hipStream_t s = static_cast<hipStream_t>(stream);
  switch (type) {
    case GgmlType::kF32:
      return Launch<GgmlType::kF32>(wb, rb, rows, cols, x, m, y, s);
    case GgmlType::kF16:
      return Launch<GgmlType::kF16>(wb, rb, rows, cols, x, m, y, s);
    case GgmlType::kBF16:
      return Launch<GgmlType::kBF16>(wb, rb, rows, cols, x, m, y, s);
    case GgmlType::kQ8_0:
      return Launch<GgmlType::kQ8_0>(wb, rb, rows, cols, x, m, y, s);
    case GgmlType::kQ4_0:
      return Launch<GgmlType::kQ4_0>(wb, rb, rows, cols, x, m, y, s);
    case GgmlType::kQ4_K:
      return Launch<GgmlType::kQ4_K>(wb, rb, rows, cols, x, m, y, s);
    case GgmlType::kQ6_K:
      return Launch<GgmlType::kQ6_K>(wb, rb, rows, cols, x, m, y, s);
    default:
      return "GpuMatMul: unsupported weight type";
  }
}

}  // namespace triptych::kernels::hip
