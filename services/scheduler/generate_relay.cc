#include "services/scheduler/generate_relay.h"

#include <utility>

#include "common/grpc/status_convert.h"
#include "common/log/log.h"
#include "services/scheduler/proto_convert.h"
#include "services/scheduler/scheduler_service.h"

namespace triptych::scheduler_service {

// The downstream DecodeNode.Generate call of one attempt.
class GenerateRelay::Attempt final : public grpc::ClientReadReactor<v1::GenerateEvent> {
 public:
  explicit Attempt(GenerateRelay* relay) : relay_(relay) {}
  void OnReadDone(bool ok) override { relay_->OnAttemptRead(ok); }
  void OnDone(const grpc::Status& status) override { relay_->OnAttemptDone(status); }

  grpc::ClientContext ctx;
  v1::DecodeRequest req;
  v1::GenerateEvent event;  // the read in flight

 private:
  GenerateRelay* const relay_;
};

GenerateRelay::GenerateRelay(SchedulerService* service,
                             grpc::CallbackServerContext* context,
                             const v1::GenerateRequest* request)
    : service_(service), context_(context), request_(request) {
  service_->RelayStarted();
  QueueRoute();
}

// Attempts are freed with the relay, never from inside their own OnDone.
GenerateRelay::~GenerateRelay() = default;

void GenerateRelay::OnCancel() {
  {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    if (downstream_ != nullptr) downstream_->TryCancel();
  }
  // A request waiting in the admission queue re-checks cancelled().
  service_->core()->dispatcher().NotifyCapacity();
}

void GenerateRelay::OnDone() {
  SchedulerService* svc = service_;
  delete this;
  svc->RelayEnded();
}

bool GenerateRelay::cancelled() {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

void GenerateRelay::QueueRoute() {
  if (!service_->routing_pool().Submit([this] { Route(); })) {
    End(absl::ResourceExhaustedError("scheduler routing backlog is full"));
  }
}

void GenerateRelay::End(absl::Status status) {
  service_->core()->RecordOutcome(lifecycle_.get(), status);
  lifecycle_.reset();  // releases any booked load before the call ends
  Finish(ToGrpcStatus(status));  // `this` may be gone afterwards
}

void GenerateRelay::Route() {
  if (lifecycle_ == nullptr) {
    absl::StatusOr<scheduler::RequestSpec> spec = FromProto(*request_);
    if (!spec.ok()) return End(spec.status());
    auto lifecycle = service_->core()->StartRequest(*std::move(spec));
    if (!lifecycle.ok()) return End(lifecycle.status());
    lifecycle_ = *std::move(lifecycle);
  }
  absl::StatusOr<scheduler::RouteDecision> decision =
      lifecycle_->NextAttempt([this] { return cancelled(); });
  if (!decision.ok()) return End(decision.status());
  service_->core()->RecordDecision(*decision);
  log::Info("scheduler", "routed",
            {{"request_id", request_->request_id()},
             {"decode_node", decision->decode.id},
             {"prefill_node", decision->prefill ? decision->prefill->id : std::string()},
             {"policy", std::string(scheduler::PolicyName(decision->policy))},
             {"reason", decision->reason},
             {"cached_tokens", static_cast<int64_t>(decision->cached_tokens)},
             {"uncached_tokens", static_cast<int64_t>(decision->uncached_tokens)}});
  StartAttempt(*decision);
}

void GenerateRelay::StartAttempt(const scheduler::RouteDecision& decision) {
  decision_ = std::make_unique<scheduler::RouteDecision>(decision);
  attempts_.push_back(std::make_unique<Attempt>(this));
  Attempt* a = attempt_ = attempts_.back().get();
  // Propagate the caller's deadline.
  if (context_->deadline() != std::chrono::system_clock::time_point::max()) {
    a->ctx.set_deadline(context_->deadline());
  }
  *a->req.mutable_request() = *request_;
  if (carried_ > 0) {
    const scheduler::RequestSpec& spec = lifecycle_->spec();
    a->req.mutable_request()->mutable_prompt_tokens()->Assign(spec.prompt_tokens.begin(),
                                                              spec.prompt_tokens.end());
    a->req.mutable_request()->set_max_tokens(static_cast<uint32_t>(spec.max_tokens));
    // The tokens generated so far are now the prompt's tail: the new decode
    // node replays them through the output constraint's matcher.
    if (request_->has_constraint()) {
      a->req.mutable_request()->mutable_constraint()->set_generated_tokens(
          static_cast<uint32_t>(carried_));
    }
  }
  if (decision.prefill.has_value()) {
    a->req.set_prefill_address(decision.prefill->address);
    a->req.set_prefill_node_id(decision.prefill->id);
  }
  v1::DecodeNode::Stub* stub = service_->DecodeStub(decision.decode.address);
  if (absl::Status s = lifecycle_->OnAttemptStarted(); !s.ok()) return AttemptFailed(s);
  bool was_cancelled;
  {
    absl::MutexLock lock(&mu_);
    was_cancelled = cancelled_;
    if (!was_cancelled) downstream_ = &a->ctx;  // cleared in OnAttemptDone
  }
  if (was_cancelled) return AttemptFailed(absl::CancelledError("cancelled by the client"));
  stub->async()->Generate(&a->ctx, &a->req, a);
  a->StartRead(&a->event);
  a->StartCall();
}

void GenerateRelay::OnAttemptRead(bool ok) {
  if (!ok) return;  // the stream ended; OnAttemptDone follows
  Attempt* a = attempt_;
  v1::GenerateEvent& event = a->event;
  const bool final_event = event.finish_reason() != v1::FINISH_REASON_UNSPECIFIED;
  // Token-less progress events before the first token are not relayed,
  // so that a failure before the first token can still be retried.
  if (event.tokens_size() == 0 && !final_event && !sent_any_) {
    a->StartRead(&a->event);
    return;
  }
  if (!sent_any_) *event.mutable_route() = ToProto(*decision_);
  (void)lifecycle_->OnTokens(event.tokens_size());
  relayed_.insert(relayed_.end(), event.tokens().begin(), event.tokens().end());
  if (final_event && carried_ > 0) {
    // Usage as the caller sees the request: its own prompt, every token.
    v1::Usage* u = event.mutable_usage();
    u->set_prompt_tokens(static_cast<uint32_t>(request_->prompt_tokens_size()));
    u->set_cached_prompt_tokens(std::min(u->cached_prompt_tokens(), u->prompt_tokens()));
    u->set_completion_tokens(u->completion_tokens() + static_cast<uint32_t>(carried_));
  }
  sent_any_ = true;
  if (cancelled()) {
    caller_gone_ = true;
    a->ctx.TryCancel();
    return;
  }
  out_.Swap(&event);
  // Without a hold the downstream call could end (OnDone, then a next
  // attempt) while this write is in flight: no read would be pending once
  // the decode node's final status has arrived. OnWriteDone removes it.
  a->AddHold();
  StartWrite(&out_);
}

void GenerateRelay::OnWriteDone(bool ok) {
  Attempt* a = attempt_;
  if (!ok) {
    caller_gone_ = true;
    a->ctx.TryCancel();  // no read is pending: the attempt ends
    a->RemoveHold();
    return;
  }
  a->StartRead(&a->event);
  a->RemoveHold();
}

void GenerateRelay::OnAttemptDone(const grpc::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    downstream_ = nullptr;
  }
  absl::Status s;
  if (caller_gone_) {
    s = absl::CancelledError("the caller went away");
  } else if (!status.ok()) {
    s = FromGrpcStatus(status);
  } else {
    s = lifecycle_->OnFinished();
  }
  if (s.ok()) return End(s);
  AttemptFailed(std::move(s));
}

void GenerateRelay::AttemptFailed(absl::Status s) {
  if (cancelled()) {
    lifecycle_->OnCancelled();
    return End(absl::CancelledError("cancelled by the client"));
  }
  if (!lifecycle_->OnAttemptFailed(s)) return End(std::move(s));
  // Several choices' streams cannot be continued from one token list: a
  // request with n > 1 that lost its decode node mid-stream fails.
  if (sent_any_ && request_->n() > 1) return End(std::move(s));
  if (sent_any_) {
    // Migration: the caller has tokens already; the next node prefills
    // prompt + generated tokens and continues from there.
    lifecycle_->Continue(absl::MakeConstSpan(relayed_).subspan(carried_));
    carried_ = relayed_.size();
    service_->core()->RecordMigration();
    log::Warn("scheduler", "decode node lost mid-stream; migrating",
              {{"request_id", request_->request_id()},
               {"generated_tokens", static_cast<int64_t>(relayed_.size())},
               {"error", s.ToString()}});
  } else {
    service_->core()->RecordRetry();
  }
  QueueRoute();
}

}  // namespace triptych::scheduler_service
