// Block-level top-k: each thread block sorts a chunk of 1024 scores in
// shared memory with a bitonic network, in the rank order of
// kernels/memory/top_k.h (higher first, NaN as -inf, ties by lower index),
// and writes its best k indices; the host merges the chunks' candidates.

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/hip/device_buffer.h"
#include "kernels/hip/gpu_ops.h"

namespace triptych::kernels::hip {
namespace {

__device__ inline bool Before(float ka, int32_t ia, float kb, int32_t ib) {
  if (ia < 0) return false;  // padding ranks last
  if (ib < 0) return true;
  if (ka != kb) return ka > kb;
  return ia < ib;
}

__global__ void BlockTopKKernel(const float* scores, int64_t n, int k,
                                int32_t* out) {
  __shared__ float key[kGpuTopKChunk];
  __shared__ int32_t idx[kGpuTopKChunk];
  const int t = threadIdx.x;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kGpuTopKChunk + t;
  if (i < n) {
    const float s = scores[i];
    key[t] = s != s ? -__builtin_inff() : s;
    idx[t] = static_cast<int32_t>(i);
  } else {
    key[t] = 0.0f;
    idx[t] = -1;
  }
  for (int size = 2; size <= kGpuTopKChunk; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      __syncthreads();
      const int p = t ^ stride;
      if (p > t) {
        const bool ascending = (t & size) == 0;  // ascending = rank order
        const bool swap = ascending ? Before(key[p], idx[p], key[t], idx[t])
                                    : Before(key[t], idx[t], key[p], idx[p]);
        if (swap) {
          const float kt = key[t];
          key[t] = key[p];
          key[p] = kt;
          const int32_t it = idx[t];
          idx[t] = idx[p];
          idx[p] = it;
        }
      }
    }
  }
  __syncthreads();
  if (t < k) out[static_cast<int64_t>(blockIdx.x) * k + t] = idx[t];
}

}  // namespace

std::string BlockTopKCandidates(const float* d_scores, int64_t n, int k,
                                std::vector<int32_t>* candidates) {
  candidates->clear();
  if (k <= 0 || n == 0) return {};
  if (k > kGpuMaxTopK) k = kGpuMaxTopK;
  const int64_t chunks = (n + kGpuTopKChunk - 1) / kGpuTopKChunk;
  DeviceBuffer out(sizeof(int32_t) * chunks * k);
  if (std::string e = out.error(); !e.empty()) return e;
  hipLaunchKernelGGL(BlockTopKKernel, static_cast<unsigned>(chunks),
                     kGpuTopKChunk, 0, 0, d_scores, n, k, out.as<int32_t>());
  if (std::string e = LaunchError("BlockTopKKernel"); !e.empty()) return e;
  candidates->resize(chunks * k);
  return out.Download(candidates->data(), sizeof(int32_t) * chunks * k);
}

}  // namespace triptych::kernels::hip
