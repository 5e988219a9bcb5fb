#include "services/gateway/engine_backend.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "common/status_macros.h"

namespace triptych::gateway {
namespace {

FinishReason Convert(engine::FinishReason reason) {
  switch (reason) {
    case engine::FinishReason::kLength:
      return FinishReason::kLength;
    case engine::FinishReason::kStop:
      return FinishReason::kStop;
    case engine::FinishReason::kCancelled:
      return FinishReason::kCancelled;
    case engine::FinishReason::kError:
      return FinishReason::kError;
    default:
      return FinishReason::kNone;
  }
}

}  // namespace

class EngineBackend::Handle : public GenerationHandle {
 public:
  Handle(std::weak_ptr<Driver> driver, std::string id)
      : driver_(std::move(driver)), id_(std::move(id)) {}
  void Cancel() override {
    if (auto d = driver_.lock()) d->Cancel(id_);
  }

 private:
  const std::weak_ptr<Driver> driver_;
  const std::string id_;
};

absl::StatusOr<std::unique_ptr<EngineBackend>> EngineBackend::Create(
    const model::Model* model, const tokenizer::Tokenizer* tokenizer,
    const engine::EngineOptions& options) {
  auto driver = std::make_shared<Driver>();
  ASSIGN_OR_RETURN(driver->engine, engine::Engine::Create(model, tokenizer, options));
  return std::unique_ptr<EngineBackend>(new EngineBackend(std::move(driver)));
}

EngineBackend::EngineBackend(std::shared_ptr<Driver> driver)
    : driver_(std::move(driver)), thread_([d = driver_.get()] { d->Run(); }) {}

EngineBackend::~EngineBackend() {
  {
    absl::MutexLock lock(&driver_->mu);
    driver_->stop = true;
    for (const auto& [id, entry] : driver_->requests) driver_->engine->Cancel(id);
  }
  thread_.join();
}

int64_t EngineBackend::active() const {
  absl::MutexLock lock(&driver_->mu);
  return static_cast<int64_t>(driver_->requests.size());
}

bool EngineBackend::WaitUntilIdle(absl::Duration timeout) const {
  absl::MutexLock lock(&driver_->mu);
  auto idle = [d = driver_.get()]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return d->requests.empty();
  };
  return driver_->mu.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

void EngineBackend::Driver::Cancel(const std::string& id) {
  absl::MutexLock lock(&mu);
  if (!requests.contains(id)) return;
  engine->Cancel(id);
  kick = true;
}

std::unique_ptr<GenerationHandle> EngineBackend::Start(
    const BackendRequest& request, std::function<void(const BackendEvent&)> on_event) {
  engine::GenerationRequest g;
  g.id = request.request_id;
  g.prompt = request.prompt;
  g.max_tokens = request.max_tokens;
  g.sampling = request.sampling;
  g.stop = request.stop;
  g.stop_token_ids = request.stop_token_ids;
  g.preserved_tokens = request.preserved_tokens;
  g.ignore_eos = request.ignore_eos;
  g.sparse_budget = request.sparse_attention_budget;
  g.constraint = request.constraint;
  g.n = request.n;
  absl::Status status;
  {
    absl::MutexLock lock(&driver_->mu);
    if (driver_->stop) {
      status = absl::UnavailableError("the engine is shutting down");
    } else if (driver_->requests.contains(g.id)) {
      status = absl::AlreadyExistsError("duplicate request id");
    } else {
      // Registered before Add so the driver always finds the callback.
      driver_->requests[g.id] = {on_event, request.sampling.logprobs, std::max(request.n, 1)};
      status = driver_->engine->Add(std::move(g));
      if (status.ok()) {
        driver_->kick = true;
      } else {
        driver_->requests.erase(request.request_id);
      }
    }
  }
  if (!status.ok()) {
    for (int i = 0; i < std::max(request.n, 1); ++i) {
      BackendEvent event;
      event.index = i;
      event.finish = FinishReason::kError;
      event.error = status;
      event.usage.prompt_tokens = static_cast<int64_t>(request.prompt.size());
      on_event(event);
    }
  }
  return std::make_unique<Handle>(driver_, request.request_id);
}

void EngineBackend::Driver::Run() {
  for (;;) {
    {
      absl::MutexLock lock(&mu);
      // HasWork() and Step() are driver-thread only; Add/Cancel set `kick`
      // under `mu` after queueing, so no wake-up is lost.
      mu.Await(absl::Condition(
          +[](Driver* d) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return d->kick || d->stop || d->engine->HasWork();
          },
          this));
      if (stop && !engine->HasWork()) break;
      kick = false;
    }
    std::vector<engine::TokenOutput> outputs = engine->Step();
    for (engine::TokenOutput& o : outputs) {
      std::function<void(const BackendEvent&)> on_event;
      bool logprobs = false;
      const FinishReason finish = Convert(o.finish);
      {
        absl::MutexLock lock(&mu);
        auto it = requests.find(o.request_id);
        if (it == requests.end()) continue;
        logprobs = it->second.logprobs;
        on_event = it->second.on_event;
      }
      BackendEvent event;
      event.index = o.index;
      if (o.token >= 0) {
        event.tokens.push_back(o.token);
        if (logprobs) event.logprobs.push_back({o.token, o.logprob, std::move(o.top_logprobs)});
      }
      event.text = std::move(o.text);
      event.finish = finish;
      event.usage = {o.prompt_tokens, o.completion_tokens, o.cached_prompt_tokens};
      if (finish == FinishReason::kError) {
        event.error = absl::InternalError(o.error.empty() ? "engine error" : o.error);
      }
      on_event(event);
      if (o.request_done) {
        // Erased after the final callback, so WaitUntilIdle() also means
        // every callback has returned.
        absl::MutexLock lock(&mu);
        requests.erase(o.request_id);
      }
    }
  }
  // Shutting down with nothing left in the engine: anything still
  // registered gets its final event now.
  // Every choice gets one (a caller ignores a second final event of a
  // choice that already finished).
  absl::flat_hash_map<std::string, Entry> left;
  {
    absl::MutexLock lock(&mu);
    left.swap(requests);
  }
  for (auto& [id, entry] : left) {
    for (int i = 0; i < entry.n; ++i) {
      BackendEvent event;
      event.index = i;
      event.finish = FinishReason::kCancelled;
      entry.on_event(event);
    }
  }
}

}  // namespace triptych::gateway
