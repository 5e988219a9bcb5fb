// KvHistoryStore::SelectRelevant: Compute Relevancy (Quest bounds from the
// stored summaries) + Retrieval (budgeted block selection) over a chain.

#include <algorithm>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "kernels/memory/top_k.h"
#include "memory/kv_history_store.h"

namespace triptych::memory {

absl::StatusOr<std::vector<BlockHash>> KvHistoryStore::SelectRelevant(
    absl::Span<const BlockHash> chain, const RelevanceQuery& q,
    int64_t token_budget, int sink_blocks, int recent_window_blocks) const {
  const KvBlockShape& g = options_.geometry;
  if (token_budget < 0 || sink_blocks < 0 || recent_window_blocks < 0) {
    return absl::InvalidArgumentError(
        "select relevant: budget, sink and recent window must be >= 0");
  }
  if (q.num_heads <= 0 || q.num_heads % g.num_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "select relevant: num_heads ", q.num_heads,
        " must be a positive multiple of num_kv_heads ", g.num_kv_heads));
  }
  std::vector<int> layers = q.layers;
  if (layers.empty()) {
    for (int l = 0; l < g.num_layers; ++l) layers.push_back(l);
  }
  for (const int l : layers) {
    if (l < 0 || l >= g.num_layers) {
      return absl::InvalidArgumentError(
          absl::StrCat("select relevant: layer ", l, " out of range"));
    }
  }
  const int64_t per_layer = int64_t{q.num_heads} * g.head_dim;
  if (static_cast<int64_t>(q.q.size()) !=
      per_layer * static_cast<int64_t>(layers.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "select relevant: query has ", q.q.size(), " floats, expected ",
        per_layer * static_cast<int64_t>(layers.size()), " ([", layers.size(),
        " layers][", q.num_heads, " heads][", g.head_dim, "])"));
  }
  if (chain.empty()) return std::vector<BlockHash>{};

  std::vector<std::vector<float>> mins, maxs;
  RETURN_IF_ERROR(GatherSummaries(chain, &mins, &maxs));

  const int64_t nb = static_cast<int64_t>(chain.size());
  const int group = q.num_heads / g.num_kv_heads;
  std::vector<float> best(nb, -std::numeric_limits<float>::infinity());
  std::vector<float> scores(nb);
  for (size_t li = 0; li < layers.size(); ++li) {
    for (int h = 0; h < g.num_kv_heads; ++h) {
      const int grp = layers[li] * g.num_kv_heads + h;
      kernels::memory::QuestInput in;
      in.query = absl::MakeConstSpan(
          q.q.data() + li * per_layer + int64_t{h} * group * g.head_dim,
          static_cast<size_t>(group) * g.head_dim);
      in.num_heads = group;
      in.head_dim = g.head_dim;
      in.mins = mins[grp];
      in.maxs = maxs[grp];
      RETURN_IF_ERROR(backend_->QuestScores(in, absl::MakeSpan(scores)));
      for (int64_t b = 0; b < nb; ++b) {
        // NaN never wins (top_k.h ranks NaN as -inf).
        if (scores[b] > best[b]) best[b] = scores[b];
      }
    }
  }
  const std::vector<int32_t> tokens(nb, g.block_tokens);
  const std::vector<int32_t> picked = kernels::memory::SelectBlocksWithinBudget(
      best, tokens, token_budget, sink_blocks, recent_window_blocks);
  {
    absl::MutexLock lock(&mu_);
    ++counters_.relevance_queries;
    counters_.relevance_blocks_scored += nb;
    counters_.relevance_blocks_selected += static_cast<int64_t>(picked.size());
    counters_.relevance_summary_bytes +=
        nb * static_cast<int64_t>(layers.size()) * g.num_kv_heads * g.head_dim *
        2 * static_cast<int64_t>(sizeof(float));
  }
  std::vector<BlockHash> out;
  out.reserve(picked.size());
  for (const int32_t b : picked) out.push_back(chain[b]);
  return out;
}

}  // namespace triptych::memory
