#ifndef TRIPTYCH_SERVICES_GATEWAY_GATEWAY_CORE_H_
#define TRIPTYCH_SERVICES_GATEWAY_GATEWAY_CORE_H_

// The OpenAI-compatible API over a GenerationBackend: authenticates,
// parses and validates requests, applies the chat template and tokenizes,
// enforces limits, starts the generation and turns its events into a JSON
// response or an SSE stream. A client that disconnects cancels its
// generation. No gRPC here: the backend is the seam.
//
// Routes (RegisterRoutes): POST /v1/chat/completions, POST /v1/completions,
// GET /v1/models, GET /v1/models/{id}; with a RetrievalBackend also the
// vector-store API (vector_store_api.h) and chat retrieval: a chat request
// with "retrieval" first searches the listed stores (retrieval.h), puts the
// passages into the prompt and reports them as "sources".
//
// Thread safety: all methods are thread-safe. Handlers run on HTTP I/O
// threads and never block; backend events are handled on backend threads.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/http/http_server.h"
#include "common/metrics/metrics.h"
#include "services/gateway/backend.h"
#include "services/gateway/gateway_metrics.h"
#include "services/gateway/key_limiter.h"
#include "services/gateway/model_info.h"
#include "services/gateway/openai_request.h"
#include "services/gateway/retrieval_backend.h"
#include "services/gateway/vector_store_api.h"

namespace triptych::gateway {

struct CoreOptions {
  // The model id reported and accepted in requests' "model".
  std::string served_model_name = "triptych";
  // Accepted bearer tokens; empty = no authentication.
  std::vector<std::string> api_keys;
  // Upper bound for max_tokens; 0 = the model's context length.
  int64_t max_tokens_cap = 0;
  // max_tokens when the request gives none; 0 = all the context left
  // (bounded by max_tokens_cap).
  int64_t default_max_tokens = 0;
  // Largest `n` (choices per request) accepted; more is a 400.
  int64_t max_n = 8;
  // Generation requests served at once; more get 503. 0 = unlimited.
  int64_t max_in_flight = 0;
  // One JSON line per finished request on stderr.
  bool log_requests = false;
  // Per-API-key limits (key_limiter.h); requests without a key count as
  // the key "". Beyond them: 429.
  KeyLimit key_limit_default;
  absl::flat_hash_map<std::string, KeyLimit> key_limits;
};

class GatewayCore {
 public:
  // `model`, `backend`, `registry` and `retrieval` (optional: null serves
  // no vector stores and refuses chat retrieval) must outlive the core and
  // every request it started.
  GatewayCore(CoreOptions options, const ModelInfo* model, GenerationBackend* backend,
              metrics::Registry* registry, RetrievalBackend* retrieval = nullptr);
  GatewayCore(const GatewayCore&) = delete;
  GatewayCore& operator=(const GatewayCore&) = delete;

  // Adds the API routes to `server` (before it starts).
  void RegisterRoutes(http::Server* server);

  // Validates a parsed request and turns it into a backend request
  // (tokenized, limits applied). Errors: kInvalidArgument (with param
  // payload), kNotFound (unknown model).
  absl::StatusOr<BackendRequest> BuildBackendRequest(const ParsedRequest& request,
                                                     const std::string& request_id) const;

  int64_t in_flight() const { return in_flight_.load(); }
  const CoreOptions& options() const { return options_; }

 private:
  class Call;
  // A 400 when `tools` ask for parsed calls and the model's template has no
  // format this server parses.
  absl::Status CheckToolSupport(const ToolRequest& tools) const;
  // The output constraint of tool_choice "required" / a named function.
  absl::StatusOr<grammar::OutputConstraint> ToolConstraint(const ParsedRequest& request) const;
  // The constrained call's opening that goes into the prompt instead of
  // the output (gpt-oss; tool_calls::ConstrainedCallHeader), "" for none.
  std::string ConstrainedCallHeader(const ParsedRequest& request) const;
  void HandleGenerate(Endpoint endpoint, http::Request request,
                      std::shared_ptr<http::Responder> responder);
  // The rest of HandleGenerate once retrieval (if any) is done; `sources`
  // is null without retrieval. Runs on an I/O or a retrieval backend thread.
  void StartGeneration(const ParsedRequest& parsed, nlohmann::json sources,
                       std::shared_ptr<http::Responder> responder, absl::Time arrival,
                       const std::string& key);
  // The bearer token of the request ("" without one).
  static std::string KeyOf(const http::Request& request);
  http::Response HandleModels(const http::Request& request) const;
  // Empty when authorized, else the 401 error.
  std::optional<ApiError> Authorize(const http::Request& request) const;
  void Reject(Endpoint endpoint, const ApiError& error, http::Responder* responder);

  const CoreOptions options_;
  const ModelInfo* const model_;
  GenerationBackend* const backend_;
  RetrievalBackend* const retrieval_;
  GatewayMetrics metrics_;
  std::unique_ptr<VectorStoreApi> vector_stores_;  // null without retrieval_
  const int64_t created_;
  std::atomic<int64_t> in_flight_{0};
  KeyLimiter limiter_;
};

}  // namespace triptych::gateway

#endif  // TRIPTYCH_SERVICES_GATEWAY_GATEWAY_CORE_H_
