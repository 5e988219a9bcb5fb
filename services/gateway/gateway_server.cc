#include "services/gateway/gateway_server.h"

#include <utility>

#include "common/http/admin_routes.h"
#include "common/status_macros.h"

namespace triptych::gateway {

absl::StatusOr<std::unique_ptr<GatewayServer>> GatewayServer::Create(
    GatewayOptions options, std::unique_ptr<ModelInfo> model,
    std::unique_ptr<GenerationBackend> backend, std::unique_ptr<engine::ModelBundle> bundle,
    std::unique_ptr<RetrievalBackend> retrieval) {
  if (model == nullptr || backend == nullptr) {
    return absl::InvalidArgumentError("gateway: model and backend are required");
  }
  std::unique_ptr<GatewayServer> s(new GatewayServer());
  s->bundle_ = std::move(bundle);
  s->model_ = std::move(model);
  s->backend_ = std::move(backend);
  s->retrieval_ = std::move(retrieval);
  ASSIGN_OR_RETURN(s->http_, http::Server::Create(options.http));
  s->core_ = std::make_unique<GatewayCore>(std::move(options.core), s->model_.get(),
                                           s->backend_.get(), &s->registry_,
                                           s->retrieval_.get());
  s->core_->RegisterRoutes(s->http_.get());
  http::AddAdminRoutes(s->http_.get(), &s->registry_, nullptr);
  return s;
}

GatewayServer::~GatewayServer() {
  if (http_ != nullptr) http_->Stop(absl::ZeroDuration());
}

absl::Status GatewayServer::Start() { return http_->Start(); }

void GatewayServer::Stop(absl::Duration deadline) { http_->Stop(deadline); }

}  // namespace triptych::gateway
