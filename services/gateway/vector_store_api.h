#ifndef TRIPTYCH_SERVICES_GATEWAY_VECTOR_STORE_API_H_
#define TRIPTYCH_SERVICES_GATEWAY_VECTOR_STORE_API_H_

// The vector-store HTTP API, shaped like OpenAI's vector stores where it
// fits, over a RetrievalBackend (docs/VECTOR_STORES.md has the request and
// response bodies):
//
//   POST   /v1/vector_stores                          create {name, dimension?}
//   GET    /v1/vector_stores                          list
//   GET    /v1/vector_stores/{id}                     get
//   DELETE /v1/vector_stores/{id}                     delete
//   POST   /v1/vector_stores/{id}/documents           add documents (also
//   /files) DELETE /v1/vector_stores/{id}/documents/{doc_id}  delete a document
//   (also /files) POST   /v1/vector_stores/{id}/search              search
//   (bm25 | dense | hybrid)
//
// A vector store's id is its name. Errors are OpenAI error bodies: 400 bad
// input, 401 bad API key, 404 unknown store or document, 409 an id that
// already exists, 413 a body over the server's limit, 429 a full store,
// 503 memory node unreachable, 504 memory node too slow.
//
// Thread safety: thread-safe. Handlers never block an I/O thread: they
// answer from the backend's callback.

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/http/http_server.h"
#include "services/gateway/gateway_metrics.h"
#include "services/gateway/openai_request.h"
#include "services/gateway/retrieval_backend.h"

namespace triptych::gateway {

class VectorStoreApi {
 public:
  // Empty when the request may proceed, else the error to answer.
  using Authorizer =
      std::function<std::optional<ApiError>(const http::Request&)>;

  static constexpr int kMaxDocumentsPerRequest = 1024;
  static constexpr int kMaxSearchResults = 50;

  // `backend` and `metrics` are not owned and must outlive the API and
  // every request it started.
  VectorStoreApi(RetrievalBackend* backend, GatewayMetrics* metrics,
                 Authorizer authorize);
  VectorStoreApi(const VectorStoreApi&) = delete;
  VectorStoreApi& operator=(const VectorStoreApi&) = delete;

  // Adds the routes to `server` (before it starts).
  void RegisterRoutes(http::Server* server);

 private:
  using ResponderPtr = std::shared_ptr<http::Responder>;
  void Create(const http::Request& request, ResponderPtr responder);
  void List(ResponderPtr responder);
  // Everything under /v1/vector_stores/.
  void Dispatch(const http::Request& request, ResponderPtr responder);
  void AddDocuments(const std::string& store, const http::Request& request,
                    ResponderPtr responder);
  void Search(const std::string& store, const http::Request& request,
              ResponderPtr responder);

  RetrievalBackend* const backend_;
  GatewayMetrics* const metrics_;
  const Authorizer authorize_;
};

}  // namespace triptych::gateway

#endif  // TRIPTYCH_SERVICES_GATEWAY_VECTOR_STORE_API_H_
