#include "common/http/admin_routes.h"

#include <utility>

namespace triptych::http {

void AddAdminRoutes(Server* server, metrics::Registry* registry,
                    std::function<bool()> ready, std::function<void()> refresh,
                    std::string health_fields) {
  server->Handle("GET", "/metrics", [registry, refresh = std::move(refresh)](const Request&) {
    if (refresh) refresh();
    Response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = registry->Render();
    return r;
  });
  const std::string extra = health_fields.empty() ? "" : "," + health_fields;
  server->Handle("GET", "/health", [server, extra](const Request&) {
    return server->draining()
               ? Response::Json(503, R"({"status":"draining")" + extra + "}")
               : Response::Json(200, R"({"status":"ok")" + extra + "}");
  });
  server->Handle("GET", "/live", [](const Request&) {
    return Response::Json(200, R"({"status":"alive"})");
  });
  server->Handle("GET", "/ready", [server, ready = std::move(ready)](const Request&) {
    const bool ok = !server->draining() && (!ready || ready());
    return ok ? Response::Json(200, R"({"status":"ready"})")
              : Response::Json(503, R"({"status":"not ready"})");
  });
}

}  // namespace triptych::http
