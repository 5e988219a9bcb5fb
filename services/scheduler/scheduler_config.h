#ifndef TRIPTYCH_SERVICES_SCHEDULER_SCHEDULER_CONFIG_H_
#define TRIPTYCH_SERVICES_SCHEDULER_SCHEDULER_CONFIG_H_

// The scheduler's YAML config file, mapped onto SchedulerServer::Options.
// Every key is optional; unknown keys are errors (a typo must not silently
// leave a default in place):
//
//   host: 0.0.0.0
//   port: 50050
//   admin_port: 9090          # -1 = no admin HTTP server
//   cluster_token: s3cret
//   heartbeat_ms: 1000
//   node_timeout_ms: 5000     # silence after which a node is dead
//   max_retries: 2
//   router:
//     policy: kv_aware        # round_robin | least_loaded | kv_aware
//     disagg_threshold: 64    # uncached prompt tokens for remote prefill
//     kv_overlap_weight: 1.0
//     load_weight: 1.0
//     max_inflight_factor: 2.0
//   slo:
//     ttft_ms: 2000
//     tpot_ms: 100
//   queue:
//     max_size: 256
//     max_wait_ms: 30000

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "services/scheduler/scheduler_server.h"

namespace triptych::scheduler_service {

// Applies `yaml` over `options`. kInvalidArgument for malformed YAML, unknown
// keys or bad values (`options` may then be partly updated).
absl::Status ApplyYamlConfig(const std::string& yaml,
                             SchedulerServer::Options* options);
// Reads `path` and applies it. kNotFound when it cannot be read.
absl::Status ApplyYamlConfigFile(const std::string& path,
                                 SchedulerServer::Options* options);

// Sets the health thresholds from a heartbeat interval and the silence
// after which a node is dead (suspect after 2 intervals). kInvalidArgument
// for non-positive values.
absl::Status SetHealthTimeouts(absl::Duration heartbeat,
                               absl::Duration node_timeout,
                               scheduler::DispatcherOptions* options);

}  // namespace triptych::scheduler_service

#endif  // TRIPTYCH_SERVICES_SCHEDULER_SCHEDULER_CONFIG_H_
