#ifndef TRIPTYCH_SERVICES_MEMORY_RETRIEVAL_SERVICE_H_
#define TRIPTYCH_SERVICES_MEMORY_RETRIEVAL_SERVICE_H_

// The gRPC adapter of RAG retrieval (service triptych.v1.Retrieval in
// proto/memory.proto) over a memory::CollectionStore, on gRPC's callback
// API. Every RPC is proto -> domain -> store -> proto, answered inline on
// the gRPC callback thread: the store only takes short per-collection locks
// (a search holds a reader lock while it scores one collection, which is
// bounded by the collection's size, and never waits on I/O).
//
// Error codes are the store's (collection_store.h): NOT_FOUND for an
// unknown collection or document, INVALID_ARGUMENT for bad input (names,
// sizes, embedding dimension, k, alpha, mode), ALREADY_EXISTS for a
// duplicate collection or document id, RESOURCE_EXHAUSTED for a full
// collection. AddDocuments fails as a whole only for an unknown collection;
// otherwise each document's outcome is in its DocumentResult and a bad
// document neither stops the others nor changes what is stored.
//
// Hosting: construct with the store and register with a grpc::ServerBuilder
// (builder.RegisterService(&service)), e.g. in the memory node next to the
// KV history service.
//
// Thread safety: thread-safe. The store (and the registry) must outlive the
// service, which must outlive the grpc::Server it is registered with.

#include "common/metrics/metrics.h"
#include "memory/collection_store.h"
#include "proto/memory.grpc.pb.h"

namespace triptych::memory_service {

class RetrievalService final : public v1::Retrieval::CallbackService {
 public:
  // `store` is not owned. `registry` (optional, not owned) receives the
  // triptych_memory_retrieval_* metrics.
  explicit RetrievalService(memory::CollectionStore* store,
                            metrics::Registry* registry = nullptr);
  RetrievalService(const RetrievalService&) = delete;
  RetrievalService& operator=(const RetrievalService&) = delete;

  grpc::ServerUnaryReactor* CreateCollection(grpc::CallbackServerContext* context,
                                             const v1::CreateCollectionRequest* request,
                                             v1::Collection* response) override;
  grpc::ServerUnaryReactor* GetCollection(grpc::CallbackServerContext* context,
                                          const v1::GetCollectionRequest* request,
                                          v1::Collection* response) override;
  grpc::ServerUnaryReactor* DeleteCollection(grpc::CallbackServerContext* context,
                                             const v1::DeleteCollectionRequest* request,
                                             v1::DeleteCollectionResponse* response) override;
  grpc::ServerUnaryReactor* ListCollections(grpc::CallbackServerContext* context,
                                            const v1::ListCollectionsRequest* request,
                                            v1::ListCollectionsResponse* response) override;
  grpc::ServerUnaryReactor* AddDocuments(grpc::CallbackServerContext* context,
                                         const v1::AddDocumentsRequest* request,
                                         v1::AddDocumentsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteDocument(grpc::CallbackServerContext* context,
                                           const v1::DeleteDocumentRequest* request,
                                           v1::DeleteDocumentResponse* response) override;
  grpc::ServerUnaryReactor* Search(grpc::CallbackServerContext* context,
                                   const v1::SearchRequest* request,
                                   v1::SearchResponse* response) override;

 private:
  // Answers the call with `status` and counts it.
  grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context, const char* rpc,
                                   const absl::Status& status);

  memory::CollectionStore* const store_;
  metrics::Registry* const registry_;
  // Null without a registry.
  metrics::Histogram* const search_seconds_;
  metrics::Counter* const postings_scanned_;
  metrics::Counter* const embeddings_scanned_;
};

}  // namespace triptych::memory_service

#endif  // TRIPTYCH_SERVICES_MEMORY_RETRIEVAL_SERVICE_H_
