#ifndef TRIPTYCH_SERVICES_MEMORY_MEMORY_SERVER_H_
#define TRIPTYCH_SERVICES_MEMORY_MEMORY_SERVER_H_

// A running memory node: the core (KV history pool registered with UCX,
// collections, leases), the gRPC server (MemoryNode + Retrieval), the admin
// HTTP server (/metrics, /ready) and the scheduler agent, whose heartbeats
// carry the history's stored/evicted block events so that the scheduler's
// block index knows what the memory node holds.

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/http/http_server.h"
#include "common/metrics/metrics.h"
#include "grpcpp/server.h"
#include "services/memory/memory_core.h"
#include "services/memory/memory_service.h"
#include "services/memory/retrieval_service.h"
#include "services/node/node_agent.h"
#include "transport/ucx_options.h"

namespace triptych::memory_service {

struct MemoryServerOptions {
  // The block geometry comes from the model's GGUF metadata (layers, KV
  // heads, head dim) with block_size and kv_dtype, which must match the
  // prefill and decode nodes'.
  std::string model_path;
  int block_size = 16;
  std::string kv_dtype = "f16";
  // The core's stores; history.geometry is filled from the model.
  MemoryCoreOptions core;
  // "cpu", "fpga" or "hip" (kernels/memory_backends): scores, top-k, BM25.
  std::string backend = "cpu";
  std::string fpga_xclbin;  // for backend fpga
  std::string host = "127.0.0.1";
  int port = 0;
  int admin_port = 0;
  std::string advertise_address;
  std::string node_id;
  std::string scheduler_address;
  std::string cluster_token;
  transport::UcxOptions ucx;
};

class MemoryServer {
 public:
  static absl::StatusOr<std::unique_ptr<MemoryServer>> Start(MemoryServerOptions options);
  ~MemoryServer();  // Shutdown()

  int port() const { return port_; }
  int admin_port() const { return admin_->port(); }
  MemoryCore* core() { return core_.get(); }
  metrics::Registry* metrics() { return &metrics_; }

  // Reports draining, stops the servers, drops open leases.
  void Shutdown();

 private:
  MemoryServer() = default;
  void RefreshMetrics();

  metrics::Registry metrics_;
  std::unique_ptr<kernels::memory::MemoryBackend> backend_;
  std::unique_ptr<MemoryCore> core_;
  std::unique_ptr<MemoryNodeService> service_;
  std::unique_ptr<RetrievalService> retrieval_;
  std::unique_ptr<grpc::Server> grpc_;
  std::unique_ptr<http::Server> admin_;
  std::unique_ptr<node::NodeAgent> agent_;
  std::atomic<bool> draining_{false};
  std::atomic<bool> shut_down_{false};
  int port_ = 0;
};

}  // namespace triptych::memory_service

#endif  // TRIPTYCH_SERVICES_MEMORY_MEMORY_SERVER_H_
