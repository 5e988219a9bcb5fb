#include "services/node/admin.h"

#include "common/status_macros.h"

namespace triptych::node {

absl::StatusOr<std::unique_ptr<http::Server>> StartAdminServer(
    const std::string& host, int port, metrics::Registry* registry,
    std::function<void()> refresh, std::function<bool()> ready) {
  http::ServerOptions o;
  o.host = host;
  o.port = port;
  o.num_threads = 1;
  ASSIGN_OR_RETURN(auto server, http::Server::Create(o));
  server->Handle("GET", "/metrics", [registry, refresh](const http::Request&) {
    if (refresh) refresh();
    http::Response r = http::Response::Text(200, registry->Render());
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return r;
  });
  auto ok = [](const http::Request&) { return http::Response::Json(200, R"({"status":"ok"})"); };
  server->Handle("GET", "/health", ok);
  server->Handle("GET", "/live", ok);
  server->Handle("GET", "/ready", [ready](const http::Request&) {
    return ready() ? http::Response::Json(200, R"({"status":"ready"})")
                   : http::Response::Json(503, R"({"status":"not ready"})");
  });
  RETURN_IF_ERROR(server->Start());
  return server;
}

}  // namespace triptych::node
