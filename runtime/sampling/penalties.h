#ifndef TRIPTYCH_RUNTIME_SAMPLING_PENALTIES_H_
#define TRIPTYCH_RUNTIME_SAMPLING_PENALTIES_H_

#include <cstdint>

#include "absl/types/span.h"
#include "runtime/sampling/sampling_params.h"

namespace triptych::sampling {

// Applies params.repetition_penalty, presence_penalty and frequency_penalty
// in place to `logits`, counting the last params.penalty_window tokens of
// `generated` (all of them when the window is 0). For each distinct token t
// seen c > 0 times, in this order:
//   logits[t] = logits[t] > 0 ? logits[t] / repetition_penalty
//                             : logits[t] * repetition_penalty;
//   logits[t] -= frequency_penalty * c + presence_penalty;
// Token ids outside [0, logits.size()) are ignored. To penalise prompt
// tokens as well (vLLM does for repetition_penalty), pass prompt + output.
// Cost: O(window) plus one hash insert per distinct token; never O(vocab).
void ApplyPenalties(const SamplingParams& params, absl::Span<float> logits,
                    absl::Span<const int32_t> generated);

}  // namespace triptych::sampling

#endif  // TRIPTYCH_RUNTIME_SAMPLING_PENALTIES_H_
