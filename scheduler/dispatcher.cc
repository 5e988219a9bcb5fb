#include "scheduler/dispatcher.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace triptych::scheduler {

const char* RequestStateName(RequestState state) {
  switch (state) {
    case RequestState::kQueued:
      return "queued";
    case RequestState::kRouted:
      return "routed";
    case RequestState::kPrefilling:
      return "prefilling";
    case RequestState::kDecoding:
      return "decoding";
    case RequestState::kFinished:
      return "finished";
    case RequestState::kFailed:
      return "failed";
    case RequestState::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

// ------------------------------------------------------------- lifecycle

RequestLifecycle::RequestLifecycle(Dispatcher* dispatcher, RequestSpec spec,
                                   uint64_t ticket)
    : dispatcher_(dispatcher),
      spec_(std::move(spec)),
      ticket_(ticket),
      start_(dispatcher->clock()->Now()) {}

RequestLifecycle::~RequestLifecycle() {
  ReleaseAttempt();
  dispatcher_->queue_.Remove(ticket_);
}

bool RequestLifecycle::Terminal() const {
  return state_ == RequestState::kFinished || state_ == RequestState::kFailed ||
         state_ == RequestState::kCancelled;
}

void RequestLifecycle::ReleaseAttempt() {
  if (!attempt_open_ || !decision_.has_value()) return;
  attempt_open_ = false;
  const std::string& prefill = decision_->prefill.has_value()
                                   ? decision_->prefill->id
                                   : decision_->decode.id;
  dispatcher_->load_.OnReleased(
      decision_->decode.id, prefill,
      first_token_.has_value() ? 0 : decision_->uncached_tokens, tpot());
  dispatcher_->queue_.Notify();
}

absl::Status RequestLifecycle::Transition(RequestState from_a,
                                          RequestState from_b,
                                          RequestState to) {
  if (state_ != from_a && state_ != from_b) {
    return absl::FailedPreconditionError(
        absl::StrCat("request ", spec_.request_id, ": cannot go from ",
                     RequestStateName(state_), " to ", RequestStateName(to)));
  }
  state_ = to;
  return absl::OkStatus();
}

absl::StatusOr<RouteDecision> RequestLifecycle::NextAttempt(
    const std::function<bool()>& cancelled) {
  if (state_ != RequestState::kQueued) {
    return absl::FailedPreconditionError(
        absl::StrCat("request ", spec_.request_id, ": NextAttempt in state ",
                     RequestStateName(state_)));
  }
  Dispatcher& d = *dispatcher_;
  RouteRequest rr;
  rr.prompt_tokens = spec_.prompt_tokens;
  rr.exclude = excluded_;
  rr.ttft_target = absl::Milliseconds(spec_.ttft_slo_ms);
  rr.tpot_target = absl::Milliseconds(spec_.tpot_slo_ms);

  auto fail = [&](absl::Status s) -> absl::Status {
    d.queue_.Remove(ticket_);
    state_ = RequestState::kFailed;
    end_ = d.clock_->Now();
    if (!last_error_.ok() && s.code() == absl::StatusCode::kUnavailable) {
      s = absl::Status(
          s.code(),
          absl::StrCat(s.message(), "; last attempt: ", last_error_.message()));
    }
    return s;
  };

  // Real time: the queue wait is a wall-clock budget (see AdmissionQueue).
  const absl::Time deadline = absl::Now() + d.options_.max_queue_wait;
  bool queued = false;
  while (true) {
    if (cancelled && cancelled()) {
      d.queue_.Remove(ticket_);
      OnCancelled();
      return absl::CancelledError("cancelled while queued");
    }
    const uint64_t seen = d.queue_.generation();
    // FIFO: a newcomer routes directly only while nobody is waiting.
    const bool my_turn =
        queued ? d.queue_.IsHead(ticket_) : d.queue_.size() == 0;
    if (my_turn) {
      absl::StatusOr<RouteDecision> r = d.router_.Route(rr);
      if (r.ok()) {
        d.queue_.Remove(ticket_);
        decision_ = *std::move(r);
        attempt_open_ = true;
        ++attempts_;
        state_ = RequestState::kRouted;
        return *decision_;
      }
      if (r.status().code() != absl::StatusCode::kResourceExhausted) {
        return fail(r.status());
      }
    }
    if (!queued) {
      absl::Status s = d.queue_.Enqueue(ticket_);
      if (!s.ok()) return fail(s);
      queued = true;
      continue;  // maybe we are the head already
    }
    if (absl::Now() >= deadline) {
      return fail(absl::ResourceExhaustedError(
          absl::StrCat("all nodes at capacity; queued for ",
                       absl::FormatDuration(d.options_.max_queue_wait))));
    }
    d.queue_.WaitForChange(seen, deadline);
  }
}

absl::Status RequestLifecycle::OnAttemptStarted() {
  absl::Status s = Transition(RequestState::kRouted, RequestState::kRouted,
                              RequestState::kPrefilling);
  if (s.ok()) attempt_start_ = dispatcher_->clock_->Now();
  return s;
}

absl::Status RequestLifecycle::OnTokens(int n) {
  if (state_ != RequestState::kPrefilling &&
      state_ != RequestState::kDecoding) {
    return absl::FailedPreconditionError(
        absl::StrCat("request ", spec_.request_id, ": tokens in state ",
                     RequestStateName(state_)));
  }
  if (n <= 0) return absl::OkStatus();
  tokens_ += n;
  if (state_ == RequestState::kPrefilling) {
    const absl::Time now = dispatcher_->clock_->Now();
    if (!first_token_.has_value()) first_token_ = now;  // kept across migrations
    state_ = RequestState::kDecoding;
    const std::string& prefill = decision_->prefill.has_value()
                                     ? decision_->prefill->id
                                     : decision_->decode.id;
    dispatcher_->load_.OnFirstToken(prefill, decision_->uncached_tokens,
                                    decision_->prefill_tokens_ahead, now - attempt_start_);
  }
  return absl::OkStatus();
}

bool RequestLifecycle::OnAttemptFailed(const absl::Status& status) {
  if (Terminal()) return false;
  const bool before_first_token =
      state_ == RequestState::kRouted || state_ == RequestState::kPrefilling;
  const absl::StatusCode code = status.code();
  const bool retryable = code == absl::StatusCode::kUnavailable ||
                         code == absl::StatusCode::kResourceExhausted ||
                         code == absl::StatusCode::kAborted;
  last_error_ = status;
  ReleaseAttempt();
  if (decision_.has_value()) {
    excluded_.insert(decision_->decode.id);
    if (code == absl::StatusCode::kUnavailable) {
      dispatcher_->ReportFailure(decision_->decode.id);
    }
  }
  if (before_first_token && retryable &&
      attempts_ <= dispatcher_->options_.max_retries) {
    state_ = RequestState::kQueued;
    return true;
  }
  // The decode node went away mid-stream: migrate (the caller re-prefills
  // prompt + generated tokens elsewhere, see Continue()).
  if (state_ == RequestState::kDecoding && code == absl::StatusCode::kUnavailable &&
      attempts_ <= dispatcher_->options_.max_retries) {
    state_ = RequestState::kQueued;
    ++migrations_;
    return true;
  }
  state_ = RequestState::kFailed;
  end_ = dispatcher_->clock_->Now();
  return false;
}

void RequestLifecycle::Continue(absl::Span<const int32_t> generated) {
  spec_.prompt_tokens.insert(spec_.prompt_tokens.end(), generated.begin(),
                             generated.end());
  spec_.max_tokens = std::max(1, spec_.max_tokens - static_cast<int>(generated.size()));
}

absl::Status RequestLifecycle::OnFinished() {
  absl::Status s = Transition(RequestState::kPrefilling,
                              RequestState::kDecoding, RequestState::kFinished);
  if (!s.ok()) return s;
  end_ = dispatcher_->clock_->Now();
  ReleaseAttempt();
  return absl::OkStatus();
}

void RequestLifecycle::OnCancelled() {
  if (Terminal()) return;
  state_ = RequestState::kCancelled;
  end_ = dispatcher_->clock_->Now();
  ReleaseAttempt();
}

std::optional<absl::Duration> RequestLifecycle::ttft() const {
  if (!first_token_.has_value()) return std::nullopt;
  return *first_token_ - start_;
}

std::optional<absl::Duration> RequestLifecycle::tpot() const {
  if (!first_token_.has_value() || !end_.has_value() || tokens_ < 2) {
    return std::nullopt;
  }
  return (*end_ - *first_token_) / (tokens_ - 1);
}

std::optional<absl::Duration> RequestLifecycle::e2e() const {
  if (!end_.has_value()) return std::nullopt;
  return *end_ - start_;
}

// ------------------------------------------------------------- dispatcher

Dispatcher::Dispatcher(DispatcherOptions options, const Clock* clock)
    : options_(std::move(options)),
      clock_(clock),
      index_(options_.max_index_blocks_per_node),
      registry_(options_.registry, clock_, &index_),
      load_(options_.load),
      router_(options_.router, &registry_, &index_, &load_),
      queue_(options_.max_queue) {}

absl::StatusOr<std::unique_ptr<Dispatcher>> Dispatcher::Create(
    DispatcherOptions options, const Clock* clock) {
  if (clock == nullptr) return absl::InvalidArgumentError("clock is null");
  const auto& r = options.registry;
  if (r.heartbeat_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("heartbeat interval must be positive");
  }
  if (r.suspect_after_missed < 1 ||
      r.dead_after_missed <= r.suspect_after_missed) {
    return absl::InvalidArgumentError(
        "need 1 <= suspect_after_missed < dead_after_missed");
  }
  const auto& ro = options.router;
  if (ro.disagg_threshold_tokens < 0 || ro.kv_overlap_weight < 0 ||
      ro.load_weight < 0 || ro.max_inflight_factor <= 0 ||
      ro.default_max_inflight < 1) {
    return absl::InvalidArgumentError("invalid router options");
  }
  if (ro.ttft_target <= absl::ZeroDuration() ||
      ro.tpot_target <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("SLO targets must be positive");
  }
  if (options.max_queue < 0 || options.max_retries < 0 ||
      options.max_queue_wait < absl::ZeroDuration() ||
      options.max_prompt_tokens < 1) {
    return absl::InvalidArgumentError("invalid queue/retry options");
  }
  if (options.load.ewma_alpha <= 0 || options.load.ewma_alpha > 1) {
    return absl::InvalidArgumentError("ewma_alpha must be in (0, 1]");
  }
  return std::unique_ptr<Dispatcher>(new Dispatcher(std::move(options), clock));
}

absl::Status Dispatcher::Register(const NodeInfo& info) {
  absl::Status s = registry_.Register(info);
  // A (re)started node holds no request: counts left from a process that
  // died would make the router see it busy until they time out.
  if (s.ok()) load_.Forget(info.id);
  queue_.Notify();
  return s;
}

absl::Status Dispatcher::Heartbeat(const std::string& id, const NodeLoad& load,
                                   absl::Span<const KvEvent> events,
                                   bool draining) {
  absl::Status s = registry_.Heartbeat(id, load, events, draining);
  queue_.Notify();
  return s;
}

void Dispatcher::ReportFailure(const std::string& id) {
  registry_.ReportFailure(id);
  queue_.Notify();
}

std::vector<std::string> Dispatcher::Sweep() {
  std::vector<std::string> died = registry_.Sweep();
  queue_.Notify();
  return died;
}

absl::StatusOr<std::unique_ptr<RequestLifecycle>> Dispatcher::Start(
    RequestSpec spec) {
  if (spec.prompt_tokens.empty()) {
    return absl::InvalidArgumentError("prompt_tokens is empty");
  }
  if (static_cast<int64_t>(spec.prompt_tokens.size()) >
      options_.max_prompt_tokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("prompt has ", spec.prompt_tokens.size(),
                     " tokens; the limit is ", options_.max_prompt_tokens));
  }
  if (spec.max_tokens < 0 || spec.ttft_slo_ms < 0 || spec.tpot_slo_ms < 0) {
    return absl::InvalidArgumentError("negative max_tokens or SLO");
  }
  return std::unique_ptr<RequestLifecycle>(
      new RequestLifecycle(this, std::move(spec), next_ticket_++));
}

}  // namespace triptych::scheduler
