#ifndef TRIPTYCH_KERNELS_HIP_GPU_OPS_H_
#define TRIPTYCH_KERNELS_HIP_GPU_OPS_H_

// Host entry points of the GPU memory kernels (implemented in the .hip files
// of this folder, compiled by hipcc or nvcc; gpu_stub.cc when neither is
// available). Plain C++ with no runtime or Abseil types, so the backend
// (gpu_backend.cc) is built by the ordinary C++ compiler.
//
// Every function takes host pointers, moves inputs to the current device,
// runs, and copies results back; it returns an empty string on success or
// the runtime's error message. Arithmetic follows the CPU reference order
// (kernels/memory/quest.h, dense_ip.h, bm25.h): 16 lanes per row reduced as
// a tree, no FMA contraction (the sources are compiled with it off), and
// BM25 term-at-a-time with one launch per term, so no atomics reorder sums.
//
// Top-k: each run also returns candidate indices: the best min(k, 1024) of
// each chunk of 1024 scores (block-level bitonic sort in the top-k order of
// kernels/memory/top_k.h; -1 pads short chunks). The k best overall are
// among them; the host merges. Requires 1 <= k <= kGpuMaxTopK, or k = 0 for
// no candidates.

#include <cstdint>
#include <string>
#include <vector>

namespace triptych::kernels::hip {

inline constexpr int kGpuTopKChunk = 1024;
inline constexpr int kGpuMaxTopK = kGpuTopKChunk;

// "hip", "cuda" or "none" (stub build).
const char* GpuRuntimeName();
// Number of devices; 0 with a message in *error when the runtime has none
// or fails to initialise.
int GpuDeviceCount(std::string* error);
std::string GpuSetDevice(int device);

std::string GpuQuestScores(const float* query, int num_heads, int head_dim,
                           const float* mins, const float* maxs,
                           int64_t num_blocks, int k, float* scores,
                           std::vector<int32_t>* candidates);

std::string GpuDenseScores(const float* query, const float* docs,
                           int64_t num_docs, int dim, int k, float* scores,
                           std::vector<int32_t>* candidates);

// idf: [num_terms] from kernels::memory::Bm25Idf (host).
std::string GpuBm25Scores(const int64_t* term_offsets, int num_terms,
                          const int32_t* doc_ids, const uint32_t* term_freqs,
                          int64_t num_postings, const float* idf,
                          const int32_t* doc_lengths, int64_t num_docs,
                          float avg_doc_length, float k1, float b, int k,
                          float* scores, std::vector<int32_t>* candidates);

}  // namespace triptych::kernels::hip

#endif  // TRIPTYCH_KERNELS_HIP_GPU_OPS_H_
