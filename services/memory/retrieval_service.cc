#include "services/memory/retrieval_service.h"

#include <limits>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/grpc/status_convert.h"
#include "services/memory/retrieval_convert.h"

namespace triptych::memory_service {
namespace {

const char* ModeLabel(memory::SearchMode mode) {
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

}  // namespace

RetrievalService::RetrievalService(memory::CollectionStore* store, metrics::Registry* registry)
    : store_(store),
      registry_(registry),
      search_seconds_(registry == nullptr
                          ? nullptr
                          : registry->GetHistogram("triptych_memory_retrieval_search_seconds",
                                                   "Time to run one Search on the store.",
                                                   metrics::LatencyBuckets())),
      postings_scanned_(registry == nullptr
                            ? nullptr
                            : registry->GetCounter(
                                  "triptych_memory_retrieval_postings_scanned_total",
                                  "BM25 postings scored by searches.")),
      embeddings_scanned_(registry == nullptr
                              ? nullptr
                              : registry->GetCounter(
                                    "triptych_memory_retrieval_embeddings_scanned_total",
                                    "Document embeddings scored by searches.")) {}

grpc::ServerUnaryReactor* RetrievalService::Finish(grpc::CallbackServerContext* context,
                                                   const char* rpc, const absl::Status& status) {
  if (registry_ != nullptr) {
    registry_
        ->GetCounter("triptych_memory_retrieval_requests_total",
                     "Retrieval RPCs by method and status code.",
                     {{"rpc", rpc}, {"code", absl::StatusCodeToString(status.code())}})
        ->Increment();
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* RetrievalService::CreateCollection(
    grpc::CallbackServerContext* context, const v1::CreateCollectionRequest* request,
    v1::Collection* response) {
  if (request->dim() > static_cast<uint32_t>(std::numeric_limits<int>::max())) {
    return Finish(context, "CreateCollection",
                  absl::InvalidArgumentError(absl::StrCat("dim ", request->dim(), " is too large")));
  }
  absl::Status s = store_->CreateCollection(request->name(), static_cast<int>(request->dim()));
  if (s.ok()) {
    absl::StatusOr<memory::CollectionInfo> info = store_->GetCollection(request->name());
    // A concurrent delete may win; report what the store says.
    if (info.ok()) *response = ToProto(*info);
    s = info.status();
  }
  return Finish(context, "CreateCollection", s);
}

grpc::ServerUnaryReactor* RetrievalService::GetCollection(grpc::CallbackServerContext* context,
                                                          const v1::GetCollectionRequest* request,
                                                          v1::Collection* response) {
  absl::StatusOr<memory::CollectionInfo> info = store_->GetCollection(request->name());
  if (info.ok()) *response = ToProto(*info);
  return Finish(context, "GetCollection", info.status());
}

grpc::ServerUnaryReactor* RetrievalService::DeleteCollection(
    grpc::CallbackServerContext* context, const v1::DeleteCollectionRequest* request,
    v1::DeleteCollectionResponse* /*response*/) {
  return Finish(context, "DeleteCollection", store_->DeleteCollection(request->name()));
}

grpc::ServerUnaryReactor* RetrievalService::ListCollections(
    grpc::CallbackServerContext* context, const v1::ListCollectionsRequest* /*request*/,
    v1::ListCollectionsResponse* response) {
  for (const memory::CollectionInfo& info : store_->ListCollections()) {
    *response->add_collections() = ToProto(info);
  }
  return Finish(context, "ListCollections", absl::OkStatus());
}

grpc::ServerUnaryReactor* RetrievalService::AddDocuments(grpc::CallbackServerContext* context,
                                                         const v1::AddDocumentsRequest* request,
                                                         v1::AddDocumentsResponse* response) {
  // An unknown collection fails the call; anything else is per document.
  if (absl::StatusOr<memory::CollectionInfo> info = store_->GetCollection(request->collection());
      !info.ok()) {
    return Finish(context, "AddDocuments", info.status());
  }
  for (const v1::Document& doc : request->documents()) {
    std::optional<absl::Span<const float>> embedding;
    if (doc.embedding_size() > 0) {
      embedding = absl::MakeConstSpan(doc.embedding().data(), doc.embedding_size());
    }
    const absl::Status s = store_->AddDocument(request->collection(), doc.id(), doc.text(),
                                               embedding);
    v1::DocumentResult* result = response->add_results();
    result->set_id(doc.id());
    result->set_code(static_cast<int32_t>(s.code()));
    result->set_error(std::string(s.message()));
  }
  return Finish(context, "AddDocuments", absl::OkStatus());
}

grpc::ServerUnaryReactor* RetrievalService::DeleteDocument(
    grpc::CallbackServerContext* context, const v1::DeleteDocumentRequest* request,
    v1::DeleteDocumentResponse* /*response*/) {
  return Finish(context, "DeleteDocument",
                store_->DeleteDocument(request->collection(), request->id()));
}

grpc::ServerUnaryReactor* RetrievalService::Search(grpc::CallbackServerContext* context,
                                                   const v1::SearchRequest* request,
                                                   v1::SearchResponse* response) {
  absl::StatusOr<memory::SearchRequest> search = FromProto(*request);
  if (!search.ok()) return Finish(context, "Search", search.status());
  const absl::Time start = absl::Now();
  memory::SearchWork work;
  absl::StatusOr<std::vector<memory::SearchHit>> hits =
      store_->Search(request->collection(), *search, &work);
  if (registry_ != nullptr && hits.ok()) {
    search_seconds_->Observe(absl::ToDoubleSeconds(absl::Now() - start));
    postings_scanned_->Increment(static_cast<double>(work.postings_scanned));
    embeddings_scanned_->Increment(static_cast<double>(work.embeddings_scanned));
    registry_
        ->GetCounter("triptych_memory_retrieval_searches_total", "Searches served, by mode.",
                     {{"mode", ModeLabel(search->mode)}})
        ->Increment();
  }
  if (hits.ok()) {
    for (const memory::SearchHit& hit : *hits) *response->add_hits() = ToProto(hit);
    response->set_postings_scanned(static_cast<uint64_t>(work.postings_scanned));
    response->set_embeddings_scanned(static_cast<uint64_t>(work.embeddings_scanned));
  }
  return Finish(context, "Search", hits.status());
}

}  // namespace triptych::memory_service
