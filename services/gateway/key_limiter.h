#ifndef TRIPTYCH_SERVICES_GATEWAY_KEY_LIMITER_H_
#define TRIPTYCH_SERVICES_GATEWAY_KEY_LIMITER_H_

// Per-API-key limits at the gateway: generations in flight at once and
// tokens per minute (prompt + completion), so one key cannot take the
// cluster from the others.
//
// Tokens: each key has a bucket of `tokens_per_minute` tokens refilled
// continuously. Admission charges prompt + max_tokens (what the request
// may use) and needs that many tokens in the bucket; Release refunds the
// completion tokens not generated. A request larger than a whole minute's
// budget is refused outright (it could never run).
//
// Thread safety: thread-safe.

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace triptych::gateway {

struct KeyLimit {
  int64_t max_concurrency = 0;    // generations in flight; 0 = unlimited
  int64_t tokens_per_minute = 0;  // 0 = unlimited
};

// What Acquire took; give it back to Release.
struct KeyGrant {
  std::string key;
  int64_t charged_tokens = 0;
  int64_t max_completion_tokens = 0;
  bool held = false;
};

class KeyLimiter {
 public:
  // `defaults` apply to every key without an entry in `per_key`.
  KeyLimiter(KeyLimit defaults, absl::flat_hash_map<std::string, KeyLimit> per_key);

  // Parses "KEY:CONCURRENCY:TOKENS_PER_MINUTE" (0 = unlimited for either).
  // kInvalidArgument otherwise.
  static absl::StatusOr<std::pair<std::string, KeyLimit>> ParseSpec(const std::string& spec);

  bool enabled() const { return enabled_; }

  // Admits one generation of `key` needing prompt_tokens + max_completion
  // tokens at `now`. kResourceExhausted (HTTP 429) with the reason when the
  // key is at its concurrency or out of tokens (the message says when to
  // retry); kInvalidArgument... never: oversized requests are also
  // kResourceExhausted, with a message saying they can never fit.
  absl::StatusOr<KeyGrant> Acquire(const std::string& key, int64_t prompt_tokens,
                                   int64_t max_completion, absl::Time now);
  // Ends a generation: frees its slot and refunds the completion tokens it
  // did not use.
  void Release(const KeyGrant& grant, int64_t completion_tokens, absl::Time now);

  // For tests and metrics: requests of `key` in flight.
  int64_t in_flight(const std::string& key) const;

 private:
  struct State {
    int64_t in_flight = 0;
    double tokens = 0;  // bucket level
    absl::Time refilled;
    bool initialised = false;
  };
  const KeyLimit& LimitFor(const std::string& key) const;
  static void Refill(const KeyLimit& limit, State& s, absl::Time now);

  const KeyLimit defaults_;
  const absl::flat_hash_map<std::string, KeyLimit> per_key_;
  const bool enabled_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, State> state_ ABSL_GUARDED_BY(mu_);
};

}  // namespace triptych::gateway

#endif  // TRIPTYCH_SERVICES_GATEWAY_KEY_LIMITER_H_
