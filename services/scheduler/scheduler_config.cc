#include "services/scheduler/scheduler_config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "yaml-cpp/yaml.h"

namespace triptych::scheduler_service {
namespace {

// Reads a scalar of type T from `node`, naming `key` in errors.
template <typename T>
absl::Status Read(const YAML::Node& node, const std::string& key, T* out) {
  if (!node.IsScalar()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config key '", key, "' must be a scalar"));
  }
  try {
    *out = node.as<T>();
  } catch (const YAML::Exception&) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config key '", key, "' has a bad value '", node.Scalar(), "'"));
  }
  return absl::OkStatus();
}

absl::Status NonNegative(const std::string& key, double v) {
  if (v < 0 || !std::isfinite(v)) {
    return absl::InvalidArgumentError(
        absl::StrCat("config key '", key, "' must be >= 0"));
  }
  return absl::OkStatus();
}

absl::Status ApplyRoot(const YAML::Node& root, SchedulerServer::Options* o) {
  scheduler::DispatcherOptions& d = o->core.dispatcher;
  int64_t heartbeat_ms =
      absl::ToInt64Milliseconds(d.registry.heartbeat_interval);
  int64_t timeout_ms = heartbeat_ms * d.registry.dead_after_missed;
  bool health_set = false;
  for (const auto& kv : root) {
    const std::string key = kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    absl::Status s;
    if (key == "host") {
      s = Read(v, key, &o->host);
    } else if (key == "port") {
      s = Read(v, key, &o->port);
    } else if (key == "admin_port") {
      s = Read(v, key, &o->admin_port);
    } else if (key == "cluster_token") {
      s = Read(v, key, &o->core.cluster_token);
    } else if (key == "heartbeat_ms") {
      s = Read(v, key, &heartbeat_ms);
      health_set = true;
    } else if (key == "node_timeout_ms") {
      s = Read(v, key, &timeout_ms);
      health_set = true;
    } else if (key == "max_retries") {
      s = Read(v, key, &d.max_retries);
    } else if (key == "router" || key == "slo" || key == "queue") {
      if (!v.IsMap())
        return absl::InvalidArgumentError(
            absl::StrCat("'", key, "' must be a map"));
      for (const auto& sub : v) {
        const std::string name =
            absl::StrCat(key, ".", sub.first.as<std::string>());
        const YAML::Node& sv = sub.second;
        double x = 0;
        if (name == "router.policy") {
          std::string p;
          s = Read(sv, name, &p);
          if (s.ok()) {
            auto policy = scheduler::ParsePolicy(p);
            if (!policy.ok()) return policy.status();
            d.router.policy = *policy;
          }
        } else if (name == "router.disagg_threshold") {
          s = Read(sv, name, &d.router.disagg_threshold_tokens);
        } else if (name == "router.kv_overlap_weight") {
          s = Read(sv, name, &d.router.kv_overlap_weight);
        } else if (name == "router.load_weight") {
          s = Read(sv, name, &d.router.load_weight);
        } else if (name == "router.max_inflight_factor") {
          s = Read(sv, name, &d.router.max_inflight_factor);
        } else if (name == "slo.ttft_ms") {
          s = Read(sv, name, &x);
          if (s.ok()) s = NonNegative(name, x);
          d.router.ttft_target = absl::Milliseconds(x);
        } else if (name == "slo.tpot_ms") {
          s = Read(sv, name, &x);
          if (s.ok()) s = NonNegative(name, x);
          d.router.tpot_target = absl::Milliseconds(x);
        } else if (name == "queue.max_size") {
          s = Read(sv, name, &d.max_queue);
        } else if (name == "queue.max_wait_ms") {
          s = Read(sv, name, &x);
          if (s.ok()) s = NonNegative(name, x);
          d.max_queue_wait = absl::Milliseconds(x);
        } else {
          return absl::InvalidArgumentError(
              absl::StrCat("unknown config key '", name, "'"));
        }
        if (!s.ok()) return s;
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown config key '", key, "'"));
    }
    if (!s.ok()) return s;
  }
  if (health_set) {
    return SetHealthTimeouts(absl::Milliseconds(heartbeat_ms),
                             absl::Milliseconds(timeout_ms), &d);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SetHealthTimeouts(absl::Duration heartbeat,
                               absl::Duration node_timeout,
                               scheduler::DispatcherOptions* options) {
  if (heartbeat <= absl::ZeroDuration() ||
      node_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "heartbeat and node timeout must be positive");
  }
  auto& r = options->registry;
  r.heartbeat_interval = heartbeat;
  r.suspect_after_missed = 2;
  const int64_t missed = static_cast<int64_t>(
      std::ceil(absl::FDivDuration(node_timeout, heartbeat)));
  r.dead_after_missed = static_cast<int>(
      std::clamp<int64_t>(missed, r.suspect_after_missed + 1, 1 << 20));
  return absl::OkStatus();
}

absl::Status ApplyYamlConfig(const std::string& yaml,
                             SchedulerServer::Options* options) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("config: ", e.what()));
  }
  if (root.IsNull()) return absl::OkStatus();  // empty file
  if (!root.IsMap())
    return absl::InvalidArgumentError("config must be a YAML mapping");
  try {
    return ApplyRoot(root, options);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("config: ", e.what()));
  }
}

absl::Status ApplyYamlConfigFile(const std::string& path,
                                 SchedulerServer::Options* options) {
  std::ifstream in(path);
  if (!in)
    return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  absl::Status s = ApplyYamlConfig(ss.str(), options);
  if (!s.ok())
    return absl::Status(s.code(), absl::StrCat(path, ": ", s.message()));
  return s;
}

}  // namespace triptych::scheduler_service
