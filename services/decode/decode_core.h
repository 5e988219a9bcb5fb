#ifndef TRIPTYCH_SERVICES_DECODE_DECODE_CORE_H_
#define TRIPTYCH_SERVICES_DECODE_DECODE_CORE_H_

// The decode node's logic, without gRPC: one continuous-batching engine
// driven by its own thread, per-request output callbacks, remote prefill
// through a PrefillClient, and draining for graceful shutdown.
//
// Thread safety: every public method is thread-safe. Output callbacks run on
// the driver thread and must not block.

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics/metrics.h"
#include "runtime/engine/engine.h"
#include "runtime/engine/model_bundle.h"

namespace triptych::decode {

// Asks prefill nodes to compute a prompt's KV into this node's blocks (the
// seam between the decode core and the network; the gRPC + UCX
// implementation is GrpcPrefillClient, tests use fakes).
class PrefillClient {
 public:
  virtual ~PrefillClient() = default;
  // Must not block; calls `done` exactly once, from any thread.
  virtual void Prefill(engine::RemotePrefillJob job, engine::RemotePrefillDone done) = 0;
  // Waits for every outstanding `done` call; no new jobs after this.
  virtual void Shutdown() = 0;
};

// Fetches and stores KV blocks in a memory node's history (the seam between
// the decode core and the network; GrpcKvHistory is the gRPC + UCX one).
class KvHistory {
 public:
  virtual ~KvHistory() = default;
  // Neither may block; each calls `done` exactly once, from any thread.
  virtual void Fetch(engine::HistoryFetchJob job, engine::HistoryFetchDone done) = 0;
  virtual void Store(engine::HistoryStoreJob job, engine::HistoryStoreDone done) = 0;
  // Runs every outstanding `done`; no new jobs after this.
  virtual void Shutdown() = 0;
};

struct DecodeCoreOptions {
  std::string model_path;
  // "cpu" or "gpu" (also "hip" / "cuda"): the engine runs on runtime/device's
  // DeviceModel with its KV pool (which receives remote KV) in device memory.
  std::string device = "cpu";
  // remote_prefill, history_fetch and history_store are set by the core.
  engine::EngineOptions engine;
  // Use a KV history (installed with SetKvHistory before traffic): prompts
  // fetch their stored prefix blocks, finished sequences store theirs.
  bool kv_history = false;
  // Where TTFT / ITL / E2E histograms go; null = not recorded.
  metrics::Registry* metrics = nullptr;
};

class DecodeCore {
 public:
  using OutputFn = std::function<void(const engine::TokenOutput&)>;

  // Loads the model and starts the driver thread. Errors: those of
  // ModelBundle::Load and Engine::Create.
  static absl::StatusOr<std::unique_ptr<DecodeCore>> Create(DecodeCoreOptions options);
  ~DecodeCore();  // Shutdown(0)
  DecodeCore(const DecodeCore&) = delete;
  DecodeCore& operator=(const DecodeCore&) = delete;

  // Installs the client used for requests with a prefill_address (before
  // traffic; requests without a client prefill locally).
  void SetPrefillClient(std::unique_ptr<PrefillClient> client);
  // Installs the KV history (only used with options.kv_history).
  void SetKvHistory(std::unique_ptr<KvHistory> history);

  // Queues a request; `on_output` gets every output, the last with
  // finish != kNone. Errors: those of Engine::Add, and kUnavailable while
  // draining.
  absl::Status Start(engine::GenerationRequest request, OutputFn on_output);
  void Cancel(const std::string& request_id);

  // Stops taking requests, lets running ones finish until `deadline`, then
  // cancels the rest and stops the driver.
  void Shutdown(absl::Duration deadline);
  bool draining() const;

  engine::EngineStats stats() const { return engine_->stats(); }
  std::vector<kv::BlockEvent> DrainKvEvents() { return engine_->DrainKvEvents(); }
  kv::KvCache* kv_cache() { return engine_->kv_cache(); }
  const engine::ModelBundle& bundle() const { return *bundle_; }
  // "cpu" or the GPU device model's description.
  std::string device() const { return engine_->model().device(); }
  int64_t active_requests() const;
  // Waits until no request is active (all finished and reported) or
  // `timeout` passes; returns whether idle.
  bool WaitUntilIdle(absl::Duration timeout) const;

 private:
  DecodeCore() = default;
  void DriverLoop();

  std::unique_ptr<engine::ModelBundle> bundle_;
  std::unique_ptr<model::ForwardModel> device_model_;  // --device gpu
  std::unique_ptr<engine::Engine> engine_;
  std::thread driver_;

  mutable absl::Mutex mu_;
  struct Stream {
    OutputFn fn;
    absl::Time start;
    absl::Time last_token;
    int64_t tokens = 0;
  };
  absl::flat_hash_map<std::string, Stream> streams_ ABSL_GUARDED_BY(mu_);
  metrics::Histogram* ttft_ = nullptr;
  metrics::Histogram* itl_ = nullptr;
  metrics::Histogram* e2e_ = nullptr;
  std::unique_ptr<PrefillClient> prefill_client_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<KvHistory> history_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace triptych::decode

#endif  // TRIPTYCH_SERVICES_DECODE_DECODE_CORE_H_
