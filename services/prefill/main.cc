// triptych-prefill: the prefill node (batched, chunked prompt processing;
// writes the KV to decode nodes over UCX).

#include <cstdio>
#include <string>

#include "CLI/CLI.hpp"
#include "runtime/device/device.h"
#include "services/node/signals.h"
#include "services/node/tls_flags.h"
#include "services/node/yaml_config.h"
#include "services/prefill/prefill_server.h"

int main(int argc, char** argv) {
  triptych::node::BlockTerminationSignals();
  CLI::App app{"Triptych prefill node"};
  triptych::node::AddYamlConfig(app);
  triptych::prefill::PrefillServerOptions o;
  std::string kv_dtype = "f16", ucx_tls;
  bool no_prefix_cache = false;
  app.set_version_flag("--version", std::string("triptych-prefill (GPU runtime: ") +
                                        triptych::device::GpuRuntime() + ")");
  app.add_option("--device", o.core.device,
                 "Where the forward pass runs: cpu, or gpu (this build's GPU runtime; "
                 "also hip / cuda by name); the KV pool lives there too");
  app.add_option("--model", o.core.model_path, "GGUF model file")->required();
  app.add_option("--host", o.host, "Address to listen on");
  app.add_option("--port", o.port, "gRPC port (0 = ephemeral)");
  app.add_option("--admin-port", o.admin_port, "HTTP port for /metrics, /ready");
  app.add_option("--advertise", o.advertise_address, "host:port registered with the scheduler");
  app.add_option("--node-id", o.node_id, "Node id (default prefill-<port>)");
  app.add_option("--scheduler", o.scheduler_address, "Scheduler host:port");
  app.add_option("--memory", o.memory_address,
                 "Memory node host:port: fetch stored prompt prefixes from its KV history");
  app.add_option("--cluster-token", o.cluster_token, "Token presented to the scheduler")
      ->envname("TRIPTYCH_CLUSTER_TOKEN");
  app.add_option("--threads", o.core.num_threads, "Compute threads");
  app.add_option("--kv-blocks", o.core.num_kv_blocks, "KV cache blocks (prefix cache)");
  app.add_option("--block-size", o.core.block_size, "Tokens per KV block");
  app.add_option("--kv-dtype", kv_dtype, "KV element type")->check(CLI::IsMember({"f16", "f32"}));
  app.add_option("--max-batch-tokens", o.core.max_batch_tokens, "Tokens per forward pass");
  app.add_option("--max-live-jobs", o.core.max_live_jobs,
                 "Prompts computed together (continuous batching)");
  bool no_stream = false;
  app.add_flag("--no-layer-streaming", no_stream,
               "Put each prompt's KV after its last layer instead of layer by layer");
  o.core.stream_min_tokens = 512;
  app.add_option("--layer-streaming-min-tokens", o.core.stream_min_tokens,
                 "Prompts with fewer tokens to compute put their KV after the "
                 "last layer (one transfer)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--no-prefix-cache", no_prefix_cache, "Disable prefix caching");
  app.add_option("--kv-staging", o.core.kv_staging,
                 "KV leaves through host staging slots: auto (when the pool is "
                 "device memory "
                 "this UCX cannot register), on, off")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  app.add_option(
      "--kv-staging-blocks", o.core.kv_staging_blocks,
      "Host staging slots, in KV blocks (0: as many as --kv-blocks)");
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
    std::fprintf(stderr, "%s: %s\n", "prefill", std::string(s.message()).c_str());
    return 2;
  }
  o.core.kv_dtype = kv_dtype == "f32" ? triptych::kv::KvDtype::kF32 : triptych::kv::KvDtype::kF16;
  o.core.prefix_cache = !no_prefix_cache;
  o.core.stream_kv_by_layer = !no_stream;
  o.ucx.transports = ucx_tls;
  o.ucx.peer_error_handling = !no_peer_errors;

  auto server = triptych::prefill::PrefillServer::Start(o);
  if (!server.ok()) {
    std::fprintf(stderr, "prefill: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  std::fprintf(stderr,
               "prefill: listening on %s:%d admin %d device %s gpu_runtime %s "
               "kv_transfer %s\n",
               o.host.c_str(), (*server)->port(), (*server)->admin_port(),
               (*server)->core()->device().c_str(),
               triptych::device::GpuRuntime(),
               (*server)->core()->kv_staged() ? "staged" : "direct");
  const int sig = triptych::node::WaitForTerminationSignal();
  std::fprintf(stderr, "prefill: signal %d, shutting down\n", sig);
  (*server)->Shutdown();
  return 0;
}
