#ifndef TRIPTYCH_SERVICES_GATEWAY_RETRIEVAL_BACKEND_H_
#define TRIPTYCH_SERVICES_GATEWAY_RETRIEVAL_BACKEND_H_

// The seam between the gateway's vector-store API (and chat retrieval) and
// whatever holds the RAG collections: an in-process memory::CollectionStore
// (LocalRetrievalBackend, `triptych-gateway --local`) or a memory node over
// gRPC (MemoryRetrievalBackend, `--memory-address`).
//
// Every method is asynchronous so that HTTP I/O threads never wait on a
// remote node: `done` runs exactly once, either on the calling thread
// before the method returns or on a backend thread, and must not block.
// Error codes are the store's (memory/collection_store.h): kNotFound,
// kInvalidArgument, kAlreadyExists, kResourceExhausted; a memory node that
// cannot be reached gives kUnavailable (or kDeadlineExceeded).
//
// Thread safety: implementations are thread-safe.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "memory/collection_store.h"

namespace triptych::gateway {

struct RetrievalDocument {
  std::string id;
  std::string text;
  // Exactly the collection's dim floats when it has dim > 0; absent for a
  // BM25-only collection.
  std::optional<std::vector<float>> embedding;
};

struct RetrievalResult {
  std::vector<memory::SearchHit> hits;  // best first
  memory::SearchWork work;
};

class RetrievalBackend {
 public:
  template <typename T>
  using Done = std::function<void(absl::StatusOr<T>)>;
  using StatusDone = std::function<void(absl::Status)>;

  virtual ~RetrievalBackend() = default;

  virtual void CreateCollection(const std::string& name, int dim,
                                Done<memory::CollectionInfo> done) = 0;
  virtual void GetCollection(const std::string& name,
                             Done<memory::CollectionInfo> done) = 0;
  virtual void DeleteCollection(const std::string& name, StatusDone done) = 0;
  // Sorted by name.
  virtual void ListCollections(
      Done<std::vector<memory::CollectionInfo>> done) = 0;
  // Adds documents one by one: the result holds one status per document,
  // in order (a bad document does not stop the others). The call fails as
  // a whole only when the collection is unknown or the node unreachable.
  virtual void AddDocuments(const std::string& collection,
                            std::vector<RetrievalDocument> docs,
                            Done<std::vector<absl::Status>> done) = 0;
  virtual void DeleteDocument(const std::string& collection,
                              const std::string& id, StatusDone done) = 0;
  virtual void Search(const std::string& collection,
                      const memory::SearchRequest& request,
                      Done<RetrievalResult> done) = 0;
};

}  // namespace triptych::gateway

#endif  // TRIPTYCH_SERVICES_GATEWAY_RETRIEVAL_BACKEND_H_
