#ifndef TRIPTYCH_SERVICES_SCHEDULER_GENERATE_RELAY_H_
#define TRIPTYCH_SERVICES_SCHEDULER_GENERATE_RELAY_H_

// One Scheduler.Generate call: routes the request (RequestLifecycle), calls
// DecodeNode.Generate on the chosen decode node (with prefill_address when
// disaggregated) and relays its events to the caller, RouteInfo attached to
// the first one.
//
// Threads: no thread belongs to a relay. Routing, which may wait in the
// admission queue, runs as a task on the service's RoutingPool. The stream
// is gRPC callback API on both sides: the downstream call is a
// ClientReadReactor (Attempt) and the relay the upstream ServerWriteReactor;
// each downstream read completes into one upstream write, whose completion
// starts the next read, so one event is in flight at a time and a slow
// caller slows the decode node's stream (flow control) instead of
// buffering. A hold on the downstream call while an upstream write is in
// flight keeps its OnDone after that write. Those callbacks only convert
// and hand on; none blocks.
//
// Sequence of one call (each step starts the next; only OnCancel runs
// concurrently with them, and it only flips a flag / cancels downstream):
//   ctor -> [pool] Route -> StartAttempt -> (OnReadDone -> StartWrite ->
//   OnWriteDone -> StartRead)* -> Attempt::OnDone -> AttemptEnded ->
//   End (Finish) | [pool] Retry/migrate -> Route ...   -> OnDone (delete)
//
// Retry: an attempt failing before any token (and before anything was sent
// to the caller) with a retryable status goes to another node (the
// lifecycle's rule). Migration: when the decode node dies mid-stream
// (kUnavailable), the request continues on another node, which prefills
// the prompt plus the tokens relayed so far and generates the rest
// (max_tokens minus those); the caller sees one uninterrupted stream whose
// final usage counts its own prompt and every token. Other errors after the
// first token are reported as the call's status.
// Cancellation: OnCancel() cancels the downstream call (so the decode node
// frees the request's KV blocks) and wakes a queued request.
//
// Lifetime: created by SchedulerService::Generate, deletes itself in
// OnDone(), which gRPC calls after Finish(); Finish() is called only when
// no attempt is open and no routing task is queued for the relay.

#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "proto/triptych.grpc.pb.h"
#include "scheduler/dispatcher.h"

namespace triptych::scheduler_service {

class SchedulerService;

class GenerateRelay final : public grpc::ServerWriteReactor<v1::GenerateEvent> {
 public:
  // Queues the routing task. Pointers are owned by gRPC / the service and
  // outlive the relay.
  GenerateRelay(SchedulerService* service, grpc::CallbackServerContext* context,
                const v1::GenerateRequest* request);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  class Attempt;
  ~GenerateRelay() override;

  // Routing pool: the next attempt, or End() when routing fails.
  void Route();
  // Routing pool: opens the downstream call for `decision`.
  void StartAttempt(const scheduler::RouteDecision& decision);
  // gRPC callback threads, from the open Attempt.
  void OnAttemptRead(bool ok);
  void OnAttemptDone(const grpc::Status& status);
  // After a failed attempt: retry, migrate or End().
  void AttemptFailed(absl::Status status);
  // Queues Route(); End()s with kResourceExhausted when the pool refuses.
  void QueueRoute();
  void End(absl::Status status);
  bool cancelled();

  SchedulerService* const service_;
  grpc::CallbackServerContext* const context_;
  const v1::GenerateRequest* const request_;
  // Owned by the step running now (see the sequence above).
  std::unique_ptr<scheduler::RequestLifecycle> lifecycle_;
  // Every attempt's downstream call, freed with the relay: an attempt may
  // still be returning from its OnDone when the next one starts.
  std::vector<std::unique_ptr<Attempt>> attempts_;
  Attempt* attempt_ = nullptr;  // the current one
  std::unique_ptr<scheduler::RouteDecision> decision_;  // of attempt_
  bool sent_any_ = false;
  bool caller_gone_ = false;
  std::vector<int32_t> relayed_;  // tokens sent to the caller
  size_t carried_ = 0;            // of those, before the current attempt
  v1::GenerateEvent out_;         // the upstream write in flight

  absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  // The open downstream call, for OnCancel(); null between attempts.
  grpc::ClientContext* downstream_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace triptych::scheduler_service

#endif  // TRIPTYCH_SERVICES_SCHEDULER_GENERATE_RELAY_H_
