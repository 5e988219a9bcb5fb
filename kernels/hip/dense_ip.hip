// Dense inner products on the GPU: 16 threads per document row, lane j
// summing q[i] * d[i] for i = j, j + 16, ..., then the canonical tree
// reduction (kernels/memory/dense_ip.h). No FMA contraction (build flag).

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

__global__ void DenseIpKernel(const float* q, const float* docs,
                              int64_t num_docs, int dim, float* scores) {
  __shared__ float red[kThreads];
  const int t = threadIdx.x;
  const int lane = t % kLanes;
  const int64_t d =
      static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + t / kLanes;
  float s = 0.0f;
  if (d < num_docs) {
    const float* row = docs + d * dim;
    for (int i = lane; i < dim; i += kLanes) s = s + q[i] * row[i];
  }
  red[t] = s;
  __syncthreads();
  for (int w = kLanes / 2; w >= 1; w /= 2) {
    if (lane < w) red[t] = red[t] + red[t + w];
    __syncthreads();
  }
  if (d < num_docs && lane == 0) scores[d] = red[t];
}

}  // namespace

std::string GpuDenseScores(const float* query, const float* docs,
                           int64_t num_docs, int dim, int k, float* scores,
                           std::vector<int32_t>* candidates) {
  DeviceBuffer d_q(sizeof(float) * dim), d_docs(sizeof(float) * num_docs * dim),
      d_out(sizeof(float) * num_docs);
  for (const DeviceBuffer* buf : {&d_q, &d_docs, &d_out}) {
    if (std::string e = buf->error(); !e.empty()) return e;
  }
  if (std::string e = d_q.Upload(query); !e.empty()) return e;
  if (std::string e = d_docs.Upload(docs); !e.empty()) return e;
  if (num_docs > 0) {
    const int64_t grid = (num_docs + kRowsPerBlock - 1) / kRowsPerBlock;
    hipLaunchKernelGGL(DenseIpKernel, static_cast<unsigned>(grid), kThreads, 0,
                       0, d_q.as<float>(), d_docs.as<float>(), num_docs, dim,
                       d_out.as<float>());
    if (std::string e = LaunchError("DenseIpKernel"); !e.empty()) return e;
  }
  if (std::string e = d_out.Download(scores, sizeof(float) * num_docs);
      !e.empty()) {
    return e;
  }
  return BlockTopKCandidates(d_out.as<float>(), num_docs, k, candidates);
}

}  // namespace triptych::kernels::hip
