#ifndef TRIPTYCH_SERVICES_PREFILL_PREFILL_SERVER_H_
#define TRIPTYCH_SERVICES_PREFILL_PREFILL_SERVER_H_

// A running prefill node: core (model + KV pool registered with UCX), gRPC
// server (PrefillNode), admin HTTP server and the scheduler agent.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/http/http_server.h"
#include "common/metrics/metrics.h"
#include "grpcpp/server.h"
#include "services/node/node_agent.h"
#include "services/memory/history_client.h"
#include "services/prefill/prefill_core.h"
#include "services/prefill/prefill_service.h"
#include "transport/ucx_options.h"

namespace triptych::prefill {

struct PrefillServerOptions {
  PrefillCoreOptions core;
  std::string host = "127.0.0.1";
  int port = 0;
  int admin_port = 0;
  std::string advertise_address;
  std::string node_id;
  std::string scheduler_address;
  std::string cluster_token;
  transport::UcxOptions ucx;
  // gRPC address of a memory node keeping KV history; empty = none.
  std::string memory_address;
};

class PrefillServer {
 public:
  static absl::StatusOr<std::unique_ptr<PrefillServer>> Start(PrefillServerOptions options);
  ~PrefillServer();

  int port() const { return port_; }
  int admin_port() const { return admin_->port(); }
  PrefillCore* core() { return core_.get(); }

  // Reports draining, stops accepting, fails queued jobs, stops servers.
  void Shutdown();

 private:
  PrefillServer() = default;
  void RefreshMetrics();

  metrics::Registry metrics_;
  std::unique_ptr<PrefillCore> core_;
  std::shared_ptr<memory_service::KvHistoryClient> history_;
  std::unique_ptr<PrefillService> service_;
  std::unique_ptr<grpc::Server> grpc_;
  std::unique_ptr<http::Server> admin_;
  std::unique_ptr<node::NodeAgent> agent_;
  std::atomic<bool> draining_{false};
  int port_ = 0;
};

}  // namespace triptych::prefill

#endif  // TRIPTYCH_SERVICES_PREFILL_PREFILL_SERVER_H_
