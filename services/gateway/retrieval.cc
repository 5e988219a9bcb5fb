#include "services/gateway/retrieval.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace triptych::gateway {

const char* SearchModeName(memory::SearchMode mode) {
  switch (mode) {
    case memory::SearchMode::kDense:
      return "dense";
    case memory::SearchMode::kHybrid:
      return "hybrid";
    case memory::SearchMode::kBm25:
      break;
  }
  return "bm25";
}

void InstrumentedSearch(RetrievalBackend* backend, GatewayMetrics* metrics,
                        const std::string& store,
                        const memory::SearchRequest& request,
                        RetrievalBackend::Done<RetrievalResult> done) {
  const absl::Time start = absl::Now();
  backend->Search(
      store, request,
      [metrics, start, mode = SearchModeName(request.mode),
       done = std::move(done)](absl::StatusOr<RetrievalResult> result) {
        metrics->search_seconds->Observe(
            absl::ToDoubleSeconds(absl::Now() - start));
        metrics->CountSearch(
            mode,
            result.ok() ? 200 : ErrorFromStatus(result.status()).http_status);
        if (result.ok()) {
          metrics->postings_scanned->Increment(
              static_cast<double>(result->work.postings_scanned));
          metrics->embeddings_scanned->Increment(
              static_cast<double>(result->work.embeddings_scanned));
        }
        done(std::move(result));
      });
}

absl::StatusOr<std::string> RetrievalQuery(
    const std::vector<chat::Message>& messages, const RetrievalSpec& spec) {
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    if (it->role != "user") continue;
    if (it->content.empty() && spec.query_embedding.empty()) break;
    return it->content;
  }
  if (!spec.query_embedding.empty()) return std::string();
  return InvalidParam(
      "messages",
      "retrieval needs a non-empty user message to search with (or "
      "'retrieval.query_embedding')");
}

namespace {

// Collects the per-store results of one RetrievePassages call.
struct Gather {
  Gather(size_t n, int top_k,
         std::function<void(absl::StatusOr<std::vector<RetrievedPassage>>)> d)
      : top_k(top_k), done(std::move(d)), per_store(n) {}

  // Records store i's outcome; the last one to arrive answers.
  void Arrive(size_t i, const std::string& store,
              absl::StatusOr<RetrievalResult> result) {
    absl::StatusOr<std::vector<RetrievedPassage>> answer;
    {
      absl::MutexLock lock(&mu);
      if (result.ok()) {
        for (memory::SearchHit& hit : result->hits) {
          per_store[i].push_back(RetrievedPassage{store, std::move(hit)});
        }
      } else if (error.ok()) {
        error = absl::IsNotFound(result.status())
                    ? WithParam(absl::NotFoundError(absl::StrCat(
                                    "vector store '", store, "' not found")),
                                "retrieval.vector_store_ids")
                    : result.status();
      }
      if (++arrived < per_store.size()) return;
      answer = error.ok()
                   ? Merge()
                   : absl::StatusOr<std::vector<RetrievedPassage>>(error);
    }
    done(std::move(answer));
  }

  std::vector<RetrievedPassage> Merge() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::vector<RetrievedPassage> all;
    for (std::vector<RetrievedPassage>& v : per_store) {
      for (RetrievedPassage& p : v) all.push_back(std::move(p));
    }
    std::stable_sort(all.begin(), all.end(),
                     [](const RetrievedPassage& a, const RetrievedPassage& b) {
                       return a.hit.score > b.hit.score;
                     });
    if (all.size() > static_cast<size_t>(top_k)) all.resize(top_k);
    return all;
  }

  const int top_k;
  const std::function<void(absl::StatusOr<std::vector<RetrievedPassage>>)> done;
  absl::Mutex mu;
  std::vector<std::vector<RetrievedPassage>> per_store ABSL_GUARDED_BY(mu);
  size_t arrived ABSL_GUARDED_BY(mu) = 0;
  absl::Status error ABSL_GUARDED_BY(mu);
};

}  // namespace

void RetrievePassages(
    RetrievalBackend* backend, GatewayMetrics* metrics,
    const RetrievalSpec& spec, const std::string& query,
    std::function<void(absl::StatusOr<std::vector<RetrievedPassage>>)> done) {
  auto gather = std::make_shared<Gather>(spec.vector_store_ids.size(),
                                         spec.top_k, std::move(done));
  memory::SearchRequest request;
  request.query_text = query;
  request.query_embedding = spec.query_embedding;
  request.k = spec.top_k;
  request.mode = spec.mode;
  request.alpha = spec.alpha;
  for (size_t i = 0; i < spec.vector_store_ids.size(); ++i) {
    const std::string& store = spec.vector_store_ids[i];
    InstrumentedSearch(
        backend, metrics, store, request,
        [gather, i, store](absl::StatusOr<RetrievalResult> result) {
          gather->Arrive(i, store, std::move(result));
        });
  }
}

void AddPassagesToMessages(const std::vector<RetrievedPassage>& passages,
                           std::vector<chat::Message>* messages) {
  if (passages.empty()) return;
  std::string block = "Answer with the help of these passages:\n";
  for (size_t i = 0; i < passages.size(); ++i) {
    absl::StrAppend(&block, "\n[", i + 1, "] ", passages[i].hit.snippet, "\n");
  }
  if (!messages->empty() && (*messages)[0].role == "system") {
    absl::StrAppend(&(*messages)[0].content, "\n\n", block);
    return;
  }
  chat::Message system;
  system.role = "system";
  system.content = std::move(block);
  messages->insert(messages->begin(), std::move(system));
}

nlohmann::json SourcesJson(const std::vector<RetrievedPassage>& passages) {
  nlohmann::json out = nlohmann::json::array();
  for (const RetrievedPassage& p : passages) {
    out.push_back({{"vector_store_id", p.vector_store_id},
                   {"document_id", p.hit.doc_id},
                   {"score", p.hit.score},
                   {"snippet", p.hit.snippet}});
  }
  return out;
}

}  // namespace triptych::gateway
