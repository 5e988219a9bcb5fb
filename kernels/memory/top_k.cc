#include "kernels/memory/top_k.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace triptych::kernels::memory {
namespace {

inline float Key(float s) {
  return std::isnan(s) ? -std::numeric_limits<float>::infinity() : s;
}

}  // namespace

bool RanksBefore(float score_a, int32_t index_a, float score_b,
                 int32_t index_b) {
  const float a = Key(score_a), b = Key(score_b);
  if (a != b) return a > b;
  return index_a < index_b;
}

std::vector<ScoredIndex> TopK(absl::Span<const float> scores, int k) {
  const int64_t n = static_cast<int64_t>(scores.size());
  const int64_t kk = std::min<int64_t>(std::max(k, 0), n);
  std::vector<ScoredIndex> heap;
  if (kk == 0) return heap;
  heap.reserve(kk);
  // A heap whose front is the worst kept entry.
  auto better = [](const ScoredIndex& a, const ScoredIndex& b) {
    return RanksBefore(a.score, a.index, b.score, b.index);
  };
  for (int64_t i = 0; i < n; ++i) {
    const ScoredIndex e{static_cast<int32_t>(i), scores[i]};
    if (static_cast<int64_t>(heap.size()) < kk) {
      heap.push_back(e);
      std::push_heap(heap.begin(), heap.end(), better);
    } else if (better(e, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), better);
      heap.back() = e;
      std::push_heap(heap.begin(), heap.end(), better);
    }
  }
  std::sort_heap(heap.begin(), heap.end(), better);
  return heap;
}

std::vector<int32_t> SelectBlocksWithinBudget(
    absl::Span<const float> scores, absl::Span<const int32_t> block_tokens,
    int64_t token_budget, int sink_blocks, int recent_window_blocks) {
  const int64_t n = static_cast<int64_t>(scores.size());
  std::vector<char> keep(n, 0);
  int64_t used = 0;
  const int64_t sinks = std::min<int64_t>(std::max(sink_blocks, 0), n);
  const int64_t recent_begin =
      std::max<int64_t>(n - std::max(recent_window_blocks, 0), 0);
  for (int64_t b = 0; b < n; ++b) {
    if (b < sinks || b >= recent_begin) {
      keep[b] = 1;
      used += block_tokens[b];
    }
  }
  // The rest in rank order, each taken when it still fits.
  std::vector<int32_t> rest;
  rest.reserve(n);
  for (int64_t b = sinks; b < recent_begin; ++b) {
    rest.push_back(static_cast<int32_t>(b));
  }
  std::sort(rest.begin(), rest.end(), [&](int32_t a, int32_t b) {
    return RanksBefore(scores[a], a, scores[b], b);
  });
  for (int32_t b : rest) {
    if (used + block_tokens[b] <= token_budget) {
      keep[b] = 1;
      used += block_tokens[b];
    }
  }
  std::vector<int32_t> selected;
  for (int64_t b = 0; b < n; ++b) {
    if (keep[b]) selected.push_back(static_cast<int32_t>(b));
  }
  return selected;
}

}  // namespace triptych::kernels::memory
