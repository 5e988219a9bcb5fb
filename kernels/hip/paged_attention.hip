// Paged KV cache ops (forward_ops.h): writing new tokens' K and V into
// their block slots, and attention of query tokens over their sequences'
// blocks, read in place in the layout of runtime/kv/kv_cache.h.
//
// Attention: one thread block per (query token, query head), 128 threads.
// The context is walked in tiles of 128 rows with an online softmax (as
// FlashAttention / vLLM's paged attention): each thread scores one row of
// the tile (q . k * scale), the block takes the tile's max and the sum of
// exp(score - running max), rescales its running output, and each thread
// accumulates its head dims (d = t, t + 128) over the tile's V rows.
// Decode and causal prefill are the same kernel: every query token carries
// its own block table start and context length.

#include <cmath>
#include <cstdint>
#include <string>

#include "kernels/hip/device_buffer.h"
#include "kernels/hip/device_math.h"
#include "kernels/hip/forward_ops.h"

namespace triptych::kernels::hip {
namespace {

constexpr int kThreads = 128;
constexpr int kDimsPerThread = kGpuMaxAttentionHeadDim / kThreads;
static_assert(kGpuMaxAttentionHeadDim % kThreads == 0);

template <bool kF16>
__device__ inline float LoadKv(const uint8_t* p, int d) {
  if constexpr (kF16) {
    return DevHalfToFloat(reinterpret_cast<const uint16_t*>(p)[d]);
  } else {
    return reinterpret_cast<const float*>(p)[d];
  }
}

template <bool kF16>
__global__ void WriteKvKernel(uint8_t* pool, int64_t block_bytes,
                              int64_t layer_off, int64_t token_bytes,
                              int block_size, int64_t kv_dim, const float* k,
                              const float* v, int64_t tokens,
                              const int32_t* block_ids, const int32_t* slots) {
  const int64_t total = tokens * kv_dim;
  for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
       idx < total; idx += int64_t{gridDim.x} * blockDim.x) {
    const int64_t t = idx / kv_dim, e = idx % kv_dim;
    uint8_t* kdst =
        pool + block_ids[t] * block_bytes + layer_off + slots[t] * token_bytes;
    uint8_t* vdst = kdst + block_size * token_bytes;
    if constexpr (kF16) {
      reinterpret_cast<uint16_t*>(kdst)[e] = DevFloatToHalf(k[idx]);
      reinterpret_cast<uint16_t*>(vdst)[e] = DevFloatToHalf(v[idx]);
    } else {
      reinterpret_cast<float*>(kdst)[e] = k[idx];
      reinterpret_cast<float*>(vdst)[e] = v[idx];
    }
  }
}

template <bool kF16>
__global__ void PagedAttentionKernel(const uint8_t* pool, int64_t block_bytes,
                                     int64_t layer_off, int64_t token_bytes,
                                     int block_size, int head_dim, int group,
                                     int num_heads, float scale, const float* q,
                                     const int32_t* tables,
                                     const int32_t* table_begin,
                                     const int32_t* context_len, float* out) {
  __shared__ float qs[kGpuMaxAttentionHeadDim];
  __shared__ float p[kThreads];
  __shared__ float red[kThreads];
  const int t = threadIdx.x;
  const int64_t tok = blockIdx.x;
  const int h = blockIdx.y;
  const int64_t elem = kF16 ? 2 : 4;
  const int64_t head_off = int64_t{h / group} * head_dim * elem;
  const int64_t v_off = block_size * token_bytes;  // V follows K in a layer
  const float* qh = q + (tok * num_heads + h) * head_dim;
  for (int d = t; d < head_dim; d += kThreads) {
    // An F16 cache: the query is rounded to F16 first (kernels/attention).
    qs[d] = kF16 ? DevHalfToFloat(DevFloatToHalf(qh[d])) : qh[d];
  }
  __syncthreads();
  const int32_t* table = tables + table_begin[tok];
  const int64_t n = context_len[tok];
  auto row = [&](int64_t j) {
    return pool + table[j / block_size] * block_bytes + layer_off +
           (j % block_size) * token_bytes + head_off;
  };
  float m = -INFINITY, l = 0.0f;
  float acc[kDimsPerThread];
  for (int i = 0; i < kDimsPerThread; ++i) acc[i] = 0.0f;
  for (int64_t j0 = 0; j0 < n; j0 += kThreads) {
    const int64_t j = j0 + t;
    float s = -INFINITY;
    if (j < n) {
      const uint8_t* k = row(j);
      float dot = 0.0f;
      for (int d = 0; d < head_dim; ++d) dot = dot + qs[d] * LoadKv<kF16>(k, d);
      s = dot * scale;
    }
    const float m_new = fmaxf(m, BlockMax(s, red));
    const float corr = expf(m - m_new);  // 0 on the first tile (m = -inf)
    const float e = j < n ? expf(s - m_new) : 0.0f;
    p[t] = e;
    l = l * corr + BlockSum(e, red);  // its barriers publish p[]
    const int cnt = n - j0 < kThreads ? static_cast<int>(n - j0) : kThreads;
    for (int i = 0; i < kDimsPerThread; ++i) {
      const int d = t + i * kThreads;
      if (d >= head_dim) break;
      float a = acc[i] * corr;
      for (int jj = 0; jj < cnt; ++jj) {
        a = a + p[jj] * LoadKv<kF16>(row(j0 + jj) + v_off, d);
      }
      acc[i] = a;
    }
    m = m_new;
    __syncthreads();  // p[] is rewritten by the next tile
  }
  float* o = out + (tok * num_heads + h) * head_dim;
  for (int i = 0; i < kDimsPerThread; ++i) {
    const int d = t + i * kThreads;
    if (d < head_dim) o[d] = acc[i] / l;
  }
}

std::string CheckLayout(const char* op, const GpuKvLayout& layout, int layer) {
  if (layout.num_layers <= 0 || layout.num_kv_heads <= 0 ||
      layout.head_dim <= 0 || layout.block_size <= 0) {
    return std::string(op) + ": KV layout must have positive geometry";
  }
  if (layer < 0 || layer >= layout.num_layers) {
    return std::string(op) + ": layer " + std::to_string(layer) +
           " out of range";
  }
  return {};
}

}  // namespace

