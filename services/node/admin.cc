#include "services/node/admin.h"

#include "common/http/admin_routes.h"
#include "common/status_macros.h"

namespace triptych::node {
namespace {

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) >= 0x20) {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

std::string DeviceHealthFields(const std::string& device,
                               const std::string& gpu_runtime,
                               const std::string& kv_transfer) {
  return "\"device\":" + JsonString(device) +
         ",\"gpu_runtime\":" + JsonString(gpu_runtime) +
         ",\"kv_transfer\":" + JsonString(kv_transfer);
}

absl::StatusOr<std::unique_ptr<http::Server>> StartAdminServer(
    const std::string& host, int port, metrics::Registry* registry,
    std::function<void()> refresh, std::function<bool()> ready,
    std::string health_fields) {
  http::ServerOptions o;
  o.host = host;
  o.port = port;
  o.num_threads = 1;
  ASSIGN_OR_RETURN(auto server, http::Server::Create(o));
  http::AddAdminRoutes(server.get(), registry, std::move(ready), std::move(refresh),
                       std::move(health_fields));
  RETURN_IF_ERROR(server->Start());
  return server;
}

}  // namespace triptych::node
