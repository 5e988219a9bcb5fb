#ifndef TRIPTYCH_SERVICES_GATEWAY_LOCAL_RETRIEVAL_BACKEND_H_
#define TRIPTYCH_SERVICES_GATEWAY_LOCAL_RETRIEVAL_BACKEND_H_

// A RetrievalBackend over an in-process memory::CollectionStore: RAG in the
// single-node mode (`triptych-gateway --local`) and in tests. Every call is
// answered inline (`done` runs before the method returns): the store only
// takes short per-collection locks, and a search is bounded by the size of
// the collection it scans. Collections live as long as the process.
//
// Thread safety: thread-safe.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "memory/collection_store.h"
#include "services/gateway/retrieval_backend.h"

namespace triptych::gateway {

class LocalRetrievalBackend : public RetrievalBackend {
 public:
  // Errors: those of memory::CollectionStore::Create.
  static absl::StatusOr<std::unique_ptr<LocalRetrievalBackend>> Create(
      const memory::CollectionStoreOptions& options = {});

  void CreateCollection(const std::string& name, int dim,
                        Done<memory::CollectionInfo> done) override;
  void GetCollection(const std::string& name,
                     Done<memory::CollectionInfo> done) override;
  void DeleteCollection(const std::string& name, StatusDone done) override;
  void ListCollections(Done<std::vector<memory::CollectionInfo>> done) override;
  void AddDocuments(const std::string& collection,
                    std::vector<RetrievalDocument> docs,
                    Done<std::vector<absl::Status>> done) override;
  void DeleteDocument(const std::string& collection, const std::string& id,
                      StatusDone done) override;
  void Search(const std::string& collection,
              const memory::SearchRequest& request,
              Done<RetrievalResult> done) override;

  memory::CollectionStore* store() { return store_.get(); }

 private:
  explicit LocalRetrievalBackend(std::unique_ptr<memory::CollectionStore> store)
      : store_(std::move(store)) {}

  const std::unique_ptr<memory::CollectionStore> store_;
};

}  // namespace triptych::gateway

#endif  // TRIPTYCH_SERVICES_GATEWAY_LOCAL_RETRIEVAL_BACKEND_H_
