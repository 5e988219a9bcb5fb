#ifndef TRIPTYCH_SCHEDULER_DISPATCHER_H_
#define TRIPTYCH_SCHEDULER_DISPATCHER_H_

// The scheduler core's facade: owns the node registry, global block index,
// load tracker, router and admission queue, and starts one RequestLifecycle
// per request. The gRPC service drives a RequestLifecycle with callbacks
// ("attempt started", "tokens", "attempt failed", "finished"); retry and
// lifecycle rules live here so tests cover them without gRPC.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "scheduler/admission_queue.h"
#include "scheduler/block_index.h"
#include "scheduler/clock.h"
#include "scheduler/load_tracker.h"
#include "scheduler/node_registry.h"
#include "scheduler/router.h"
#include "scheduler/types.h"

namespace triptych::scheduler {

struct DispatcherOptions {
  NodeRegistry::Options registry;
  RouterOptions router;
  LoadTracker::Options load;
  // Requests that may wait while every node is at capacity; more are
  // refused with kResourceExhausted.
  int max_queue = 256;
  // How long a queued request waits before kResourceExhausted.
  absl::Duration max_queue_wait = absl::Seconds(30);
  // Attempts on other nodes after a failure before the first token.
  int max_retries = 2;
  // Longest prompt accepted (kInvalidArgument beyond).
  int max_prompt_tokens = 1 << 20;
  // Bound on what one node's KV events can make the index hold.
  int64_t max_index_blocks_per_node = int64_t{1} << 22;
};

class Dispatcher;

// Request lifecycle (one object per request):
//
//   kQueued --NextAttempt()--> kRouted --OnAttemptStarted()--> kPrefilling
//     ^                                                          |   |
//     +----------OnAttemptFailed() = true (retry) ---------------+   |
//                                                  first token       |
//                                      kDecoding <-------------------+
//                                          |
//                                          +--OnFinished()--> kFinished
//   (also kPrefilling --OnFinished()--> kFinished: ended without tokens)
//   any non-terminal --OnCancelled()--> kCancelled
//   any non-terminal --no route / non-retryable error / no retry left /
//                      other failure after the first token--> kFailed
//   kDecoding --OnAttemptFailed(kUnavailable)--> kQueued (migration)
//
// Retry rule: an attempt that fails before the first token with
// kUnavailable, kResourceExhausted or kAborted is retried on another node
// (the failed decode node is excluded; kUnavailable also marks it dead in
// the registry), at most max_retries times. After the first token only a
// dead decode node (kUnavailable) leads to another attempt: a migration,
// where the new node prefills prompt + generated tokens and continues;
// other errors are reported (the client already has tokens).
enum class RequestState {
  kQueued,
  kRouted,
  kPrefilling,
  kDecoding,
  kFinished,
  kFailed,
  kCancelled
};
const char* RequestStateName(RequestState state);

// Not thread-safe: owned and driven by the one thread (or serialized
// callbacks) handling the request. Destroying it releases the load booked
// for an attempt still open.
class RequestLifecycle {
 public:
  ~RequestLifecycle();
  RequestLifecycle(const RequestLifecycle&) = delete;
  RequestLifecycle& operator=(const RequestLifecycle&) = delete;

  // kQueued -> kRouted. Routes the next attempt, excluding nodes that
  // failed; while every node is at capacity it waits in the admission queue
  // (blocking) until capacity frees, `cancelled()` turns true, or
  // max_queue_wait passes. Errors (state -> kFailed unless noted):
  // kUnavailable (no routable node), kResourceExhausted (queue full or wait
  // timed out), kCancelled (state -> kCancelled), kFailedPrecondition when
  // not in kQueued.
  absl::StatusOr<RouteDecision> NextAttempt(
      const std::function<bool()>& cancelled = nullptr);

