#ifndef TRIPTYCH_SCHEDULER_LOAD_TRACKER_H_
#define TRIPTYCH_SCHEDULER_LOAD_TRACKER_H_

// The scheduler's own, up-to-the-moment view of the work it has handed to
// each node (heartbeat load lags by up to an interval), plus latency
// estimates learned from the streams it relays:
//  - in-flight requests per decode node;
//  - prompt tokens waiting to be prefilled per node (prefill node, or the
//    decode node when it prefills locally);
//  - an EWMA of each node's effective prefill throughput;
//  - an EWMA of each decode node's observed TPOT.
// Estimated TTFT on a node = (pending tokens + new tokens) / throughput.
//
// The throughput is learned with the same model the estimate uses: a
// request that found A tokens pending on its node and brought n of its own
// waited for all A + n, so one observation is (A + n) / TTFT. Learning
// n / TTFT instead (the TTFT includes the time queued behind A) would make
// the throughput look slower the longer the queue, and the estimate would
// then count that queue a second time through the pending tokens.

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
  // Returns the tokens that were pending on `prefill` before this request's
  // (pass them to OnFirstToken).
  int64_t OnAssigned(const std::string& decode, const std::string& prefill,
                     int prefill_tokens);
  // The request's first token arrived `ttft` after it was sent;
  // `tokens_ahead` is what OnAssigned returned for it.
  void OnFirstToken(const std::string& prefill, int prefill_tokens,
                    int64_t tokens_ahead, absl::Duration ttft);
  // The request left `decode`. `pending_prefill_tokens` > 0 when its first
  // token never came (they are released from `prefill`); `tpot`, when
  // known, updates the decode node's TPOT estimate.
  void OnReleased(const std::string& decode, const std::string& prefill,
                  int pending_prefill_tokens,
                  std::optional<absl::Duration> tpot);

  // Drops what is known of `node`: a node that (re)registers starts with
  // nothing in flight (requests held for a process that died are never
  // released by it) and with no TTFT/TPOT history.
  void Forget(const std::string& node);

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
