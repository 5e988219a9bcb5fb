#include "services/scheduler/generate_relay.h"

#include <thread>
#include <utility>

#include "common/grpc/status_convert.h"
#include "common/log/log.h"
#include "services/scheduler/proto_convert.h"
#include "services/scheduler/scheduler_service.h"

namespace triptych::scheduler_service {

GenerateRelay::GenerateRelay(SchedulerService* service,
                             grpc::CallbackServerContext* context,
                             const v1::GenerateRequest* request)
    : service_(service), context_(context), request_(request) {
  service_->RelayStarted();
  SchedulerService* svc = service_;
  std::thread([this, svc] {
    Run();  // ends with Finish(): `this` may be gone afterwards
    svc->RelayEnded();
  }).detach();
}

void GenerateRelay::OnWriteDone(bool ok) {
  absl::MutexLock lock(&mu_);
  write_pending_ = false;
  write_ok_ = ok;
}

void GenerateRelay::OnCancel() {
  {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    if (downstream_ != nullptr) downstream_->TryCancel();
  }
  // A request waiting in the admission queue re-checks cancelled().
  service_->core()->dispatcher().NotifyCapacity();
}

void GenerateRelay::OnDone() { delete this; }

bool GenerateRelay::cancelled() {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

void GenerateRelay::Run() {
  const absl::Status status = Serve();
  service_->core()->RecordOutcome(lifecycle_.get(), status);
  lifecycle_.reset();  // releases any booked load before the call ends
  Finish(ToGrpcStatus(status));
}

absl::Status GenerateRelay::Serve() {
  absl::StatusOr<scheduler::RequestSpec> spec = FromProto(*request_);
  if (!spec.ok()) return spec.status();
  auto lifecycle = service_->core()->StartRequest(*std::move(spec));
  if (!lifecycle.ok()) return lifecycle.status();
  lifecycle_ = *std::move(lifecycle);

  while (true) {
    absl::StatusOr<scheduler::RouteDecision> decision =
        lifecycle_->NextAttempt([this] { return cancelled(); });
    if (!decision.ok()) return decision.status();
    service_->core()->RecordDecision(*decision);
    log::Info("scheduler", "routed",
              {{"request_id", request_->request_id()},
               {"decode_node", decision->decode.id},
               {"prefill_node", decision->prefill ? decision->prefill->id : std::string()},
               {"policy", std::string(scheduler::PolicyName(decision->policy))},
               {"reason", decision->reason},
               {"cached_tokens", static_cast<int64_t>(decision->cached_tokens)},
               {"uncached_tokens", static_cast<int64_t>(decision->uncached_tokens)}});
    absl::Status s = RunAttempt(*decision);
    if (s.ok()) return s;
    if (cancelled()) {
      lifecycle_->OnCancelled();
      return absl::CancelledError("cancelled by the client");
    }
    if (!lifecycle_->OnAttemptFailed(s)) return s;
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
      continue;
    }
    service_->core()->RecordRetry();
  }
}

absl::Status GenerateRelay::RunAttempt(
    const scheduler::RouteDecision& decision) {
  grpc::ClientContext ctx;
  // Propagate the caller's deadline.
  if (context_->deadline() != std::chrono::system_clock::time_point::max()) {
    ctx.set_deadline(context_->deadline());
  }
  v1::DecodeRequest req;
  *req.mutable_request() = *request_;
  if (carried_ > 0) {
    const scheduler::RequestSpec& spec = lifecycle_->spec();
    req.mutable_request()->mutable_prompt_tokens()->Assign(spec.prompt_tokens.begin(),
                                                           spec.prompt_tokens.end());
    req.mutable_request()->set_max_tokens(static_cast<uint32_t>(spec.max_tokens));
    // The tokens generated so far are now the prompt's tail: the new decode
    // node replays them through the output constraint's matcher.
    if (request_->has_constraint()) {
      req.mutable_request()->mutable_constraint()->set_generated_tokens(
          static_cast<uint32_t>(carried_));
    }
  }
  if (decision.prefill.has_value()) {
    req.set_prefill_address(decision.prefill->address);
    req.set_prefill_node_id(decision.prefill->id);
  }
  v1::DecodeNode::Stub* stub = service_->DecodeStub(decision.decode.address);
  if (absl::Status s = lifecycle_->OnAttemptStarted(); !s.ok()) return s;
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return absl::CancelledError("cancelled by the client");
    downstream_ = &ctx;  // cleared below, before `ctx` goes away
  }
  std::unique_ptr<grpc::ClientReader<v1::GenerateEvent>> reader =
      stub->Generate(&ctx, req);

  v1::GenerateEvent event;
  bool caller_gone = false;
  while (reader->Read(&event)) {
    const bool final_event =
        event.finish_reason() != v1::FINISH_REASON_UNSPECIFIED;
    // Token-less progress events before the first token are not relayed,
    // so that a failure before the first token can still be retried.
    if (event.tokens_size() == 0 && !final_event && !sent_any_) continue;
    if (!sent_any_) *event.mutable_route() = ToProto(decision);
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
    if (!Write(event)) {
      caller_gone = true;
      ctx.TryCancel();
      while (reader->Read(&event)) {
      }
      break;
    }
  }
  const grpc::Status status = reader->Finish();
  {
    absl::MutexLock lock(&mu_);
    downstream_ = nullptr;
  }
  if (caller_gone) return absl::CancelledError("the caller went away");
  if (!status.ok()) return FromGrpcStatus(status);
  return lifecycle_->OnFinished();
}

bool GenerateRelay::Write(const v1::GenerateEvent& event) {
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return false;
    write_pending_ = true;
  }
  StartWrite(&event);
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](bool* pending) { return !*pending; }, &write_pending_));
  return write_ok_;
}

}  // namespace triptych::scheduler_service
