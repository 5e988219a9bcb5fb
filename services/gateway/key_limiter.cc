#include "services/gateway/key_limiter.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace triptych::gateway {

KeyLimiter::KeyLimiter(KeyLimit defaults, absl::flat_hash_map<std::string, KeyLimit> per_key)
    : defaults_(defaults),
      per_key_(std::move(per_key)),
      enabled_(defaults.max_concurrency > 0 || defaults.tokens_per_minute > 0 ||
               !per_key_.empty()) {}

absl::StatusOr<std::pair<std::string, KeyLimit>> KeyLimiter::ParseSpec(const std::string& spec) {
  // The key may itself contain ':'; the two limits are the last fields.
  const size_t b = spec.rfind(':');
  const size_t a = b == std::string::npos || b == 0 ? std::string::npos : spec.rfind(':', b - 1);
  KeyLimit limit;
  if (a == std::string::npos || a == 0 ||
      !absl::SimpleAtoi(spec.substr(a + 1, b - a - 1), &limit.max_concurrency) ||
      !absl::SimpleAtoi(spec.substr(b + 1), &limit.tokens_per_minute) ||
      limit.max_concurrency < 0 || limit.tokens_per_minute < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key limit '", spec, "' is not KEY:CONCURRENCY:TOKENS_PER_MINUTE (0 = unlimited)"));
  }
  return std::make_pair(spec.substr(0, a), limit);
}

const KeyLimit& KeyLimiter::LimitFor(const std::string& key) const {
  auto it = per_key_.find(key);
  return it == per_key_.end() ? defaults_ : it->second;
}

void KeyLimiter::Refill(const KeyLimit& limit, State& s, absl::Time now) {
  if (!s.initialised) {
    s.tokens = static_cast<double>(limit.tokens_per_minute);
    s.refilled = now;
    s.initialised = true;
    return;
  }
  if (limit.tokens_per_minute <= 0 || now <= s.refilled) return;
  const double per_second = static_cast<double>(limit.tokens_per_minute) / 60.0;
  s.tokens = std::min(static_cast<double>(limit.tokens_per_minute),
                      s.tokens + per_second * absl::ToDoubleSeconds(now - s.refilled));
  s.refilled = now;
}

absl::StatusOr<KeyGrant> KeyLimiter::Acquire(const std::string& key, int64_t prompt_tokens,
                                             int64_t max_completion, absl::Time now) {
  KeyGrant grant;
  grant.key = key;
  if (!enabled_) return grant;
  const KeyLimit& limit = LimitFor(key);
  const int64_t need = prompt_tokens + max_completion;
  absl::MutexLock lock(&mu_);
  State& s = state_[key];
  Refill(limit, s, now);
  if (limit.max_concurrency > 0 && s.in_flight >= limit.max_concurrency) {
    return absl::ResourceExhaustedError(
        absl::StrCat("This API key has ", s.in_flight,
                     " requests in flight, its limit; retry when one finishes."));
  }
  if (limit.tokens_per_minute > 0) {
    if (need > limit.tokens_per_minute) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "This request may use ", need, " tokens (prompt + max_tokens); the API key's limit is ",
          limit.tokens_per_minute, " tokens per minute. Lower max_tokens or the prompt."));
    }
    if (s.tokens < static_cast<double>(need)) {
      const double per_second = static_cast<double>(limit.tokens_per_minute) / 60.0;
      const double wait_s = std::ceil((static_cast<double>(need) - s.tokens) / per_second);
      return absl::ResourceExhaustedError(absl::StrCat(
          "Rate limit reached for this API key: ", limit.tokens_per_minute,
          " tokens per minute; this request may use ", need, ". Retry in ",
          static_cast<int64_t>(wait_s), " s."));
    }
    s.tokens -= static_cast<double>(need);
  }
  ++s.in_flight;
  grant.charged_tokens = limit.tokens_per_minute > 0 ? need : 0;
  grant.max_completion_tokens = max_completion;
  grant.held = true;
  return grant;
}

void KeyLimiter::Release(const KeyGrant& grant, int64_t completion_tokens, absl::Time now) {
  if (!grant.held) return;
  const KeyLimit& limit = LimitFor(grant.key);
  absl::MutexLock lock(&mu_);
  State& s = state_[grant.key];
  Refill(limit, s, now);
  s.in_flight = std::max<int64_t>(0, s.in_flight - 1);
  if (grant.charged_tokens > 0) {
    const int64_t unused =
        std::max<int64_t>(0, grant.max_completion_tokens - completion_tokens);
    s.tokens = std::min(static_cast<double>(limit.tokens_per_minute),
                        s.tokens + static_cast<double>(unused));
  }
}

int64_t KeyLimiter::in_flight(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  auto it = state_.find(key);
  return it == state_.end() ? 0 : it->second.in_flight;
}

}  // namespace triptych::gateway
