#ifndef TRIPTYCH_SERVICES_DECODE_DECODE_SERVER_H_
#define TRIPTYCH_SERVICES_DECODE_DECODE_SERVER_H_

// A running decode node: the core, its KV pool registered with UCX, the
// gRPC server (DecodeNode), the admin HTTP server (/metrics, /ready) and the
// scheduler agent (registration + heartbeats with load and KV events).

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/http/http_server.h"
#include "common/metrics/metrics.h"
#include "grpcpp/server.h"
#include "services/decode/decode_core.h"
#include "services/decode/decode_service.h"
#include "services/decode/grpc_kv_history.h"
#include "services/decode/prefill_client.h"
#include "services/node/node_agent.h"
#include "transport/kv_transport.h"
#include "transport/ucx_options.h"

namespace triptych::decode {

struct DecodeServerOptions {
  std::string model_path;
  std::string device = "cpu";  // DecodeCoreOptions::device
  std::string host = "127.0.0.1";
  int port = 0;        // gRPC; 0 = ephemeral
  int admin_port = 0;  // HTTP /metrics etc.; 0 = ephemeral
  // Address registered with the scheduler; empty = host:port.
  std::string advertise_address;
  std::string node_id;
  std::string scheduler_address;  // empty = standalone
  std::string cluster_token;
  engine::EngineOptions engine;
  transport::UcxOptions ucx;
  int prefill_client_threads = 4;
  // gRPC address of a memory node keeping KV history; empty = none.
  std::string memory_address;
  int history_threads = 2;
  // KV arrives through host staging slots: "auto", "on", "off"
  // (prefill::UseKvStaging); slots (0: as many as the pool has blocks).
  std::string kv_staging = "auto";
  int64_t kv_staging_blocks = 0;
  absl::Duration prefill_timeout = absl::Seconds(60);
};

class DecodeServer {
 public:
  static absl::StatusOr<std::unique_ptr<DecodeServer>> Start(DecodeServerOptions options);
  ~DecodeServer();  // Shutdown(0)

  int port() const { return port_; }
  int admin_port() const { return admin_->port(); }
  DecodeCore* core() { return core_.get(); }
  transport::KvTransport* transport() { return transport_.get(); }
  // Whether KV arrives through host staging slots (kv_staging).
  bool kv_staged() const { return staging_ != nullptr; }
  PrefillClientStats prefill_stats() const;
  // Zeros without a memory node.
  KvHistoryStats history_stats() const;

  // Drains: reports draining to the scheduler, finishes running requests
  // (up to `deadline`), stops the servers.
  void Shutdown(absl::Duration deadline);

 private:
  DecodeServer() = default;
  void RefreshMetrics();

  DecodeServerOptions options_;
  metrics::Registry metrics_;
  std::unique_ptr<transport::KvTransport> transport_;
  std::unique_ptr<DecodeCore> core_;
  std::unique_ptr<kv::StagingArea> staging_;     // null: the pool is the target
  std::unique_ptr<transport::KvRegion> region_;  // of the pool or staging_
  GrpcPrefillClient* prefill_client_ = nullptr;  // owned by core_
  GrpcKvHistory* history_ = nullptr;             // owned by core_
  std::unique_ptr<DecodeService> service_;
  std::unique_ptr<grpc::Server> grpc_;
  std::unique_ptr<http::Server> admin_;
  std::unique_ptr<node::NodeAgent> agent_;
  int port_ = 0;
  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace triptych::decode

#endif  // TRIPTYCH_SERVICES_DECODE_DECODE_SERVER_H_
