#ifndef TRIPTYCH_SERVICES_GATEWAY_ENGINE_BACKEND_H_
#define TRIPTYCH_SERVICES_GATEWAY_ENGINE_BACKEND_H_

// A GenerationBackend that runs an in-process engine::Engine: the
// single-node mode (`triptych-gateway --local`), comparable to llama.cpp's
// server. One driver thread calls Engine::Step() while there is work and
// dispatches each output to its request's callback.
//
// Thread safety: Start() and the handles' Cancel() from any thread; event
// callbacks run on the driver thread (or inside Start() when the engine
// refuses the request at once).

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/engine/engine.h"
#include "services/gateway/backend.h"

namespace triptych::gateway {

class EngineBackend : public GenerationBackend {
 public:
  // `model` and `tokenizer` must outlive the backend. Errors: those of
  // engine::Engine::Create.
  static absl::StatusOr<std::unique_ptr<EngineBackend>> Create(
      const model::Model* model, const tokenizer::Tokenizer* tokenizer,
      const engine::EngineOptions& options);
  // Cancels what is still running, delivers the final events and joins the
  // driver thread.
  ~EngineBackend() override;
  EngineBackend(const EngineBackend&) = delete;
  EngineBackend& operator=(const EngineBackend&) = delete;

  std::unique_ptr<GenerationHandle> Start(
      const BackendRequest& request,
      std::function<void(const BackendEvent&)> on_event) override;

  engine::EngineStats stats() const { return driver_->engine->stats(); }
  // Requests started and not yet finished.
  int64_t active() const;
  // Waits until no request is active (their KV blocks are then released);
  // false on timeout.
  bool WaitUntilIdle(absl::Duration timeout) const;

 private:
  // Shared with the handles (weak), so a handle that outlives the backend
  // is harmless.
  struct Driver {
    std::unique_ptr<engine::Engine> engine;
    mutable absl::Mutex mu;
    struct Entry {
      std::function<void(const BackendEvent&)> on_event;
      bool logprobs = false;
      int n = 1;  // choices
    };
    absl::flat_hash_map<std::string, Entry> requests ABSL_GUARDED_BY(mu);
    bool kick ABSL_GUARDED_BY(mu) = false;
    bool stop ABSL_GUARDED_BY(mu) = false;

    void Cancel(const std::string& id);
    void Run();
  };
  class Handle;

  explicit EngineBackend(std::shared_ptr<Driver> driver);

  std::shared_ptr<Driver> driver_;
  std::thread thread_;
};

}  // namespace triptych::gateway

#endif  // TRIPTYCH_SERVICES_GATEWAY_ENGINE_BACKEND_H_
