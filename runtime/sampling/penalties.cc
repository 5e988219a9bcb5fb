#include "runtime/sampling/penalties.h"

#include <cstddef>

#include "absl/container/flat_hash_map.h"

namespace triptych::sampling {

void ApplyPenalties(const SamplingParams& params, absl::Span<float> logits,
                    absl::Span<const int32_t> generated) {
  const bool has_penalty = params.repetition_penalty != 1.0f ||
                           params.presence_penalty != 0.0f ||
                           params.frequency_penalty != 0.0f;
  if (!has_penalty || generated.empty()) return;
  if (params.penalty_window > 0 &&
      generated.size() > static_cast<size_t>(params.penalty_window)) {
    generated = generated.subspan(generated.size() - params.penalty_window);
  }
  absl::flat_hash_map<int32_t, int32_t> counts;
  counts.reserve(generated.size());
  const auto vocab = static_cast<int64_t>(logits.size());
  for (int32_t token : generated) {
    if (token < 0 || token >= vocab) continue;
    ++counts[token];
  }
  for (const auto& [token, count] : counts) {
    float& logit = logits[token];
    if (params.repetition_penalty != 1.0f) {
      logit = logit > 0 ? logit / params.repetition_penalty
                        : logit * params.repetition_penalty;
    }
    logit -= params.frequency_penalty * static_cast<float>(count) +
             params.presence_penalty;
  }
}

}  // namespace triptych::sampling
