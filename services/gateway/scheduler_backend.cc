#include "services/gateway/scheduler_backend.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc/internal_grpc.h"
#include "common/grpc/status_convert.h"
#include "grpcpp/grpcpp.h"
#include "proto/triptych.grpc.pb.h"
#include "proto/triptych.pb.h"

namespace triptych::gateway {
namespace {

FinishReason Convert(v1::FinishReason reason) {
  switch (reason) {
    case v1::FINISH_REASON_LENGTH:
      return FinishReason::kLength;
    case v1::FINISH_REASON_STOP:
      return FinishReason::kStop;
    case v1::FINISH_REASON_CANCELLED:
      return FinishReason::kCancelled;
    case v1::FINISH_REASON_ERROR:
      return FinishReason::kError;
    default:
      return FinishReason::kNone;
  }
}

v1::GenerateRequest ToProto(const BackendRequest& r) {
  v1::GenerateRequest p;
  p.set_request_id(r.request_id);
  p.mutable_prompt_tokens()->Add(r.prompt.begin(), r.prompt.end());
  p.set_max_tokens(static_cast<uint32_t>(r.max_tokens));
  v1::SamplingParams* s = p.mutable_sampling();
  s->set_temperature(r.sampling.temperature);
  s->set_top_k(r.sampling.top_k);
  s->set_top_p(r.sampling.top_p);
  s->set_min_p(r.sampling.min_p);
  s->set_repetition_penalty(r.sampling.repetition_penalty);
  s->set_presence_penalty(r.sampling.presence_penalty);
  s->set_frequency_penalty(r.sampling.frequency_penalty);
  s->set_seed(r.sampling.seed);
  s->set_logprobs(r.sampling.logprobs);
  s->set_top_logprobs(r.sampling.top_logprobs);
  for (const auto& [token, bias] : r.sampling.logit_bias) (*s->mutable_logit_bias())[token] += bias;
  for (const std::string& stop : r.stop) p.add_stop(stop);
  p.mutable_stop_token_ids()->Add(r.stop_token_ids.begin(), r.stop_token_ids.end());
  p.mutable_preserved_token_ids()->Add(r.preserved_tokens.begin(),
                                       r.preserved_tokens.end());
  p.set_ignore_eos(r.ignore_eos);
  p.set_n(static_cast<uint32_t>(r.n));
  if (r.sparse_attention_budget.has_value()) {
    p.set_sparse_attention_budget(*r.sparse_attention_budget);
  }
  if (r.constraint.active()) {
    v1::OutputConstraint* c = p.mutable_constraint();
    c->set_kind(r.constraint.kind == grammar::ConstraintKind::kJsonObject
                    ? v1::OutputConstraint::KIND_JSON_OBJECT
                    : v1::OutputConstraint::KIND_JSON_SCHEMA);
    c->set_schema_json(r.constraint.schema_json);
    c->set_prefix(r.constraint.prefix);
    c->set_suffix(r.constraint.suffix);
  }
  return p;
}

BackendEvent FromProto(const v1::GenerateEvent& e) {
  BackendEvent out;
  out.index = static_cast<int>(std::min<uint32_t>(e.index(), 1u << 20));
  out.tokens.assign(e.tokens().begin(), e.tokens().end());
  out.text = e.text();
  if (e.logprobs_size() == e.tokens_size()) {
    for (int i = 0; i < e.tokens_size(); ++i) {
      TokenLogprob lp;
      lp.token = e.tokens(i);
      lp.logprob = e.logprobs(i);
      if (i < e.top_logprobs_size()) {
        for (const v1::TopLogprob& t : e.top_logprobs(i).entries()) {
          lp.top.emplace_back(t.token(), t.logprob());
        }
      }
      out.logprobs.push_back(std::move(lp));
    }
  }
  out.finish = Convert(e.finish_reason());
  out.usage = {e.usage().prompt_tokens(), e.usage().completion_tokens(),
               e.usage().cached_prompt_tokens()};
  if (out.finish == FinishReason::kError) {
    out.error = absl::InternalError(e.error().empty() ? "generation failed" : e.error());
  }
  return out;
}

// What a handle needs to cancel a call that may already be gone.
struct CallState {
  absl::Mutex mu;
  grpc::ClientContext* context ABSL_GUARDED_BY(mu) = nullptr;  // null once done
  std::atomic<bool> cancelled{false};

  void Cancel() {
    cancelled = true;
    absl::MutexLock lock(&mu);
    if (context != nullptr) context->TryCancel();
  }
};

class Handle : public GenerationHandle {
 public:
  explicit Handle(std::shared_ptr<CallState> state) : state_(std::move(state)) {}
  void Cancel() override { state_->Cancel(); }

