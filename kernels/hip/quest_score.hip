// Quest block scores on the GPU. 16 threads score one summary block: lane j
// accumulates elements j, j + 16, ... (coalesced 64-byte reads per group),
// then the group reduces its lanes in shared memory as the canonical tree
// s[j] += s[j + w], w = 8, 4, 2, 1 (kernels/memory/quest.h), and takes the
// max over the group's query heads. Bit-identical to the CPU reference when
// compiled without FMA contraction (the build passes the flag).

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/hip/device_buffer.h"
#include "kernels/hip/gpu_ops.h"

namespace triptych::kernels::hip {
namespace {

constexpr int kLanes = 16;
constexpr int kThreads = 256;
constexpr int kRowsPerBlock = kThreads / kLanes;

__device__ inline float Max(float a, float b) { return a > b ? a : b; }

__global__ void QuestScoreKernel(const float* q, int num_heads, int head_dim,
                                 const float* mins, const float* maxs,
                                 int64_t num_blocks, float* scores) {
  __shared__ float red[kThreads];
  const int t = threadIdx.x;
  const int lane = t % kLanes;
  const int group = t / kLanes;
  const int64_t b = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + group;
  const bool active = b < num_blocks;
  const float* mn = mins + (active ? b : 0) * head_dim;
  const float* mx = maxs + (active ? b : 0) * head_dim;
  float best = 0.0f;
  for (int h = 0; h < num_heads; ++h) {
    const float* qh = q + static_cast<int64_t>(h) * head_dim;
    float s = 0.0f;
    if (active) {
      for (int i = lane; i < head_dim; i += kLanes) {
        const float lo = qh[i] * mn[i];
        const float hi = qh[i] * mx[i];
        s = s + Max(lo, hi);
      }
    }
    red[t] = s;
    __syncthreads();
    for (int w = kLanes / 2; w >= 1; w /= 2) {
      if (lane < w) red[t] = red[t] + red[t + w];
      __syncthreads();
    }
    if (lane == 0) best = h == 0 ? red[t] : Max(red[t], best);
    __syncthreads();
  }
  if (active && lane == 0) scores[b] = best;
}

}  // namespace

std::string GpuQuestScores(const float* query, int num_heads, int head_dim,
                           const float* mins, const float* maxs,
                           int64_t num_blocks, int k, float* scores,
                           std::vector<int32_t>* candidates) {
  const size_t q_bytes = sizeof(float) * num_heads * head_dim;
  const size_t s_bytes = sizeof(float) * num_blocks * head_dim;
  DeviceBuffer d_q(q_bytes), d_min(s_bytes), d_max(s_bytes),
      d_out(sizeof(float) * num_blocks);
  for (const DeviceBuffer* buf : {&d_q, &d_min, &d_max, &d_out}) {
    if (std::string e = buf->error(); !e.empty()) return e;
  }
  for (auto [buf, src] : {std::pair{&d_q, static_cast<const void*>(query)},
                          std::pair{&d_min, static_cast<const void*>(mins)},
                          std::pair{&d_max, static_cast<const void*>(maxs)}}) {
    if (std::string e = buf->Upload(src); !e.empty()) return e;
  }
  if (num_blocks > 0) {
    const int64_t grid = (num_blocks + kRowsPerBlock - 1) / kRowsPerBlock;
    hipLaunchKernelGGL(QuestScoreKernel, static_cast<unsigned>(grid), kThreads,
                       0, 0, d_q.as<float>(), num_heads, head_dim,
                       d_min.as<float>(), d_max.as<float>(), num_blocks,
                       d_out.as<float>());
    if (std::string e = LaunchError("QuestScoreKernel"); !e.empty()) return e;
  }
  if (std::string e = d_out.Download(scores, sizeof(float) * num_blocks);
      !e.empty()) {
    return e;
  }
  return BlockTopKCandidates(d_out.as<float>(), num_blocks, k, candidates);
}

}  // namespace triptych::kernels::hip
