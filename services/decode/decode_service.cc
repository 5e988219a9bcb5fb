#include "services/decode/decode_service.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "common/grpc/status_convert.h"

namespace triptych::decode {
namespace {

triptych::v1::FinishReason FinishToProto(engine::FinishReason r) {
  switch (r) {
    case engine::FinishReason::kNone:
      return triptych::v1::FINISH_REASON_UNSPECIFIED;
    case engine::FinishReason::kLength:
      return triptych::v1::FINISH_REASON_LENGTH;
    case engine::FinishReason::kStop:
      return triptych::v1::FINISH_REASON_STOP;
    case engine::FinishReason::kCancelled:
      return triptych::v1::FINISH_REASON_CANCELLED;
    case engine::FinishReason::kError:
      return triptych::v1::FINISH_REASON_ERROR;
  }
  return triptych::v1::FINISH_REASON_ERROR;
}

// Streams one request's outputs. The core's callback (driver thread) queues
// events; gRPC writes them one at a time. The state outlives the reactor
// when the core reports after the call ended, hence the shared_ptr.
class GenerateReactor : public grpc::ServerWriteReactor<triptych::v1::GenerateEvent> {
 public:
  struct State {
    absl::Mutex mu;
    GenerateReactor* reactor ABSL_GUARDED_BY(mu);
  };

  GenerateReactor(DecodeCore* core, const triptych::v1::DecodeRequest* request)
      : core_(core), state_(std::make_shared<State>()) {
    {
      absl::MutexLock lock(&state_->mu);
      state_->reactor = this;
    }
    request_id_ = request->request().request_id();
    engine::GenerationRequest req = FromProto(*request);
    std::weak_ptr<State> weak = state_;
    absl::Status st = core_->Start(std::move(req), [weak](const engine::TokenOutput& o) {
      auto state = weak.lock();
      if (!state) return;
      absl::MutexLock lock(&state->mu);
      if (state->reactor != nullptr) state->reactor->Push(ToProto(o), o.request_done);
    });
    if (!st.ok()) {
      absl::MutexLock lock(&mu_);
      finished_ = true;
      Finish(ToGrpcStatus(st));
    }
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    queue_.pop_front();
    if (!ok) {
      // The client is gone; OnCancel (or the final output) ends the call.
      writing_ = false;
      if (!finished_) {
        finished_ = true;
        Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client gone"));
      }
      return;
    }
    WriteNextLocked();
  }

  void OnCancel() override { core_->Cancel(request_id_); }

  void OnDone() override {
    {
      absl::MutexLock lock(&state_->mu);
      state_->reactor = nullptr;
    }
    core_->Cancel(request_id_);  // a no-op when it already finished
    delete this;
  }

 private:
  // `last`: the request's last event (every choice has finished).
  void Push(triptych::v1::GenerateEvent event, bool last) {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    queue_.push_back(std::move(event));
    if (last) last_queued_ = true;
    if (!writing_) WriteNextLocked();
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!queue_.empty()) {
      writing_ = true;
      StartWrite(&queue_.front());
      return;
    }
    writing_ = false;
    if (last_queued_ && !finished_) {
      finished_ = true;
      Finish(grpc::Status::OK);
    }
  }

  DecodeCore* core_;
  std::shared_ptr<State> state_;
  std::string request_id_;
  absl::Mutex mu_;
  std::deque<triptych::v1::GenerateEvent> queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool last_queued_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

engine::GenerationRequest FromProto(const triptych::v1::DecodeRequest& request) {
  const triptych::v1::GenerateRequest& r = request.request();
  engine::GenerationRequest out;
  out.id = r.request_id();
  out.prompt.assign(r.prompt_tokens().begin(), r.prompt_tokens().end());
  out.max_tokens = r.max_tokens();
  const triptych::v1::SamplingParams& s = r.sampling();
  out.sampling.temperature = s.temperature();
  out.sampling.top_k = s.top_k();
  out.sampling.top_p = s.top_p() == 0.0f ? 1.0f : s.top_p();
  out.sampling.min_p = s.min_p();
  out.sampling.repetition_penalty =
      s.repetition_penalty() == 0.0f ? 1.0f : s.repetition_penalty();
  out.sampling.presence_penalty = s.presence_penalty();
  out.sampling.frequency_penalty = s.frequency_penalty();
  out.sampling.seed = s.seed();
  out.sampling.logprobs = s.logprobs();
  out.sampling.top_logprobs = s.top_logprobs();
  // Map order is unspecified: sort so the request is the same on every node.
  for (const auto& [token, bias] : s.logit_bias()) out.sampling.logit_bias.emplace_back(token, bias);
  std::sort(out.sampling.logit_bias.begin(), out.sampling.logit_bias.end());
  out.stop.assign(r.stop().begin(), r.stop().end());
  out.stop_token_ids.assign(r.stop_token_ids().begin(), r.stop_token_ids().end());
  // Checked by Engine::Add (count and range).
  out.preserved_tokens.assign(r.preserved_token_ids().begin(),
                              r.preserved_token_ids().end());
  out.ignore_eos = r.ignore_eos();
  out.n = r.n() == 0 ? 1 : static_cast<int>(std::min<uint32_t>(r.n(), 1u << 20));
  if (r.has_sparse_attention_budget()) out.sparse_budget = r.sparse_attention_budget();
  out.prefill_address = request.prefill_address();
  if (r.has_constraint() && r.constraint().kind() != triptych::v1::OutputConstraint::KIND_NONE) {
    const triptych::v1::OutputConstraint& c = r.constraint();
    out.constraint.kind = c.kind() == triptych::v1::OutputConstraint::KIND_JSON_OBJECT
                              ? grammar::ConstraintKind::kJsonObject
                              : grammar::ConstraintKind::kJsonSchema;
    out.constraint.schema_json = c.schema_json();
    out.constraint.prefix = c.prefix();
    out.constraint.suffix = c.suffix();
    out.constraint_replay = c.generated_tokens();
  }
  return out;
}

triptych::v1::GenerateEvent ToProto(const engine::TokenOutput& o) {
  triptych::v1::GenerateEvent e;
  if (o.token >= 0) {
    e.add_tokens(o.token);
    e.add_logprobs(o.logprob);
    if (!o.top_logprobs.empty()) {
      auto* list = e.add_top_logprobs();
      for (const auto& [tok, lp] : o.top_logprobs) {
        auto* entry = list->add_entries();
        entry->set_token(tok);
        entry->set_logprob(lp);
      }
    }
  }
  e.set_text(o.text);
  e.set_index(static_cast<uint32_t>(o.index));
  e.set_finish_reason(FinishToProto(o.finish));
  if (o.finish != engine::FinishReason::kNone) {
    e.mutable_usage()->set_prompt_tokens(static_cast<uint32_t>(o.prompt_tokens));
    e.mutable_usage()->set_completion_tokens(static_cast<uint32_t>(o.completion_tokens));
    e.mutable_usage()->set_cached_prompt_tokens(
        static_cast<uint32_t>(o.cached_prompt_tokens));
    e.set_error(o.error);
  }
  return e;
}

grpc::ServerWriteReactor<triptych::v1::GenerateEvent>* DecodeService::Generate(
    grpc::CallbackServerContext* /*context*/,
    const triptych::v1::DecodeRequest* request) {
  return new GenerateReactor(core_, request);
}

}  // namespace triptych::decode
