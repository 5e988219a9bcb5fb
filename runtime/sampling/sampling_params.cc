#include "runtime/sampling/sampling_params.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace triptych::sampling {
namespace {

// Closed range check that also rejects NaN and infinities.
absl::Status CheckRange(const char* name, float value, float lo, float hi) {
  if (!std::isfinite(value) || value < lo || value > hi) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must be in [", lo, ", ", hi, "], got ", value));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Validate(const SamplingParams& params) {
  if (absl::Status s = CheckRange("temperature", params.temperature, 0, 2);
      !s.ok()) {
    return s;
  }
  if (params.top_k < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("top_k must be >= 0 (0 disables it), got ", params.top_k));
  }
  if (!std::isfinite(params.top_p) || params.top_p <= 0 || params.top_p > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("top_p must be in (0, 1], got ", params.top_p));
  }
  if (absl::Status s = CheckRange("min_p", params.min_p, 0, 1); !s.ok()) {
    return s;
  }
  if (!std::isfinite(params.repetition_penalty) ||
      params.repetition_penalty <= 0 || params.repetition_penalty > 10) {
    return absl::InvalidArgumentError(
        absl::StrCat("repetition_penalty must be in (0, 10], got ",
                     params.repetition_penalty));
  }
  if (absl::Status s =
          CheckRange("presence_penalty", params.presence_penalty, -2, 2);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          CheckRange("frequency_penalty", params.frequency_penalty, -2, 2);
      !s.ok()) {
    return s;
  }
  if (params.penalty_window < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "penalty_window must be >= 0 (0 means all generated tokens), got ",
        params.penalty_window));
  }
  if (params.top_logprobs < 0 || params.top_logprobs > 20) {
    return absl::InvalidArgumentError(absl::StrCat(
        "top_logprobs must be in [0, 20], got ", params.top_logprobs));
  }
  if (params.top_logprobs > 0 && !params.logprobs) {
    return absl::InvalidArgumentError(
        "top_logprobs requires logprobs to be true");
  }
  for (const auto& [token, bias] : params.logit_bias) {
    if (token < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("logit_bias token ids must be >= 0, got ", token));
    }
    if (!std::isfinite(bias) || bias < -kMaxLogitBias || bias > kMaxLogitBias) {
      return absl::InvalidArgumentError(absl::StrCat(
          "logit_bias values must be in [-100, 100], got ", bias,
          " for token ", token));
    }
  }
  return absl::OkStatus();
}

}  // namespace triptych::sampling
