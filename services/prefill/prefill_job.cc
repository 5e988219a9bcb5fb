#include "services/prefill/prefill_job.h"

#include "absl/strings/str_cat.h"

namespace triptych::prefill {

absl::Status ValidateJob(const PrefillJob& job, const JobLimits& limits) {
  if (!(job.geometry == limits.geometry)) {
    return absl::FailedPreconditionError(
        "KV geometry of the decode node differs from this prefill node's");
  }
  const int64_t n = static_cast<int64_t>(job.tokens.size());
  const int64_t bs = limits.geometry.block_size;
  if (n == 0) return absl::InvalidArgumentError("no tokens to prefill");
  if (n >= limits.context_length) {
    return absl::InvalidArgumentError("prompt longer than the context length");
  }
  for (int32_t t : job.tokens) {
    if (t < 0 || t >= limits.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("token id ", t, " out of range"));
    }
  }
  if (static_cast<int64_t>(job.target.block_ids.size()) < (n + bs - 1) / bs) {
    return absl::InvalidArgumentError("fewer target blocks than the prompt needs");
  }
  if (job.skip_tokens < 0 || job.skip_tokens % bs != 0 || job.skip_tokens >= n) {
    return absl::InvalidArgumentError("skip_tokens must be a block multiple below the prompt length");
  }
  if (job.target.block_bytes != limits.block_bytes) {
    return absl::FailedPreconditionError("target block size in bytes differs");
  }
  for (int32_t b : job.target.block_ids) {
    if (b < 0) return absl::InvalidArgumentError("negative target block id");
  }
  return absl::OkStatus();
}

}  // namespace triptych::prefill
