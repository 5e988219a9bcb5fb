// triptych-scheduler: the phase-aware scheduler service. Flags map onto
// SchedulerServer::Options; --config reads a YAML file first and flags given
// on the command line override it. SIGTERM/SIGINT drain and stop.

#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "services/node/tls_flags.h"
#include "services/scheduler/scheduler_config.h"
#include "services/scheduler/scheduler_server.h"

namespace {

using triptych::scheduler_service::SchedulerServer;

int Fail(const absl::Status& s) {
  std::cerr << "triptych-scheduler: " << s << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  // Block termination signals before any thread starts, so that only the
  // sigwait() below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  SchedulerServer::Options options;
  options.port = 50050;
  options.admin_port = 9090;
  auto& d = options.core.dispatcher;

  CLI::App app{
      "Triptych phase-aware scheduler: node registry, KV-aware routing, "
      "conditional disaggregation"};
  std::string config_path, policy = "kv_aware";
  int64_t heartbeat_ms = 1000, node_timeout_ms = 5000;
  double ttft_ms = 2000, tpot_ms = 100, grace_s = 10;
  app.add_option("--config", config_path,
                 "YAML config file (flags override it)");
  auto* host = app.add_option("--host", options.host, "gRPC listen address")
                   ->capture_default_str();
  auto* port =
      app.add_option("--port", options.port, "gRPC port (0 = ephemeral)")
          ->capture_default_str();
  auto* admin =
      app.add_option("--admin-port", options.admin_port,
                     "HTTP port for /metrics /health /live /ready (-1 = off)")
          ->capture_default_str();
  auto* pol = app.add_option("--policy", policy,
                             "round_robin | least_loaded | kv_aware")
                  ->capture_default_str();
  auto* thr =
      app.add_option("--disagg-threshold", d.router.disagg_threshold_tokens,
                     "uncached prompt tokens at which prefill goes remote")
          ->capture_default_str();
  auto* hb =
      app.add_option("--heartbeat-ms", heartbeat_ms, "node heartbeat interval")
          ->capture_default_str();
  auto* nt = app.add_option("--node-timeout-ms", node_timeout_ms,
                            "silence after which a node is dead")
                 ->capture_default_str();
  auto* ttft = app.add_option("--ttft-slo-ms", ttft_ms, "default TTFT target")
                   ->capture_default_str();
  auto* tpot = app.add_option("--tpot-slo-ms", tpot_ms, "default TPOT target")
                   ->capture_default_str();
  auto* token =
      app.add_option("--cluster-token", options.core.cluster_token,
                     "secret nodes must present to register (empty = open)");
  app.add_option("--shutdown-grace-s", grace_s,
                 "seconds in-flight calls get on SIGTERM")
      ->capture_default_str();
  triptych::InternalTlsFiles tls;
  triptych::node::AddTlsFlags(app, &tls);
  CLI11_PARSE(app, argc, argv);
  if (absl::Status s = triptych::node::ApplyTlsFlags(tls); !s.ok()) {
    std::fprintf(stderr, "%s: %s\n", "scheduler", std::string(s.message()).c_str());
    return 2;
  }

  if (!config_path.empty()) {
    // Apply the file, then re-apply the flags given explicitly on top.
    SchedulerServer::Options from_file;
    from_file.admin_port = options.admin_port;
    if (absl::Status s = triptych::scheduler_service::ApplyYamlConfigFile(
            config_path, &from_file);
        !s.ok()) {
      return Fail(s);
    }
    const SchedulerServer::Options flags = options;
    options = from_file;
    if (host->count()) options.host = flags.host;
    if (port->count()) options.port = flags.port;
    if (admin->count()) options.admin_port = flags.admin_port;
    if (thr->count())
      d.router.disagg_threshold_tokens =
          flags.core.dispatcher.router.disagg_threshold_tokens;
    if (token->count()) options.core.cluster_token = flags.core.cluster_token;
    if (!hb->count())
      heartbeat_ms = absl::ToInt64Milliseconds(d.registry.heartbeat_interval);
    if (!nt->count()) {
      node_timeout_ms =
          absl::ToInt64Milliseconds(d.registry.heartbeat_interval) *
          d.registry.dead_after_missed;
    }
    if (!ttft->count())
      ttft_ms = absl::ToDoubleMilliseconds(d.router.ttft_target);
    if (!tpot->count())
      tpot_ms = absl::ToDoubleMilliseconds(d.router.tpot_target);
    if (!pol->count())
      policy = triptych::scheduler::PolicyName(d.router.policy);
  }
  auto parsed = triptych::scheduler::ParsePolicy(policy);
  if (!parsed.ok()) return Fail(parsed.status());
  d.router.policy = *parsed;
  d.router.ttft_target = absl::Milliseconds(ttft_ms);
  d.router.tpot_target = absl::Milliseconds(tpot_ms);
  if (absl::Status s = triptych::scheduler_service::SetHealthTimeouts(
          absl::Milliseconds(heartbeat_ms), absl::Milliseconds(node_timeout_ms),
          &d);
      !s.ok()) {
    return Fail(s);
  }

  auto server = SchedulerServer::Create(options);
  if (!server.ok()) return Fail(server.status());
  std::cerr << "listening on " << options.host << ":" << (*server)->port();
  if ((*server)->admin_port() >= 0)
    std::cerr << " (admin :" << (*server)->admin_port() << ")";
  std::cerr << " policy=" << triptych::scheduler::PolicyName(d.router.policy)
            << std::endl;

  int sig = 0;
  sigwait(&signals, &sig);
  std::cerr << "triptych-scheduler: signal " << sig << ", draining"
            << std::endl;
  (*server)->Shutdown(absl::Seconds(grace_s));
  return 0;
}
