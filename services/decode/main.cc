// triptych-decode: the decode node (continuous batching over a paged KV
// cache; receives prompt KV from prefill nodes over UCX).

#include <cstdio>
#include <string>

#include "CLI/CLI.hpp"
#include "runtime/device/device.h"
#include "runtime/model/sparse_attention.h"
#include "services/decode/decode_server.h"
#include "services/node/signals.h"
#include "services/node/tls_flags.h"
#include "services/node/yaml_config.h"

int main(int argc, char** argv) {
  triptych::node::BlockTerminationSignals();
  CLI::App app{"Triptych decode node"};
  triptych::node::AddYamlConfig(app);
  triptych::decode::DecodeServerOptions o;
  std::string kv_dtype = "f16", ucx_tls;
  int drain_seconds = 30;
  bool no_prefix_cache = false;
  app.set_version_flag("--version", std::string("triptych-decode (GPU runtime: ") +
                                        triptych::device::GpuRuntime() + ")");
  app.add_option("--device", o.device,
                 "Where the forward pass runs: cpu, or gpu (this build's GPU runtime; "
                 "also hip / cuda by name); the KV pool lives there too");
  app.add_option("--model", o.model_path, "GGUF model file")->required();
  app.add_option("--host", o.host, "Address to listen on");
  app.add_option("--port", o.port, "gRPC port (0 = ephemeral)");
  app.add_option("--admin-port", o.admin_port, "HTTP port for /metrics, /ready (0 = ephemeral)");
  app.add_option("--advertise", o.advertise_address, "host:port registered with the scheduler");
  app.add_option("--node-id", o.node_id, "Node id (default decode-<port>)");
  app.add_option("--scheduler", o.scheduler_address, "Scheduler host:port");
  app.add_option("--memory", o.memory_address,
                 "Memory node host:port: fetch stored prompt prefixes from its KV history "
                 "and store finished sequences there");
  app.add_option("--cluster-token", o.cluster_token, "Token presented to the scheduler")
      ->envname("TRIPTYCH_CLUSTER_TOKEN");
  app.add_option("--threads", o.engine.num_threads, "Compute threads");
  app.add_option("--kv-blocks", o.engine.num_kv_blocks, "KV cache blocks");
  app.add_option("--block-size", o.engine.block_size, "Tokens per KV block");
  app.add_option("--kv-dtype", kv_dtype, "KV cache element type")->check(CLI::IsMember({"f16", "f32"}));
  app.add_option("--max-running", o.engine.max_running, "Sequences decoded together");
  app.add_option("--max-batch-tokens", o.engine.max_batch_tokens, "Tokens per step");
  app.add_flag("--no-prefix-cache", no_prefix_cache, "Disable prefix caching");
  app.add_option("--ucx-tls", ucx_tls, "UCX transports (UCX_TLS), e.g. tcp,self");
  app.add_option("--ucx-host", o.ucx.listen_host, "UCX listener address");
  app.add_option("--kv-staging", o.kv_staging,
                 "KV arrives through host staging slots: auto (when the pool "
                 "is device memory "
                 "this UCX cannot register), on, off")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  app.add_option("--kv-staging-blocks", o.kv_staging_blocks,
                 "Host staging slots, in KV blocks (0: as many as the pool)");
  bool no_peer_errors = false;
  app.add_flag("--ucx-no-peer-error-handling", no_peer_errors,
               "Let UCX use shared-memory lanes (UCX 1.13 wires peer error handling "
               "only over tcp); a dead peer then surfaces as a timeout");
  app.add_option("--drain-seconds", drain_seconds, "Grace period on SIGTERM");
  std::string sparse_attention = "off";
  app.add_option("--sparse-attention", sparse_attention,
                 "Quest sparse attention in decode over long contexts: "
                 "budget=TOKENS[,dense_layers=2,sink=1,recent=4], or off");
  triptych::InternalTlsFiles tls;
  triptych::node::AddTlsFlags(app, &tls);
  CLI11_PARSE(app, argc, argv);
  if (absl::Status s = triptych::node::ApplyTlsFlags(tls); !s.ok()) {
    std::fprintf(stderr, "%s: %s\n", "decode", std::string(s.message()).c_str());
    return 2;
  }
  auto sparse = triptych::model::ParseSparseAttention(sparse_attention);
  if (!sparse.ok()) {
    std::fprintf(stderr, "decode: --sparse-attention: %s\n",
                 std::string(sparse.status().message()).c_str());
    return 2;
  }
  o.engine.sparse_attention = *sparse;
  o.engine.kv_dtype = kv_dtype == "f32" ? triptych::kv::KvDtype::kF32 : triptych::kv::KvDtype::kF16;
  o.engine.prefix_cache = !no_prefix_cache;
  o.ucx.transports = ucx_tls;
  o.ucx.peer_error_handling = !no_peer_errors;

  auto server = triptych::decode::DecodeServer::Start(o);
  if (!server.ok()) {
    std::fprintf(stderr, "decode: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  std::fprintf(stderr,
               "decode: listening on %s:%d admin %d device %s gpu_runtime %s "
               "kv_transfer %s\n",
               o.host.c_str(), (*server)->port(), (*server)->admin_port(),
               (*server)->core()->device().c_str(),
               triptych::device::GpuRuntime(),
               (*server)->kv_staged() ? "staged" : "direct");
  const int sig = triptych::node::WaitForTerminationSignal();
  std::fprintf(stderr, "decode: signal %d, draining\n", sig);
  (*server)->Shutdown(absl::Seconds(drain_seconds));
  return 0;
}
