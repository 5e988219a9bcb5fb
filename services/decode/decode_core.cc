#include "services/decode/decode_core.h"

#include <utility>

#include "common/log/log.h"
#include "common/status_macros.h"
#include "runtime/device/device_model.h"

namespace triptych::decode {

absl::StatusOr<std::unique_ptr<DecodeCore>> DecodeCore::Create(
    DecodeCoreOptions options) {
  auto core = std::unique_ptr<DecodeCore>(new DecodeCore());
  ASSIGN_OR_RETURN(const std::unique_ptr<device::Device> dev,
                   device::SelectDevice(options.device));
  ASSIGN_OR_RETURN(core->bundle_, engine::ModelBundle::Load(options.model_path));
  const model::ForwardModel* forward = core->bundle_->model.get();
  if (dev->kind() != device::DeviceKind::kCpu) {
    ASSIGN_OR_RETURN(core->device_model_,
                     device::DeviceModel::Create(*core->bundle_->model, *dev));
    forward = core->device_model_.get();
  }
  DecodeCore* self = core.get();
  options.engine.remote_prefill = [self](engine::RemotePrefillJob job,
                                         engine::RemotePrefillDone done) {
    PrefillClient* client;
    {
      absl::MutexLock lock(&self->mu_);
      client = self->prefill_client_.get();
    }
    if (client == nullptr) {
      done(absl::FailedPreconditionError("no prefill client configured"));
      return;
    }
    client->Prefill(std::move(job), std::move(done));
  };
  if (options.kv_history) {
    options.engine.history_fetch = [self](engine::HistoryFetchJob job,
                                          engine::HistoryFetchDone done) {
      KvHistory* history;
      {
        absl::MutexLock lock(&self->mu_);
        history = self->history_.get();
      }
      if (history == nullptr) {
        done(absl::FailedPreconditionError("no KV history configured"));
        return;
      }
      history->Fetch(std::move(job), std::move(done));
    };
    options.engine.history_store = [self](engine::HistoryStoreJob job,
                                          engine::HistoryStoreDone done) {
      KvHistory* history;
      {
        absl::MutexLock lock(&self->mu_);
        history = self->history_.get();
      }
      if (history == nullptr) {
        done();
        return;
      }
      history->Store(std::move(job), std::move(done));
    };
  }
  ASSIGN_OR_RETURN(core->engine_,
                   engine::Engine::Create(forward,
                                          core->bundle_->tokenizer.get(),
                                          options.engine));
  if (options.metrics != nullptr) {
    const auto b = metrics::LatencyBuckets();
    core->ttft_ = options.metrics->GetHistogram(
        "triptych_decode_ttft_seconds", "Time from arrival to first token on this node.", b);
    core->itl_ = options.metrics->GetHistogram(
        "triptych_decode_itl_seconds", "Time between consecutive tokens of a request.", b);
    core->e2e_ = options.metrics->GetHistogram(
        "triptych_decode_e2e_seconds", "Time from arrival to the last output.", b);
  }
  core->driver_ = std::thread([self] { self->DriverLoop(); });
  return core;
}

DecodeCore::~DecodeCore() { Shutdown(absl::ZeroDuration()); }

void DecodeCore::SetPrefillClient(std::unique_ptr<PrefillClient> client) {
  absl::MutexLock lock(&mu_);
  prefill_client_ = std::move(client);
}

void DecodeCore::SetKvHistory(std::unique_ptr<KvHistory> history) {
  absl::MutexLock lock(&mu_);
  history_ = std::move(history);
}

absl::Status DecodeCore::Start(engine::GenerationRequest request,
                               OutputFn on_output) {
  const std::string id = request.id;
  {
    absl::MutexLock lock(&mu_);
    if (draining_) return absl::UnavailableError("decode node is draining");
    if (!streams_.emplace(id, Stream{std::move(on_output), absl::Now(), {}, 0}).second) {
      return absl::AlreadyExistsError("request id '" + id + "' is already running");
    }
  }
  absl::Status st = engine_->Add(std::move(request));
  if (!st.ok()) {
    absl::MutexLock lock(&mu_);
    streams_.erase(id);
  }
  return st;
}

void DecodeCore::Cancel(const std::string& request_id) {
  engine_->Cancel(request_id);
}

bool DecodeCore::draining() const {
  absl::MutexLock lock(&mu_);
  return draining_;
}

int64_t DecodeCore::active_requests() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(streams_.size());
}

bool DecodeCore::WaitUntilIdle(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return streams_.empty(); };
  return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

void DecodeCore::DriverLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
    }
    engine_->WaitForWork(absl::Milliseconds(50));
    for (const engine::TokenOutput& o : engine_->Step()) {
      OutputFn fn;
      {
        absl::MutexLock lock(&mu_);
        auto it = streams_.find(o.request_id);
        if (it == streams_.end()) continue;
        Stream& s = it->second;
        const absl::Time now = absl::Now();
        if (o.token >= 0 && ttft_ != nullptr) {
          if (s.tokens == 0) {
            ttft_->Observe(absl::ToDoubleSeconds(now - s.start));
          } else {
            itl_->Observe(absl::ToDoubleSeconds(now - s.last_token));
          }
        }
        if (o.token >= 0) {
          ++s.tokens;
          s.last_token = now;
        }
        fn = s.fn;
        if (o.request_done && e2e_ != nullptr) {
          e2e_->Observe(absl::ToDoubleSeconds(now - s.start));
        }
        if (o.finish != engine::FinishReason::kNone) {
          log::Info("decode", "request finished",
                    {{"request_id", o.request_id},
                     {"finish_reason", std::string(engine::FinishReasonName(o.finish))},
                     {"prompt_tokens", o.prompt_tokens},
                     {"cached_prompt_tokens", o.cached_prompt_tokens},
                     {"completion_tokens", o.completion_tokens},
                     {"e2e_ms", absl::ToDoubleMilliseconds(now - s.start)},
                     {"choice", static_cast<int64_t>(o.index)},
                     {"error", o.error}});
        }
        if (o.request_done) streams_.erase(it);
      }
      fn(o);
    }
  }
}

void DecodeCore::Shutdown(absl::Duration deadline) {
  {
    absl::MutexLock lock(&mu_);
    if (stop_) return;
    draining_ = true;
  }
  if (!WaitUntilIdle(deadline)) {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, stream] : streams_) engine_->Cancel(id);
  }
  // Let the driver deliver the cancellations, then stop it.
  WaitUntilIdle(absl::Seconds(2));
  std::unique_ptr<PrefillClient> client;
  {
    absl::MutexLock lock(&mu_);
    client = std::move(prefill_client_);
  }
  // Outstanding remote prefills report before the engine goes away.
  if (client) client->Shutdown();
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (driver_.joinable()) driver_.join();
  // Fetches and stores in flight release their blocks before the engine
  // (and its cache) goes away.
  std::unique_ptr<KvHistory> history;
  {
    absl::MutexLock lock(&mu_);
    history = std::move(history_);
  }
  if (history) history->Shutdown();
}

}  // namespace triptych::decode