  // kRouted -> kPrefilling: the downstream call was sent.
  absl::Status OnAttemptStarted();
  // `n` tokens were relayed; the first nonzero n moves kPrefilling ->
  // kDecoding and records TTFT.
  absl::Status OnTokens(int n);
  // The attempt ended with `status` (not OK). Returns true when the caller
  // should call NextAttempt() again (state -> kQueued): before the first
  // token for kUnavailable / kResourceExhausted / kAborted; after it (a
  // migration) only for kUnavailable (the decode node died), and the caller
  // must first Continue() with the tokens already relayed. False when the
  // request failed (state -> kFailed) and `status` is to be reported. At
  // most max_retries further attempts either way.
  bool OnAttemptFailed(const absl::Status& status);
  // Before the NextAttempt() of a migration: the tokens generated so far
  // join the prompt that is routed (so kv_aware routing sees the whole
  // sequence) and leave the token budget.
  void Continue(absl::Span<const int32_t> generated);
  int migrations() const { return migrations_; }
  // kPrefilling/kDecoding -> kFinished.
  absl::Status OnFinished();
  // Any non-terminal state -> kCancelled. No-op when already terminal.
  void OnCancelled();

  RequestState state() const { return state_; }
  const RequestSpec& spec() const { return spec_; }
  int attempts() const { return attempts_; }
  int tokens() const { return tokens_; }
  const absl::flat_hash_set<std::string>& excluded() const { return excluded_; }
  const std::optional<RouteDecision>& decision() const { return decision_; }
  // Latencies from the request's start; nullopt until known.
  std::optional<absl::Duration> ttft() const;
  std::optional<absl::Duration> tpot() const;
  std::optional<absl::Duration> e2e() const;

 private:
  friend class Dispatcher;
  RequestLifecycle(Dispatcher* dispatcher, RequestSpec spec, uint64_t ticket);

  bool Terminal() const;
  // Releases the load booked for the open attempt, if any.
  void ReleaseAttempt();
  absl::Status Transition(RequestState from_a, RequestState from_b,
                          RequestState to);

  Dispatcher* const dispatcher_;
  RequestSpec spec_;  // prompt grows on a migration (Continue)
  const uint64_t ticket_;
  RequestState state_ = RequestState::kQueued;
  std::optional<RouteDecision> decision_;
  bool attempt_open_ = false;  // load booked on decision_'s nodes
  absl::flat_hash_set<std::string> excluded_;
  absl::Status last_error_;
  int attempts_ = 0;
  int tokens_ = 0;
  int migrations_ = 0;
  absl::Time start_;
  absl::Time attempt_start_;
  std::optional<absl::Time> first_token_;
  std::optional<absl::Time> end_;
};

// Thread-safe: every method may be called from any thread.
class Dispatcher {
 public:
  // kInvalidArgument for inconsistent options. `clock` is not owned and
  // must outlive the dispatcher.
  static absl::StatusOr<std::unique_ptr<Dispatcher>> Create(
      DispatcherOptions options, const Clock* clock);
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Node membership; see NodeRegistry for the error codes. Each wakes
  // queued requests, as capacity may have changed.
  absl::Status Register(const NodeInfo& info);
  absl::Status Heartbeat(const std::string& id, const NodeLoad& load,
                         absl::Span<const KvEvent> events, bool draining);
  void ReportFailure(const std::string& id);
  // Applies heartbeat timeouts; returns the nodes that turned dead.
  std::vector<std::string> Sweep();
  std::vector<NodeView> ListNodes() { return registry_.Snapshot(); }

  // Starts a request in kQueued. kInvalidArgument for an empty or too long
  // prompt or a negative max_tokens. The lifecycle must not outlive `this`.
  absl::StatusOr<std::unique_ptr<RequestLifecycle>> Start(RequestSpec spec);

  // Wakes queued requests (e.g. after a client cancelled one).
  void NotifyCapacity() { queue_.Notify(); }

  const DispatcherOptions& options() const { return options_; }
  const Clock* clock() const { return clock_; }
  NodeRegistry& registry() { return registry_; }
  GlobalBlockIndex& index() { return index_; }
  LoadTracker& load() { return load_; }
  Router& router() { return router_; }
  AdmissionQueue& queue() { return queue_; }

 private:
  friend class RequestLifecycle;
  Dispatcher(DispatcherOptions options, const Clock* clock);

  const DispatcherOptions options_;
  const Clock* const clock_;
  GlobalBlockIndex index_;
  NodeRegistry registry_;
  LoadTracker load_;
  Router router_;
  AdmissionQueue queue_;
  std::atomic<uint64_t> next_ticket_{1};
};

}  // namespace triptych::scheduler

#endif  // TRIPTYCH_SCHEDULER_DISPATCHER_H_
