#include "services/gateway/local_retrieval_backend.h"

#include <optional>
#include <utility>

#include "absl/types/span.h"

namespace triptych::gateway {

absl::StatusOr<std::unique_ptr<LocalRetrievalBackend>>
LocalRetrievalBackend::Create(const memory::CollectionStoreOptions& options) {
  absl::StatusOr<std::unique_ptr<memory::CollectionStore>> store =
      memory::CollectionStore::Create(options);
  if (!store.ok()) return store.status();
  return std::unique_ptr<LocalRetrievalBackend>(
      new LocalRetrievalBackend(std::move(store).value()));
}

void LocalRetrievalBackend::CreateCollection(
    const std::string& name, int dim, Done<memory::CollectionInfo> done) {
  absl::Status s = store_->CreateCollection(name, dim);
  if (!s.ok()) {
    done(s);
    return;
  }
  done(store_->GetCollection(name));
}

void LocalRetrievalBackend::GetCollection(const std::string& name,
                                          Done<memory::CollectionInfo> done) {
  done(store_->GetCollection(name));
}

void LocalRetrievalBackend::DeleteCollection(const std::string& name,
                                             StatusDone done) {
  done(store_->DeleteCollection(name));
}

void LocalRetrievalBackend::ListCollections(
    Done<std::vector<memory::CollectionInfo>> done) {
  done(store_->ListCollections());
}

void LocalRetrievalBackend::AddDocuments(const std::string& collection,
                                         std::vector<RetrievalDocument> docs,
                                         Done<std::vector<absl::Status>> done) {
  if (absl::StatusOr<memory::CollectionInfo> info =
          store_->GetCollection(collection);
      !info.ok()) {
    done(info.status());
    return;
  }
  std::vector<absl::Status> results;
  results.reserve(docs.size());
  for (const RetrievalDocument& doc : docs) {
    std::optional<absl::Span<const float>> embedding;
    if (doc.embedding.has_value())
      embedding = absl::MakeConstSpan(*doc.embedding);
    results.push_back(
        store_->AddDocument(collection, doc.id, doc.text, embedding));
  }
  done(std::move(results));
}

void LocalRetrievalBackend::DeleteDocument(const std::string& collection,
                                           const std::string& id,
                                           StatusDone done) {
  done(store_->DeleteDocument(collection, id));
}

void LocalRetrievalBackend::Search(const std::string& collection,
                                   const memory::SearchRequest& request,
                                   Done<RetrievalResult> done) {
  RetrievalResult result;
  absl::StatusOr<std::vector<memory::SearchHit>> hits =
      store_->Search(collection, request, &result.work);
  if (!hits.ok()) {
    done(hits.status());
    return;
  }
  result.hits = std::move(hits).value();
  done(std::move(result));
}

}  // namespace triptych::gateway
