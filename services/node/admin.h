#ifndef TRIPTYCH_SERVICES_NODE_ADMIN_H_
#define TRIPTYCH_SERVICES_NODE_ADMIN_H_

// Starts a worker node's admin HTTP server (its own port, one I/O thread)
// with http::AddAdminRoutes: /metrics (after `refresh`), /health, /live,
// /ready.

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/http/http_server.h"
#include "common/metrics/metrics.h"

namespace triptych::node {

// /health members naming where a node computes: `"device":"<device>",
// "gpu_runtime":"<runtime>","kv_transfer":"direct" or "staged"` (JSON-escaped;
// staged: KV moves through host staging slots, see docs/TRANSPORT.md).
std::string DeviceHealthFields(const std::string& device,
                               const std::string& gpu_runtime,
                               const std::string& kv_transfer);

absl::StatusOr<std::unique_ptr<http::Server>> StartAdminServer(
    const std::string& host, int port, metrics::Registry* registry,
    std::function<void()> refresh, std::function<bool()> ready,
    std::string health_fields = "");

}  // namespace triptych::node

#endif  // TRIPTYCH_SERVICES_NODE_ADMIN_H_
