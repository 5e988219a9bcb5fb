// triptych-memory: the memory node (KV history with RAM + disk tiers over
// UCX, KV relevance, RAG retrieval).

#include <cstdio>
#include <string>

#include "CLI/CLI.hpp"
#include "services/memory/memory_server.h"
#include "services/node/signals.h"
#include "services/node/tls_flags.h"
#include "services/node/yaml_config.h"

int main(int argc, char** argv) {
  triptych::node::BlockTerminationSignals();
  CLI::App app{"Triptych memory node"};
  triptych::node::AddYamlConfig(app);
  triptych::memory_service::MemoryServerOptions o;
  o.core.history.ram_capacity_blocks = 4096;
  std::string ucx_tls;
  double lease_ttl_s = 30;
  app.add_option("--model", o.model_path, "GGUF model whose KV this node stores (geometry)")
      ->required();
  app.add_option("--block-size", o.block_size, "Tokens per KV block (as the nodes use)");
  app.add_option("--kv-dtype", o.kv_dtype, "KV element type")->check(CLI::IsMember({"f16", "f32"}));
  app.add_option("--ram-blocks", o.core.history.ram_capacity_blocks, "RAM tier size in blocks");
  app.add_option("--disk-dir", o.core.history.disk_dir, "Directory of the disk tier");
  app.add_option("--disk-blocks", o.core.history.disk_capacity_blocks,
                 "Disk tier size in blocks (0 = no disk tier)");
  app.add_option("--lease-ttl", lease_ttl_s, "Seconds before an unclosed lease expires");
  app.add_option("--backend", o.backend, "Scoring backend: cpu, fpga or hip")
      ->check(CLI::IsMember({"cpu", "fpga", "hip"}));
  app.add_option("--fpga-xclbin", o.fpga_xclbin, "xclbin for --backend fpga");
  app.add_option("--host", o.host, "Address to listen on");
  app.add_option("--port", o.port, "gRPC port (0 = ephemeral)");
  app.add_option("--admin-port", o.admin_port, "HTTP port for /metrics, /ready");
  app.add_option("--advertise", o.advertise_address, "host:port registered with the scheduler");
  app.add_option("--node-id", o.node_id, "Node id (default memory-<port>)");
  app.add_option("--scheduler", o.scheduler_address, "Scheduler host:port");
  app.add_option("--cluster-token", o.cluster_token, "Token presented to the scheduler")
      ->envname("TRIPTYCH_CLUSTER_TOKEN");
  app.add_option("--ucx-tls", ucx_tls, "UCX transports (UCX_TLS)");
  app.add_option("--ucx-host", o.ucx.listen_host, "UCX listener address");
  bool no_peer_errors = false;
  app.add_flag("--ucx-no-peer-error-handling", no_peer_errors,
               "Let UCX use shared-memory lanes (UCX 1.13 wires peer error handling "
               "only over tcp); a dead peer then surfaces as a timeout");
  triptych::InternalTlsFiles tls;
  triptych::node::AddTlsFlags(app, &tls);
  CLI11_PARSE(app, argc, argv);
  if (absl::Status s = triptych::node::ApplyTlsFlags(tls); !s.ok()) {
    std::fprintf(stderr, "%s: %s\n", "memory", std::string(s.message()).c_str());
    return 2;
  }
  o.ucx.transports = ucx_tls;
  o.ucx.peer_error_handling = !no_peer_errors;
  o.core.lease_ttl = absl::Seconds(lease_ttl_s);

  auto server = triptych::memory_service::MemoryServer::Start(o);
  if (!server.ok()) {
    std::fprintf(stderr, "memory: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  std::fprintf(stderr, "memory: listening on %s:%d admin %d\n", o.host.c_str(),
               (*server)->port(), (*server)->admin_port());
  const int sig = triptych::node::WaitForTerminationSignal();
  std::fprintf(stderr, "memory: signal %d, shutting down\n", sig);
  (*server)->Shutdown();
  return 0;
}
