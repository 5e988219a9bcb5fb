#ifndef TRIPTYCH_SERVICES_SCHEDULER_GENERATE_RELAY_H_
#define TRIPTYCH_SERVICES_SCHEDULER_GENERATE_RELAY_H_

// One Scheduler.Generate call: routes the request (RequestLifecycle), calls
// DecodeNode.Generate on the chosen decode node (with prefill_address when
// disaggregated) and relays its events to the caller, RouteInfo attached to
// the first one.
//
// Threads: the reactor callbacks (OnWriteDone, OnCancel, OnDone) run on gRPC
// callback threads and only flip flags / cancel the downstream call. The
// blocking work (queueing for capacity, the synchronous downstream stream,
// waiting for each upstream write) runs on a worker thread owned by this
// relay, so no gRPC callback thread ever blocks.
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
// OnDone(), which gRPC calls only after the worker's Finish(); the worker
// touches nothing of the relay after Finish().

#include <memory>

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
  // Starts the worker thread. Pointers are owned by gRPC / the service and
  // outlive the relay.
  GenerateRelay(SchedulerService* service, grpc::CallbackServerContext* context,
                const v1::GenerateRequest* request);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  ~GenerateRelay() override = default;

  // Worker thread body; ends with Finish().
  void Run();
  // All attempts; returns the call's final status.
  absl::Status Serve();
  // One attempt on `decision`'s nodes. OK when the stream completed.
  absl::Status RunAttempt(const scheduler::RouteDecision& decision);
  // Sends `event` upstream and waits for it to be written. False when the
  // caller is gone.
  bool Write(const v1::GenerateEvent& event);
  bool cancelled();

  SchedulerService* const service_;
  grpc::CallbackServerContext* const context_;
  const v1::GenerateRequest* const request_;
  std::unique_ptr<scheduler::RequestLifecycle> lifecycle_;  // worker only
  bool sent_any_ = false;                                   // worker only
  std::vector<int32_t> relayed_;  // tokens sent to the caller; worker only
  size_t carried_ = 0;            // of those, before the current attempt

  absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  // The open downstream call, for OnCancel(); null between attempts.
  grpc::ClientContext* downstream_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool write_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool write_ok_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace triptych::scheduler_service

#endif  // TRIPTYCH_SERVICES_SCHEDULER_GENERATE_RELAY_H_
