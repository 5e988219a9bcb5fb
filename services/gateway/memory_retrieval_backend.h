#ifndef TRIPTYCH_SERVICES_GATEWAY_MEMORY_RETRIEVAL_BACKEND_H_
#define TRIPTYCH_SERVICES_GATEWAY_MEMORY_RETRIEVAL_BACKEND_H_

// A RetrievalBackend that calls a memory node's triptych.v1.Retrieval
// service (proto/memory.proto) on gRPC's callback API
// (`triptych-gateway --memory-address host:port`). `done` runs on a gRPC
// callback thread. A node that cannot be reached answers kUnavailable
// (the gateway's 503); a call past `timeout` kDeadlineExceeded.
//
// Thread safety: thread-safe. The destructor cancels calls still running
// and waits until their `done` callbacks have returned.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/gateway/retrieval_backend.h"

namespace triptych::gateway {

struct MemoryRetrievalBackendOptions {
  std::string address;  // host:port of the memory node
  // Deadline of each call.
  absl::Duration timeout = absl::Seconds(10);
};

class MemoryRetrievalBackend : public RetrievalBackend {
 public:
  // Creates the channel (connects lazily). Errors: kInvalidArgument (empty
  // address, timeout <= 0).
  static absl::StatusOr<std::unique_ptr<MemoryRetrievalBackend>> Create(
      const MemoryRetrievalBackendOptions& options);
  ~MemoryRetrievalBackend() override;
  MemoryRetrievalBackend(const MemoryRetrievalBackend&) = delete;
  MemoryRetrievalBackend& operator=(const MemoryRetrievalBackend&) = delete;

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

 private:
  class Impl;
  explicit MemoryRetrievalBackend(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace triptych::gateway

#endif  // TRIPTYCH_SERVICES_GATEWAY_MEMORY_RETRIEVAL_BACKEND_H_
