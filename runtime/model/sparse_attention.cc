#include "runtime/model/sparse_attention.h"

#include <limits>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "kernels/memory/top_k.h"

namespace triptych::model {
namespace {

// This Abseil's string_view is its own type, so trimming and splitting are
// done on std::string_view here.
std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t end = s.find(sep, start);
    out.emplace_back(s.substr(start, end == std::string_view::npos ? s.npos : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

}  // namespace

absl::StatusOr<SparseAttentionOptions> ParseSparseAttention(std::string_view spec) {
  SparseAttentionOptions o;
  spec = Trim(spec);
  if (spec == "off" || spec.empty()) return o;
  bool seen[4] = {false, false, false, false};
  const char* kKeys[4] = {"budget", "dense_layers", "sink", "recent"};
  for (const std::string& piece : Split(spec, ',')) {
    const std::string item(Trim(piece));
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sparse attention: expected key=value, got '", item,
          "' (keys: budget, dense_layers, sink, recent)"));
    }
    const std::string key(Trim(std::string_view(item).substr(0, eq)));
    const std::string value(Trim(std::string_view(item).substr(eq + 1)));
    int k = 0;
    while (k < 4 && key != kKeys[k]) ++k;
    if (k == 4) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sparse attention: unknown key '", key,
          "' (keys: budget, dense_layers, sink, recent)"));
    }
    if (seen[k]) {
      return absl::InvalidArgumentError(
          absl::StrCat("sparse attention: '", key, "' given twice"));
    }
    seen[k] = true;
    int64_t v = 0;
    if (!absl::SimpleAtoi(value, &v) || v < 0 ||
        (k > 0 && v > std::numeric_limits<int>::max())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sparse attention: '", key, "' needs a non-negative integer, got '",
          value, "'"));
    }
    switch (k) {
      case 0: o.budget_tokens = v; break;
      case 1: o.dense_layers = static_cast<int>(v); break;
      case 2: o.sink_blocks = static_cast<int>(v); break;
      case 3: o.recent_blocks = static_cast<int>(v); break;
    }
  }
  if (!seen[0]) {
    return absl::InvalidArgumentError(
        "sparse attention: 'budget' is required (e.g. budget=1024)");
  }
  return o;
}

std::vector<int32_t> SelectSparseBlocks(absl::Span<const float> scores,
                                        int block_size,
                                        int32_t last_block_tokens,
                                        const SparseAttentionOptions& options) {
  const size_t n = scores.size() + 1;
  std::vector<float> all(scores.begin(), scores.end());
  all.push_back(0.0f);  // the current block: kept as part of the recent window
  std::vector<int32_t> tokens(n, block_size);
  tokens.back() = last_block_tokens;
  return kernels::memory::SelectBlocksWithinBudget(
      all, tokens, options.budget_tokens, options.sink_blocks,
      options.recent_blocks + 1);
}

}  // namespace triptych::model
