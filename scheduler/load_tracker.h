#ifndef TRIPTYCH_SCHEDULER_LOAD_TRACKER_H_
#define TRIPTYCH_SCHEDULER_LOAD_TRACKER_H_

// The scheduler's own, up-to-the-moment view of the work it has handed to
// each node (heartbeat load lags by up to an interval), plus latency
// estimates learned from the streams it relays:
//  - in-flight requests per decode node;
//  - prompt tokens waiting to be prefilled per node (prefill node, or the
//    decode node when it prefills locally);
//  - an EWMA of each node's effective prefill throughput (uncached prompt
//    tokens / observed TTFT). Because the observed TTFT includes time queued
//    on the node, the estimate errs towards "slower", which is the safe side
//    for an admission decision;
//  - an EWMA of each decode node's observed TPOT.
// Estimated TTFT on a node = (pending tokens + new tokens) / throughput.

#include <cstdint>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace triptych::scheduler {

// Thread-safe.
class LoadTracker {
 public:
  struct Options {
    double ewma_alpha = 0.2;  // weight of the newest observation
    // Throughput assumed before a node has reported a first token.
    double default_prefill_tokens_per_second = 2000.0;
  };

  explicit LoadTracker(Options options) : options_(options) {}
  LoadTracker(const LoadTracker&) = delete;
  LoadTracker& operator=(const LoadTracker&) = delete;

  // One request was routed: `decode` gets an in-flight request and
  // `prefill` (== decode for local prefill) `prefill_tokens` pending tokens.
  void OnAssigned(const std::string& decode, const std::string& prefill,
                  int prefill_tokens);
  // The request's first token arrived `ttft` after it was sent.
  void OnFirstToken(const std::string& prefill, int prefill_tokens,
                    absl::Duration ttft);
  // The request left `decode`. `pending_prefill_tokens` > 0 when its first
  // token never came (they are released from `prefill`); `tpot`, when
  // known, updates the decode node's TPOT estimate.
  void OnReleased(const std::string& decode, const std::string& prefill,
                  int pending_prefill_tokens,
                  std::optional<absl::Duration> tpot);

  int InFlight(const std::string& node) const;
  int64_t PendingPrefillTokens(const std::string& node) const;
  // Requests and tokens over all nodes.
  int TotalInFlight() const;
  int64_t TotalPendingPrefillTokens() const;
  absl::Duration EstimateTtft(const std::string& node, int new_tokens) const;
  std::optional<absl::Duration> TpotEstimate(const std::string& node) const;

 private:
  struct Stats {
    int in_flight = 0;
    int64_t pending_tokens = 0;
    double prefill_tps = 0.0;  // 0 = no observation yet
    double tpot_ms = 0.0;      // 0 = no observation yet
  };
  double Ewma(double old_value, double sample) const;

  const Options options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Stats> stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace triptych::scheduler

#endif  // TRIPTYCH_SCHEDULER_LOAD_TRACKER_H_
