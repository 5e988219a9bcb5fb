#ifndef TRIPTYCH_SERVICES_GATEWAY_RETRIEVAL_H_
#define TRIPTYCH_SERVICES_GATEWAY_RETRIEVAL_H_

// Retrieval as the gateway uses it: one store search with its metrics
// (shared by POST /v1/vector_stores/{id}/search and chat retrieval), and
// chat retrieval itself: search every listed store with the last user
// message, merge, and put the best passages into the conversation as a
// system message before the chat template is applied.
//
// Thread safety: free functions, thread-safe; callbacks as in
// RetrievalBackend (calling thread or a backend thread, must not block).

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "memory/collection_store.h"
#include "nlohmann/json.hpp"
#include "runtime/chat/chat_template.h"
#include "services/gateway/gateway_metrics.h"
#include "services/gateway/openai_request.h"
#include "services/gateway/retrieval_backend.h"

namespace triptych::gateway {

// "bm25" / "dense" / "hybrid".
const char* SearchModeName(memory::SearchMode mode);

// backend->Search, timed and counted in `metrics` (not owned; both must
// outlive the call).
void InstrumentedSearch(RetrievalBackend* backend, GatewayMetrics* metrics,
                        const std::string& store,
                        const memory::SearchRequest& request,
                        RetrievalBackend::Done<RetrievalResult> done);

struct RetrievedPassage {
  std::string vector_store_id;
  memory::SearchHit hit;
};

// The query of a chat retrieval: the content of the last user message.
// Errors: kInvalidArgument (param "messages") when there is none or it is
// empty and the spec has no query embedding.
absl::StatusOr<std::string> RetrievalQuery(
    const std::vector<chat::Message>& messages, const RetrievalSpec& spec);

// Searches every store of `spec` (in parallel) and keeps the spec.top_k
// best hits over all of them (higher score first; ties keep store order).
// Errors: the first failing store's (kNotFound names the store).
void RetrievePassages(
    RetrievalBackend* backend, GatewayMetrics* metrics,
    const RetrievalSpec& spec, const std::string& query,
    std::function<void(absl::StatusOr<std::vector<RetrievedPassage>>)> done);

// Puts the passages into the conversation: appended to a leading system
// message, or as a new first system message (chat templates often accept
// a system message only first). Nothing changes when `passages` is empty.
void AddPassagesToMessages(const std::vector<RetrievedPassage>& passages,
                           std::vector<chat::Message>* messages);

// The "sources" array of a response: [{"vector_store_id", "document_id",
// "score", "snippet"}], in the order the passages appear in the prompt.
nlohmann::json SourcesJson(const std::vector<RetrievedPassage>& passages);

}  // namespace triptych::gateway

#endif  // TRIPTYCH_SERVICES_GATEWAY_RETRIEVAL_H_
