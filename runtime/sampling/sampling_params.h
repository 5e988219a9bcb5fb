#ifndef TRIPTYCH_RUNTIME_SAMPLING_SAMPLING_PARAMS_H_
#define TRIPTYCH_RUNTIME_SAMPLING_SAMPLING_PARAMS_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace triptych::sampling {

// Per-request sampling configuration, with OpenAI / vLLM semantics. A plain
// value type; check untrusted values with Validate() before building a
// Sampler from them.
//
// Processing order inside Sampler::Sample:
//   logit_bias -> [constraint mask, by the caller] -> penalties ->
//   [logprobs taken here] -> temperature -> min_p -> top_k ->
//   top_p -> draw.
struct SamplingParams {
  // Softmax temperature, [0, 2]. 0 selects greedy decoding (argmax, ties go
  // to the lowest token id) and ignores top_k / top_p / min_p.
  float temperature = 1.0f;
  // Keep only the k most likely tokens; 0 disables. Must be >= 0.
  int32_t top_k = 0;
  // Nucleus sampling: keep the smallest set of most likely tokens whose
  // cumulative probability is >= top_p. (0, 1]; 1 disables.
  float top_p = 1.0f;
  // Drop tokens whose probability is < min_p * (probability of the most
  // likely token). [0, 1]; 0 disables.
  float min_p = 0.0f;
  // CTRL / llama.cpp style: for every token in the penalty window, a positive
  // logit is divided by this value and a negative one multiplied by it.
  // (0, 10]; 1 disables.
  float repetition_penalty = 1.0f;
  // OpenAI semantics over the penalty window: subtract presence_penalty once
  // from every token that occurs, and frequency_penalty * count. [-2, 2].
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  // How many of the most recent `generated` tokens the three penalties look
  // at; 0 means all of them. Must be >= 0.
  int32_t penalty_window = 0;
  // Seeds the sampler's own RNG; the same seed and inputs give the same
  // tokens on every run and platform (up to libm differences in exp()).
  uint64_t seed = 0;
  // Return the sampled token's log-probability.
  bool logprobs = false;
  // Also return this many most likely alternatives, [0, 20]; needs
  // logprobs == true (as in the OpenAI API).
  int32_t top_logprobs = 0;
  // OpenAI logit_bias: (token id, bias) pairs added to that token's logit
  // before anything else; bias in [-100, 100] (-100 effectively bans the
  // token, 100 effectively forces it). Ids must be >= 0; the vocabulary
  // bound is the caller's to check (Sampler ignores ids past the row).
  std::vector<std::pair<int32_t, float>> logit_bias;
};

// The largest |bias| a logit_bias entry may have (OpenAI's bound).
inline constexpr float kMaxLogitBias = 100.0f;

// Returns OK when every field is in range, else kInvalidArgument whose
// message names the field, its value and the accepted range. Rejects NaN.
absl::Status Validate(const SamplingParams& params);

}  // namespace triptych::sampling

#endif  // TRIPTYCH_RUNTIME_SAMPLING_SAMPLING_PARAMS_H_
