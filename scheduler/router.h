#ifndef TRIPTYCH_SCHEDULER_ROUTER_H_
#define TRIPTYCH_SCHEDULER_ROUTER_H_

// Phase-aware routing: picks the decode node for a request with a
// switchable policy, then decides whether its prompt is prefilled on a
// separate prefill node (conditional disaggregation).
//
// Decode node, among routable decode nodes (healthy; suspect ones only when
// no healthy one is left) that are not excluded and not at capacity, and
// preferring nodes whose estimated TTFT/TPOT meet the request's targets:
//  - round_robin:  next in id order;
//  - least_loaded: fewest active requests (max of the scheduler's in-flight
//                  count and the node's running + waiting), then most free
//                  KV blocks; nodes equal on both take turns;
//  - kv_aware:     highest  kv_overlap_weight * overlap_blocks
//                           - load_weight * active_requests
//                  (overlap = leading prompt blocks the node holds, from the
//                  global block index), ties -> least_loaded.
// Prefill node: the soonest estimated first token, then least loaded; equal
// ones take turns. Remote only when a prefill node exists, the prompt tokens the
// decode node does not hold are >= disagg_threshold_tokens, and the best
// prefill node's estimated TTFT meets the target; otherwise local.

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "scheduler/block_index.h"
#include "scheduler/load_tracker.h"
#include "scheduler/node_registry.h"
#include "scheduler/types.h"

namespace triptych::scheduler {

struct RouterOptions {
  Policy policy = Policy::kKvAware;
  // Uncached prompt tokens at or above which prefill goes to a prefill node.
  int disagg_threshold_tokens = 64;
  // kv_aware score weights (per overlapping block / per active request).
  double kv_overlap_weight = 1.0;
  double load_weight = 1.0;
  // Default SLO targets; a request's own ttft/tpot_slo_ms override them.
  absl::Duration ttft_target = absl::Seconds(2);
  absl::Duration tpot_target = absl::Milliseconds(100);
  // A decode node is at capacity when the scheduler has this many times its
  // max_running requests in flight on it (the node queues the excess) ...
  double max_inflight_factor = 2.0;
  // ... or this many when it reports max_running = 0.
  int default_max_inflight = 64;
};

struct RouteRequest {
  absl::Span<const int32_t> prompt_tokens;
  // Nodes an earlier attempt failed on.
  absl::flat_hash_set<std::string> exclude;
  absl::Duration ttft_target = absl::ZeroDuration();  // zero: default
  absl::Duration tpot_target = absl::ZeroDuration();  // zero: default
};

// Thread-safe. Route() also books the work on the LoadTracker (atomically
// with the choice, so a burst spreads out); the caller must release it with
// LoadTracker::OnReleased when the attempt ends (RequestLifecycle does).
class Router {
 public:
  // Pointers are not owned and must outlive the router.
  Router(RouterOptions options, NodeRegistry* registry,
         const GlobalBlockIndex* index, LoadTracker* load);
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Errors: kUnavailable when no routable decode node exists (none
  // registered, all dead/draining or excluded): retry later or elsewhere;
  // kResourceExhausted when every candidate is at capacity (queue or back
  // off); kInvalidArgument for an empty prompt.
  absl::StatusOr<RouteDecision> Route(const RouteRequest& request);

  void set_policy(Policy policy) { policy_.store(policy); }
  Policy policy() const { return policy_.load(); }
  const RouterOptions& options() const { return options_; }

  // Decisions so far by (policy name, reason).
  std::map<std::pair<std::string, std::string>, int64_t> DecisionCounts() const;

 private:
  const RouterOptions options_;
  NodeRegistry* const registry_;
  const GlobalBlockIndex* const index_;
  LoadTracker* const load_;
  std::atomic<Policy> policy_;

  mutable absl::Mutex mu_;
  uint64_t round_robin_next_ ABSL_GUARDED_BY(mu_) = 0;
  // Turns among equal candidates (decode and prefill apart, so that one
  // does not skew the other's rotation).
  uint64_t decode_turn_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t prefill_turn_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::pair<std::string, std::string>, int64_t> counts_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace triptych::scheduler

#endif  // TRIPTYCH_SCHEDULER_ROUTER_H_