 private:
  const std::shared_ptr<CallState> state_;
};

}  // namespace

class SchedulerBackend::Impl {
 public:
  explicit Impl(const SchedulerBackendOptions& options)
      : options_(options),
        stub_(v1::Scheduler::NewStub(
            InternalChannel(options.address))) {}

  ~Impl() {
    absl::MutexLock lock(&mu_);
    for (const auto& state : active_) state->Cancel();
    auto idle = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return active_.empty(); };
    mu_.Await(absl::Condition(&idle));
  }

  std::unique_ptr<GenerationHandle> Start(const BackendRequest& request,
                                          std::function<void(const BackendEvent&)> on_event);

 private:
  // One Generate stream. Deletes itself in OnDone.
  class Call : public grpc::ClientReadReactor<v1::GenerateEvent> {
   public:
    Call(Impl* impl, std::shared_ptr<CallState> state,
         std::function<void(const BackendEvent&)> on_event)
        : impl_(impl), state_(std::move(state)), on_event_(std::move(on_event)) {}

    void Begin(const BackendRequest& request) {
      request_ = ToProto(request);
      finished_.assign(static_cast<size_t>(std::max(request.n, 1)), false);
      if (impl_->options_.request_timeout > absl::ZeroDuration()) {
        context_.set_deadline(absl::ToChronoTime(absl::Now() + impl_->options_.request_timeout));
      }
      {
        absl::MutexLock lock(&state_->mu);
        state_->context = &context_;
      }
      impl_->stub_->async()->Generate(&context_, &request_, this);
      StartRead(&event_);
      StartCall();
    }

    void OnReadDone(bool ok) override {
      if (!ok) return;  // the stream ended; OnDone follows
      BackendEvent event = FromProto(event_);
      // Events of an unknown choice, or after its final one, are dropped.
      if (event.index < static_cast<int>(finished_.size()) && !finished_[event.index]) {
        finished_[event.index] = event.finish != FinishReason::kNone;
        on_event_(event);
      }
      StartRead(&event_);
    }

    void OnDone(const grpc::Status& status) override {
      {
        absl::MutexLock lock(&state_->mu);
        state_->context = nullptr;
      }
      // Every choice without its final event gets one now.
      for (size_t i = 0; i < finished_.size(); ++i) {
        if (finished_[i]) continue;
        BackendEvent event;
        event.index = static_cast<int>(i);
        if (state_->cancelled) {
          event.finish = FinishReason::kCancelled;
        } else {
          event.finish = FinishReason::kError;
          event.error = status.ok() ? absl::UnavailableError(
                                          "the scheduler ended the stream without a final event")
                                    : FromGrpcStatus(status);
        }
        on_event_(event);
      }
      Impl* impl = impl_;
      std::shared_ptr<CallState> state = state_;
      delete this;
      impl->Done(state);
    }

   private:
    Impl* const impl_;
    const std::shared_ptr<CallState> state_;
    const std::function<void(const BackendEvent&)> on_event_;
    grpc::ClientContext context_;
    v1::GenerateRequest request_;
    v1::GenerateEvent event_;
    std::vector<bool> finished_;  // per choice: its final event was delivered
  };

  void Done(const std::shared_ptr<CallState>& state) {
    absl::MutexLock lock(&mu_);
    active_.erase(state);
  }

  const SchedulerBackendOptions options_;
  const std::unique_ptr<v1::Scheduler::Stub> stub_;
  absl::Mutex mu_;
  absl::flat_hash_set<std::shared_ptr<CallState>> active_ ABSL_GUARDED_BY(mu_);
};

std::unique_ptr<GenerationHandle> SchedulerBackend::Impl::Start(
    const BackendRequest& request, std::function<void(const BackendEvent&)> on_event) {
  auto state = std::make_shared<CallState>();
  {
    absl::MutexLock lock(&mu_);
    active_.insert(state);
  }
  auto* call = new Call(this, state, std::move(on_event));
  call->Begin(request);
  return std::make_unique<Handle>(std::move(state));
}

absl::StatusOr<std::unique_ptr<SchedulerBackend>> SchedulerBackend::Create(
    const SchedulerBackendOptions& options) {
  if (options.address.empty()) {
    return absl::InvalidArgumentError("scheduler backend: address is empty");
  }
  return std::unique_ptr<SchedulerBackend>(
      new SchedulerBackend(std::make_unique<Impl>(options)));
}

SchedulerBackend::SchedulerBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SchedulerBackend::~SchedulerBackend() = default;

std::unique_ptr<GenerationHandle> SchedulerBackend::Start(
    const BackendRequest& request, std::function<void(const BackendEvent&)> on_event) {
  return impl_->Start(request, std::move(on_event));
}

}  // namespace triptych::gateway
