#ifndef TRIPTYCH_SERVICES_MEMORY_MEMORY_SERVICE_H_
#define TRIPTYCH_SERVICES_MEMORY_MEMORY_SERVICE_H_

// The gRPC adapter of the memory node's KV history (service
// triptych.v1.MemoryNode in proto/memory.proto) over a MemoryCore, on
// gRPC's callback API. Each RPC converts proto to domain types, calls the
// core inline (index work under short locks; a disk reload for OpenRead of
// a spilled block is one pread per block) and records its latency in the
// registry (triptych_memory_rpc_seconds{rpc}).
//
// Thread safety: thread-safe. The core and registry must outlive the
// service, which must outlive the grpc::Server it is registered with.

#include "absl/status/statusor.h"
#include "common/metrics/metrics.h"
#include "proto/memory.grpc.pb.h"
#include "services/memory/kv_geometry.h"
#include "services/memory/memory_core.h"

namespace triptych::memory_service {

class MemoryNodeService final : public v1::MemoryNode::CallbackService {
 public:
  MemoryNodeService(MemoryCore* core, metrics::Registry* registry);
  MemoryNodeService(const MemoryNodeService&) = delete;
  MemoryNodeService& operator=(const MemoryNodeService&) = delete;

  grpc::ServerUnaryReactor* LookupHistory(grpc::CallbackServerContext* context,
                                          const v1::LookupHistoryRequest* request,
                                          v1::LookupHistoryResponse* response) override;
  grpc::ServerUnaryReactor* OpenRead(grpc::CallbackServerContext* context,
                                     const v1::OpenReadRequest* request,
                                     v1::OpenReadResponse* response) override;
  grpc::ServerUnaryReactor* OpenWrite(grpc::CallbackServerContext* context,
                                      const v1::OpenWriteRequest* request,
                                      v1::OpenWriteResponse* response) override;
  grpc::ServerUnaryReactor* CloseLease(grpc::CallbackServerContext* context,
                                       const v1::CloseLeaseRequest* request,
                                       v1::CloseLeaseResponse* response) override;
  grpc::ServerUnaryReactor* SelectRelevant(grpc::CallbackServerContext* context,
                                           const v1::SelectRelevantRequest* request,
                                           v1::SelectRelevantResponse* response) override;

 private:
  void FillRegion(v1::MemoryRegion* region) const;
  grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* context,
                                 const absl::Status& status, const char* rpc,
                                 absl::Time start);

  MemoryCore* const core_;
  metrics::Registry* const registry_;
};

}  // namespace triptych::memory_service

#endif  // TRIPTYCH_SERVICES_MEMORY_MEMORY_SERVICE_H_
