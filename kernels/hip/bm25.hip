// BM25 from CSR postings on the GPU, term-at-a-time: one launch per query
// term, one thread per posting. A posting list names each document once, so
// threads of a launch never collide, and the launches run in query order on
// one stream, so every document sums its terms in the reference order
// (kernels/memory/bm25.h) without atomics.

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/hip/device_buffer.h"
#include "kernels/hip/gpu_ops.h"

namespace triptych::kernels::hip {
namespace {

constexpr int kThreads = 256;

__global__ void Bm25TermKernel(const int32_t* doc_ids,
                               const uint32_t* term_freqs, int64_t begin,
                               int64_t end, const int32_t* doc_lengths,
                               float idf, float avg_doc_length, float k1,
                               float b, float one_minus_b, float k1_plus_1,
                               float* scores) {
  const int64_t p =
      begin + static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p >= end) return;
  const int32_t d = doc_ids[p];
  const float tf = static_cast<float>(term_freqs[p]);
  const float dl = static_cast<float>(doc_lengths[d]);
  const float norm = k1 * (one_minus_b + b * (dl / avg_doc_length));
  const float w = idf * ((tf * k1_plus_1) / (tf + norm));
  scores[d] = scores[d] + w;
}

}  // namespace

std::string GpuBm25Scores(const int64_t* term_offsets, int num_terms,
                          const int32_t* doc_ids, const uint32_t* term_freqs,
                          int64_t num_postings, const float* idf,
                          const int32_t* doc_lengths, int64_t num_docs,
                          float avg_doc_length, float k1, float b, int k,
                          float* scores, std::vector<int32_t>* candidates) {
  DeviceBuffer d_docs(sizeof(int32_t) * num_postings),
      d_tfs(sizeof(uint32_t) * num_postings),
      d_lengths(sizeof(int32_t) * num_docs), d_out(sizeof(float) * num_docs);
  for (const DeviceBuffer* buf : {&d_docs, &d_tfs, &d_lengths, &d_out}) {
    if (std::string e = buf->error(); !e.empty()) return e;
  }
  if (std::string e = d_docs.Upload(doc_ids); !e.empty()) return e;
  if (std::string e = d_tfs.Upload(term_freqs); !e.empty()) return e;
  if (std::string e = d_lengths.Upload(doc_lengths); !e.empty()) return e;
  if (num_docs > 0) {
    const hipError_t e =
        hipMemset(d_out.as<float>(), 0, sizeof(float) * num_docs);
    if (e != hipSuccess) return ErrorText(e, "hipMemset");
  }
  // Same float constants as the reference.
  const float one_minus_b = 1.0f - b;
  const float k1_plus_1 = k1 + 1.0f;
  for (int t = 0; t < num_terms; ++t) {
    const int64_t begin = term_offsets[t], end = term_offsets[t + 1];
    if (end == begin) continue;
    const int64_t grid = (end - begin + kThreads - 1) / kThreads;
    hipLaunchKernelGGL(Bm25TermKernel, static_cast<unsigned>(grid), kThreads, 0,
                       0, d_docs.as<int32_t>(), d_tfs.as<uint32_t>(), begin,
                       end, d_lengths.as<int32_t>(), idf[t], avg_doc_length, k1,
                       b, one_minus_b, k1_plus_1, d_out.as<float>());
    if (std::string e = LaunchError("Bm25TermKernel"); !e.empty()) return e;
  }
  if (std::string e = d_out.Download(scores, sizeof(float) * num_docs);
      !e.empty()) {
    return e;
  }
  return BlockTopKCandidates(d_out.as<float>(), num_docs, k, candidates);
}

}  // namespace triptych::kernels::hip
