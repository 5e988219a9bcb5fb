#ifndef TRIPTYCH_KERNELS_MEMORY_TOP_K_H_
#define TRIPTYCH_KERNELS_MEMORY_TOP_K_H_

// Retrieval: top-k selection over scores, and the token-budget block
// selection of sparse attention.
//
// Order used everywhere (CPU, FPGA, GPU): a higher score ranks first; equal
// scores rank by lower index; NaN ranks as -infinity (so below every number,
// tied with -inf by index). +0 and -0 are equal.
//
// All functions are thread-safe (pure).

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace triptych::kernels::memory {

struct ScoredIndex {
  int32_t index = 0;
  float score = 0.0f;

  bool operator==(const ScoredIndex&) const = default;
};

// True when (score_a, index_a) ranks before (score_b, index_b).
bool RanksBefore(float score_a, int32_t index_a, float score_b,
                 int32_t index_b);

// The min(k, scores.size()) best entries in rank order. O(n log k).
// k <= 0 gives an empty result. Precondition: scores.size() < 2^31.
std::vector<ScoredIndex> TopK(absl::Span<const float> scores, int k);

// Sparse-attention block selection. block_tokens[b] is the number of tokens
// in block b (the last block may be partial); scores[b] its relevancy.
// Always keeps the first `sink_blocks` blocks and the last
// `recent_window_blocks` blocks, even when they alone exceed the budget
// (attention without them is not worth running). The other blocks are taken
// in rank order while their tokens fit in what is left of `token_budget`; a
// block that does not fit is skipped and smaller ones may still be taken.
// Returns the selected block indices in increasing order (the order
// attention reads them). A budget >= the total token count keeps every
// block. Preconditions: scores.size() == block_tokens.size(),
// block_tokens[b] >= 0, sink_blocks >= 0, recent_window_blocks >= 0.
std::vector<int32_t> SelectBlocksWithinBudget(
    absl::Span<const float> scores, absl::Span<const int32_t> block_tokens,
    int64_t token_budget, int sink_blocks = 1, int recent_window_blocks = 1);

}  // namespace triptych::kernels::memory

#endif  // TRIPTYCH_KERNELS_MEMORY_TOP_K_H_
