#ifndef TRIPTYCH_RUNTIME_SAMPLING_SAMPLER_H_
#define TRIPTYCH_RUNTIME_SAMPLING_SAMPLER_H_

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "absl/types/span.h"
#include "runtime/sampling/sampling_params.h"

namespace triptych::sampling {

// Adds params.logit_bias to `logits` in place (ids past the row are
// ignored). A masked (-inf) logit stays -inf.
void ApplyLogitBias(const SamplingParams& params, absl::Span<float> logits);

// Picks the next token from a row of logits according to SamplingParams.
// One Sampler per sequence: it owns that sequence's RNG (std::mt19937_64,
// whose output the C++ standard fixes, seeded with params.seed), so a seeded
// request reproduces across runs and platforms. Uniform draws are built from
// the raw 64-bit output, never from std::*_distribution (whose algorithms are
// implementation-defined). Candidate orders are total (logit desc, id asc), so
// std::nth_element / std::sort differences between standard libraries do not
// change the result either.
//
// Log-probabilities: taken after penalties and before temperature / top-k /
// top-p / min-p, i.e. log_softmax of the penalised logits. This is what the
// model (with the requested penalties) believes, independent of how the
// token was then drawn; vLLM's default returns the same quantity without
// penalties. With temperature 0 the chosen token's logprob is still that of
// the temperature-1 distribution.
//
// Costs for a vocabulary V: penalties O(window); logprobs one O(V) pass plus
// O(V log n) for n top_logprobs; greedy O(V); plain temperature sampling two
// O(V) passes and no sort; top_k an O(V) nth_element; top_p an expected O(n)
// bisection with nth_element plus an integer sort of the kept ids, never a
// full sort by probability. Scratch buffers are reused across calls.
//
// Not thread-safe: use one Sampler per sequence, from one thread at a time.
class Sampler {
 public:
  struct Result {
    int32_t token = 0;
    // log P(token); only set when params.logprobs, else 0.
    float logprob = 0.0f;
    // The params.top_logprobs most likely tokens with their logprobs, best
    // first (ties: lower id first). Empty unless requested.
    std::vector<std::pair<int32_t, float>> top_logprobs;
  };

  // Precondition: Validate(params).ok(); aborts otherwise (validate untrusted
  // requests first and return the Status to the client).
  explicit Sampler(const SamplingParams& params);

  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // Samples one token. `logits` (one row, size = vocabulary) receives the
  // logit bias and the penalties in place and is otherwise left unchanged. `generated` holds the
  // tokens produced so far for this sequence (see ApplyPenalties).
  // Preconditions: logits is non-empty, holds no NaN, and has at least one
  // finite value (masked tokens may be -inf); aborts otherwise.
  Result Sample(absl::Span<float> logits, absl::Span<const int32_t> generated);

  const SamplingParams& params() const { return params_; }

 private:
  // Uniform double in [0, 1) from the top 53 bits of one RNG output.
  double NextUniform();
  int32_t Draw(absl::Span<const float> logits, float max_logit);

  const SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<int32_t> candidates_;  // Scratch, reused across calls.
  std::vector<float> weights_;       // Scratch, reused across calls.
};

}  // namespace triptych::sampling

#endif  // TRIPTYCH_RUNTIME_SAMPLING_SAMPLER_H_