std::string GpuWriteKv(void* pool, const GpuKvLayout& layout, int layer,
                       const float* k, const float* v, int64_t tokens,
                       const int32_t* block_ids, const int32_t* slots,
                       StreamHandle stream) {
  if (std::string e = CheckLayout("GpuWriteKv", layout, layer); !e.empty()) {
    return e;
  }
  if (tokens < 0) return "GpuWriteKv: tokens < 0";
  if (tokens == 0) return {};
  const int64_t kv_dim = int64_t{layout.num_kv_heads} * layout.head_dim;
  const int64_t layer_off = layer * layout.layer_stride_bytes();
  const hipStream_t s = static_cast<hipStream_t>(stream);
  const unsigned grid = GridFor(tokens * kv_dim, 256);
  auto* base = static_cast<uint8_t*>(pool);
  if (layout.f16) {
    hipLaunchKernelGGL((WriteKvKernel<true>), grid, 256, 0, s, base,
                       layout.block_bytes(), layer_off, layout.token_bytes(),
                       layout.block_size, kv_dim, k, v, tokens, block_ids,
                       slots);
  } else {
    hipLaunchKernelGGL((WriteKvKernel<false>), grid, 256, 0, s, base,
                       layout.block_bytes(), layer_off, layout.token_bytes(),
                       layout.block_size, kv_dim, k, v, tokens, block_ids,
                       slots);
  }
  return LaunchError("WriteKvKernel");
}

std::string GpuPagedAttention(const void* pool, const GpuKvLayout& layout,
                              int layer, const GpuAttentionBatch& b,
                              StreamHandle stream) {
  if (std::string e = CheckLayout("GpuPagedAttention", layout, layer);
      !e.empty()) {
    return e;
  }
  if (layout.head_dim > kGpuMaxAttentionHeadDim || b.num_heads <= 0 ||
      b.num_heads % layout.num_kv_heads != 0 || b.num_tokens < 0 ||
      b.num_tokens > 0x7FFFFFFF || b.num_heads > 65535) {
    return "GpuPagedAttention: need head_dim <= " +
           std::to_string(kGpuMaxAttentionHeadDim) +
           " and num_heads a positive multiple of num_kv_heads";
  }
  if (b.num_tokens == 0) return {};
  const dim3 grid(static_cast<unsigned>(b.num_tokens),
                  static_cast<unsigned>(b.num_heads));
  const int64_t layer_off = layer * layout.layer_stride_bytes();
  const int group = b.num_heads / layout.num_kv_heads;
  const hipStream_t s = static_cast<hipStream_t>(stream);
  const auto* base = static_cast<const uint8_t*>(pool);
  if (layout.f16) {
    hipLaunchKernelGGL((PagedAttentionKernel<true>), grid, kThreads, 0, s, base,
                       layout.block_bytes(), layer_off, layout.token_bytes(),
                       layout.block_size, layout.head_dim, group, b.num_heads,
                       b.scale, b.q, b.block_tables, b.table_begin,
                       b.context_len, b.out);
  } else {
    hipLaunchKernelGGL((PagedAttentionKernel<false>), grid, kThreads, 0, s,
                       base, layout.block_bytes(), layer_off,
                       layout.token_bytes(), layout.block_size, layout.head_dim,
                       group, b.num_heads, b.scale, b.q, b.block_tables,
                       b.table_begin, b.context_len, b.out);
  }
  return LaunchError("PagedAttentionKernel");
}

}  // namespace triptych::kernels::hip
