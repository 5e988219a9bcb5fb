#ifndef TRIPTYCH_COMMON_HTTP_ADMIN_ROUTES_H_
#define TRIPTYCH_COMMON_HTTP_ADMIN_ROUTES_H_

// The operational endpoints every Triptych service exposes:
//   GET /metrics  Prometheus text format (version 0.0.4) of `registry`
//   GET /health   200 {"status":"ok"}; 503 {"status":"draining"} once the
//                 server is stopping
//   GET /live     200 while the process serves HTTP at all (liveness probe)
//   GET /ready    200 when `ready()` is true and the server is not draining,
//                 else 503 (readiness probe)

#include <functional>
#include <string>

#include "common/http/http_server.h"
#include "common/metrics/metrics.h"

namespace triptych::http {

// Registers the routes on `server` (before Start()). `server` and
// `registry` must outlive the server's I/O; `ready` may be empty (= always
// ready) and is called on I/O threads, so it must be cheap and thread-safe.
// `refresh`, when set, runs before each /metrics render (to copy statistics
// kept elsewhere into gauges and counters); same threading rules.
// `health_fields`: extra members of /health's JSON object (e.g.
// `"device":"cpu"`, already JSON), empty for none.
void AddAdminRoutes(Server* server, metrics::Registry* registry,
                    std::function<bool()> ready,
                    std::function<void()> refresh = nullptr,
                    std::string health_fields = "");

}  // namespace triptych::http

#endif  // TRIPTYCH_COMMON_HTTP_ADMIN_ROUTES_H_
