// triptych-gateway: the OpenAI-compatible HTTP API.
//
//   triptych-gateway --model m.gguf --scheduler sched:7000 --port 8000
//   triptych-gateway --model m.gguf --local --threads 8 --port 8000
//   triptych-gateway --model m.gguf --scheduler sched:7000 --memory-address mem:7300
//
// Vector stores (RAG): --local keeps them in process unless
// --memory-address names a memory node; with --scheduler they need
// --memory-address.
//
// Every flag can also come from a YAML file (--config FILE) whose keys are
// the flag names without dashes (e.g. `port: 8000`, `api-keys: [k1, k2]`);
// the command line wins. SIGTERM/SIGINT drain: stop accepting, finish
// in-flight requests for up to --drain-seconds, then exit.

#include <fstream>
#include <sstream>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "runtime/engine/model_bundle.h"
#include "services/gateway/engine_backend.h"
#include "services/gateway/gateway_server.h"
#include "services/gateway/local_retrieval_backend.h"
#include "services/gateway/memory_retrieval_backend.h"
#include "services/gateway/scheduler_backend.h"
#include "services/node/tls_flags.h"
#include "yaml-cpp/yaml.h"

namespace {

using triptych::gateway::GatewayOptions;

// Turns the YAML config into command-line arguments placed before the real
// ones, so that flags given on the command line override the file.
bool ConfigArgs(int argc, char** argv, std::vector<std::string>* out) {
  std::string path;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) path = argv[i + 1];
    if (a.rfind("--config=", 0) == 0) path = a.substr(9);
  }
  if (path.empty()) return true;
  try {
    YAML::Node root = YAML::LoadFile(path);
    if (!root.IsMap()) {
      std::fprintf(stderr, "error: %s: the config must be a map of flag: value\n", path.c_str());
      return false;
    }
    for (const auto& kv : root) {
      const std::string key = kv.first.as<std::string>();
      if (key == "config") continue;
      const YAML::Node& v = kv.second;
      if (v.IsSequence()) {
        std::vector<std::string> items;
        for (const auto& item : v) items.push_back(item.as<std::string>());
        out->push_back("--" + key);
        out->push_back(absl::StrJoin(items, ","));
      } else if (v.IsScalar()) {
        const std::string s = v.as<std::string>();
        if (s == "true" || s == "false") {
          out->push_back("--" + key + "=" + s);
        } else {
          out->push_back("--" + key);
          out->push_back(s);
        }
      } else if (!v.IsNull()) {
        std::fprintf(stderr, "error: %s: '%s' must be a scalar or a list\n", path.c_str(),
                     key.c_str());
        return false;
      }
    }
  } catch (const YAML::Exception& e) {
    std::fprintf(stderr, "error: cannot read config %s: %s\n", path.c_str(), e.what());
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"triptych-gateway: OpenAI-compatible HTTP API for Triptych"};
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  std::string model_path, scheduler, api_keys, served_name, config, memory_address,
      host = "127.0.0.1";
  int port = 8000, http_threads = 2, threads = 1, max_running = 8;
  int64_t kv_blocks = 1024, max_body = 8 << 20, max_tokens_cap = 0, default_max_tokens = 0,
          max_in_flight = 0, max_batch_tokens = 512, max_n = 8;
  double drain_seconds = 30, request_timeout = 0, memory_timeout = 10;
  bool local = false, log_requests = true;
  app.add_option("--model", model_path, "GGUF model file (tokenizer + chat template)")
      ->required();
  std::string chat_template_file;
  app.add_option("--chat-template", chat_template_file,
                 "Jinja chat template file overriding the GGUF's tokenizer.chat_template");
  app.add_option("--host", host, "listen address")->capture_default_str();
  app.add_option("--port", port, "listen port (0 = any free port)")->capture_default_str();
  app.add_option("--scheduler", scheduler, "scheduler gRPC address host:port");
  app.add_flag("--local", local, "serve with an in-process engine (single node)");
  app.add_option("--threads", threads, "--local: compute threads")->capture_default_str();
  app.add_option("--kv-blocks", kv_blocks, "--local: KV cache blocks")->capture_default_str();
  app.add_option("--max-running", max_running, "--local: sequences decoded together")
      ->capture_default_str();
  app.add_option("--max-batch-tokens", max_batch_tokens, "--local: tokens per engine step")
      ->capture_default_str();
  app.add_option("--api-keys", api_keys,
                 "comma-separated accepted API keys (also env TRIPTYCH_API_KEYS); none = open");
  app.add_option("--max-body-bytes", max_body, "request body limit")->capture_default_str();
  app.add_option("--served-model-name", served_name,
                 "model id in the API (default: the GGUF file name without .gguf)");
  app.add_option("--max-tokens-cap", max_tokens_cap, "largest max_tokens allowed (0 = context)");
  app.add_option("--default-max-tokens", default_max_tokens,
                 "max_tokens when a request sets none (0 = rest of the context)");
  app.add_option("--max-n", max_n, "most choices (n) one request may ask for; beyond: 400")
      ->check(CLI::Range(int64_t{1}, int64_t{128}))
      ->capture_default_str();
  app.add_option("--max-in-flight", max_in_flight, "concurrent generations, beyond: 503 (0 = no limit)");
  app.add_option("--http-threads", http_threads, "HTTP I/O threads")->capture_default_str();
  app.add_option("--drain-seconds", drain_seconds, "graceful shutdown deadline")
      ->capture_default_str();
  app.add_option("--request-timeout", request_timeout,
                 "--scheduler: per-request deadline in seconds (0 = none)");
  app.add_option("--log-requests", log_requests, "log one JSON line per request")
      ->capture_default_str();
  app.add_option("--memory-address", memory_address,
                 "memory node gRPC address host:port for vector stores (RAG retrieval)");
  app.add_option("--memory-timeout", memory_timeout,
                 "--memory-address: per-call deadline in seconds")
      ->capture_default_str();
  std::string https_cert, https_key;
  app.add_option("--https-cert", https_cert,
                 "PEM certificate chain: serve HTTPS (with --https-key) instead of HTTP")
      ->envname("TRIPTYCH_HTTPS_CERT");
  app.add_option("--https-key", https_key, "PEM private key for --https-cert")
      ->envname("TRIPTYCH_HTTPS_KEY");
  int64_t key_concurrency = 0, key_tpm = 0;
  std::vector<std::string> key_limit_specs;
  app.add_option("--key-max-concurrency", key_concurrency,
                 "per API key: generations in flight at once, beyond: 429 (0 = unlimited)");
  app.add_option("--key-tokens-per-minute", key_tpm,
                 "per API key: prompt + completion tokens per minute, beyond: 429 (0 = unlimited)");
  app.add_option("--key-limit", key_limit_specs,
                 "KEY:CONCURRENCY:TOKENS_PER_MINUTE for one key (repeatable; overrides the two "
                 "defaults above)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--config", config, "YAML file with flag values");
  triptych::InternalTlsFiles tls;
  triptych::node::AddTlsFlags(app, &tls);

  std::vector<std::string> args;
  if (!ConfigArgs(argc, argv, &args)) return 2;
  for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
  std::reverse(args.begin(), args.end());  // CLI11 takes the vector reversed
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (absl::Status s = triptych::node::ApplyTlsFlags(tls); !s.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  if (local == !scheduler.empty()) {
    std::fprintf(stderr, "error: give exactly one of --local and --scheduler\n");
    return 2;
  }

  // Block the shutdown signals before any thread starts so that only
  // sigwait() below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  GatewayOptions options;
  options.http.host = host;
  options.http.port = port;
  options.http.num_threads = http_threads;
  options.http.max_body_bytes = max_body;
  options.http.tls_cert_file = https_cert;
  options.http.tls_key_file = https_key;
  options.core.served_model_name =
      served_name.empty() ? std::filesystem::path(model_path).stem().string() : served_name;
  if (api_keys.empty()) {
    if (const char* env = std::getenv("TRIPTYCH_API_KEYS")) api_keys = env;
  }
  for (absl::string_view k : absl::StrSplit(api_keys, ',', absl::SkipWhitespace())) {
    options.core.api_keys.emplace_back(absl::StripAsciiWhitespace(k));
  }
  options.core.max_tokens_cap = max_tokens_cap;
  options.core.default_max_tokens = default_max_tokens;
  options.core.max_in_flight = max_in_flight;
  options.core.max_n = max_n;
  options.core.key_limit_default = {key_concurrency, key_tpm};
  for (const std::string& spec : key_limit_specs) {
    auto parsed = triptych::gateway::KeyLimiter::ParseSpec(spec);
    if (!parsed.ok()) {
      std::fprintf(stderr, "error: %s\n", std::string(parsed.status().message()).c_str());
      return 2;
    }
    options.core.key_limits.insert(*parsed);
  }
  options.core.log_requests = log_requests;

  // Vector stores: a memory node, else (--local) an in-process store.
  std::unique_ptr<triptych::gateway::RetrievalBackend> retrieval;
  if (!memory_address.empty()) {
    triptych::gateway::MemoryRetrievalBackendOptions mo;
    mo.address = memory_address;
    mo.timeout = absl::Seconds(memory_timeout);
    auto memory = triptych::gateway::MemoryRetrievalBackend::Create(mo);
    if (!memory.ok()) {
      std::fprintf(stderr, "error: %s\n", memory.status().ToString().c_str());
      return 2;
    }
    retrieval = std::move(memory).value();
  } else if (local) {
    auto store = triptych::gateway::LocalRetrievalBackend::Create();
    if (!store.ok()) {
      std::fprintf(stderr, "error: %s\n", store.status().ToString().c_str());
      return 1;
    }
    retrieval = std::move(store).value();
  }

  triptych::gateway::ModelInfoOptions model_options;
  if (!chat_template_file.empty()) {
    std::ifstream f(chat_template_file, std::ios::binary);
    if (!f) {
      std::fprintf(stderr, "error: cannot read --chat-template %s\n", chat_template_file.c_str());
      return 1;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    model_options.chat_template = ss.str();
    if (model_options.chat_template.empty()) {
      std::fprintf(stderr, "error: --chat-template %s is empty\n", chat_template_file.c_str());
      return 1;
    }
  }

  absl::StatusOr<std::unique_ptr<triptych::gateway::GatewayServer>> server;
  if (local) {
    auto bundle = triptych::engine::ModelBundle::Load(model_path);
    if (!bundle.ok()) {
      std::fprintf(stderr, "error: %s\n", bundle.status().ToString().c_str());
      return 1;
    }
    auto info = triptych::gateway::ModelInfo::FromFile(*(*bundle)->file,
                                                       (*bundle)->tokenizer.get(), model_options);
    triptych::engine::EngineOptions eo;
    eo.num_threads = threads;
    eo.num_kv_blocks = kv_blocks;
    eo.max_running = max_running;
    eo.max_batch_tokens = max_batch_tokens;
    auto backend = triptych::gateway::EngineBackend::Create((*bundle)->model.get(),
                                                            (*bundle)->tokenizer.get(), eo);
    if (!info.ok() || !backend.ok()) {
      std::fprintf(stderr, "error: %s\n",
                   (!info.ok() ? info.status() : backend.status()).ToString().c_str());
      return 1;
    }
    server = triptych::gateway::GatewayServer::Create(
        std::move(options), std::move(info).value(), std::move(backend).value(),
        std::move(bundle).value(), std::move(retrieval));
  } else {
    auto info = triptych::gateway::ModelInfo::Load(model_path, model_options);
    triptych::gateway::SchedulerBackendOptions so;
    so.address = scheduler;
    so.request_timeout = absl::Seconds(request_timeout);
    auto backend = triptych::gateway::SchedulerBackend::Create(so);
    if (!info.ok() || !backend.ok()) {
      std::fprintf(stderr, "error: %s\n",
                   (!info.ok() ? info.status() : backend.status()).ToString().c_str());
      return 1;
    }
    server = triptych::gateway::GatewayServer::Create(std::move(options), std::move(info).value(),
                                                      std::move(backend).value(), nullptr,
                                                      std::move(retrieval));
  }
  if (!server.ok()) {
    std::fprintf(stderr, "error: %s\n", server.status().ToString().c_str());
    return 1;
  }
  if (absl::Status s = (*server)->Start(); !s.ok()) {
    std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
    return 1;
  }
  std::fprintf(stderr, "listening on %s://%s:%d\n", https_cert.empty() ? "http" : "https",
               host.c_str(), (*server)->port());
  std::fflush(stderr);

  int sig = 0;
  sigwait(&signals, &sig);
  std::fprintf(stderr, "signal %d: draining (up to %.0f s)\n", sig, drain_seconds);
  (*server)->Stop(absl::Seconds(drain_seconds));
  server->reset();
  std::fprintf(stderr, "stopped\n");
  return 0;
}
