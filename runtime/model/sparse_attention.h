#ifndef TRIPTYCH_RUNTIME_MODEL_SPARSE_ATTENTION_H_
#define TRIPTYCH_RUNTIME_MODEL_SPARSE_ATTENTION_H_

// Quest-style sparse attention for decode over long contexts.
//
// The four steps of the memory pipeline, on the decode node:
//  1. Prepare Memory: when a KV block becomes full the model summarises its
//     keys (per layer, KV head and channel: min and max) into the cache's
//     side array (kv::KvCacheOptions::key_summaries); blocks that arrived
//     another way (remote prefill, import) are summarised on first use.
//  2. Compute Relevancy: in a decode step (one new token), for layers >=
//     dense_layers, each full block before the current token's block is
//     scored with the Quest bound, max over the query heads of each KV group
//     (kernels/memory/quest.h).
//  3. Retrieval: per KV head, SelectBlocksWithinBudget keeps the first
//     `sink_blocks`, the last `recent_blocks` full blocks plus the current
//     (partial) block, and the best-scoring others within `budget_tokens`.
//  4. Apply: attention runs over the selected blocks only.
// Prefill (more than one new token) and the first dense_layers layers stay
// dense, as does any step whose context fits the budget.

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace triptych::model {

struct SparseAttentionOptions {
  int64_t budget_tokens = 0;  // tokens attended per layer and KV head; 0 = dense
  int dense_layers = 2;       // layers [0, dense_layers) always attend densely
  int sink_blocks = 1;        // first blocks always kept
  int recent_blocks = 4;      // last full blocks always kept (plus the partial one)

  bool enabled() const { return budget_tokens > 0; }
};

// Parses "budget=1024[,dense_layers=2,sink=1,recent=4]" (keys in any order,
// each at most once; "off" or "budget=0" disables). Unset keys keep the
// defaults above. Errors: kInvalidArgument naming the bad item.
absl::StatusOr<SparseAttentionOptions> ParseSparseAttention(std::string_view spec);

// Which blocks of a context to attend in a sparse step. `scores` holds the
// Quest score of each full block before the current one (index i = block
// i); the current block (num_blocks - 1, holding `last_block_tokens`
// tokens) is always kept. Returns block indices in increasing order.
std::vector<int32_t> SelectSparseBlocks(absl::Span<const float> scores,
                                        int block_size,
                                        int32_t last_block_tokens,
                                        const SparseAttentionOptions& options);

}  // namespace triptych::model

#endif  // TRIPTYCH_RUNTIME_MODEL_SPARSE_ATTENTION_H_
