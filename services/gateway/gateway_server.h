#ifndef TRIPTYCH_SERVICES_GATEWAY_GATEWAY_SERVER_H_
#define TRIPTYCH_SERVICES_GATEWAY_GATEWAY_SERVER_H_

// Owns the gateway's parts: the HTTP server, the metrics registry, the
// OpenAI core, the backend, the optional retrieval backend (vector stores)
// and the model's metadata (and, in --local mode, the loaded model). Serves
// the API plus /metrics, /health, /live, /ready.
//
// Thread safety: Start() once, then Stop() from any thread but an HTTP I/O
// thread; accessors are thread-safe.

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/http/http_server.h"
#include "common/metrics/metrics.h"
#include "runtime/engine/model_bundle.h"
#include "services/gateway/backend.h"
#include "services/gateway/gateway_core.h"
#include "services/gateway/model_info.h"
#include "services/gateway/retrieval_backend.h"

namespace triptych::gateway {

struct GatewayOptions {
  http::ServerOptions http;
  CoreOptions core;
};

class GatewayServer {
 public:
  // `bundle` is optional: the loaded model that `model` and `backend` refer
  // to (destroyed after them). `retrieval` is optional: without it the
  // server has no vector stores. Errors: kInvalidArgument (bad options).
  static absl::StatusOr<std::unique_ptr<GatewayServer>> Create(
      GatewayOptions options, std::unique_ptr<ModelInfo> model,
      std::unique_ptr<GenerationBackend> backend,
      std::unique_ptr<engine::ModelBundle> bundle = nullptr,
      std::unique_ptr<RetrievalBackend> retrieval = nullptr);
  ~GatewayServer();  // Stop(absl::ZeroDuration()) if still running
  GatewayServer(const GatewayServer&) = delete;
  GatewayServer& operator=(const GatewayServer&) = delete;

  // Binds and serves. Errors: those of http::Server::Start.
  absl::Status Start();
  int port() const { return http_->port(); }
  // Drains: stops accepting, lets in-flight requests finish up to
  // `deadline`, then disconnects the rest (which cancels their generation).
  void Stop(absl::Duration deadline);

  GatewayCore* core() { return core_.get(); }
  GenerationBackend* backend() { return backend_.get(); }
  RetrievalBackend* retrieval() { return retrieval_.get(); }
  metrics::Registry* registry() { return &registry_; }

 private:
  GatewayServer() = default;

  // Destroyed bottom-up: the HTTP server first; then the retrieval backend,
  // whose last callbacks may still start generations; then the backend,
  // whose last events still reach the core; the bundle last.
  std::unique_ptr<engine::ModelBundle> bundle_;
  std::unique_ptr<ModelInfo> model_;
  metrics::Registry registry_;
  std::unique_ptr<GatewayCore> core_;
  std::unique_ptr<GenerationBackend> backend_;
  std::unique_ptr<RetrievalBackend> retrieval_;
  std::unique_ptr<http::Server> http_;
};

}  // namespace triptych::gateway

#endif  // TRIPTYCH_SERVICES_GATEWAY_GATEWAY_SERVER_H_
