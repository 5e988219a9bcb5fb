#include "services/node/admin.h"

#include "common/http/admin_routes.h"
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
  http::AddAdminRoutes(server.get(), registry, std::move(ready), std::move(refresh));
  RETURN_IF_ERROR(server->Start());
  return server;
}

}  // namespace triptych::node
