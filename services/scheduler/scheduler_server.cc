#include "services/scheduler/scheduler_server.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc/internal_grpc.h"
#include "common/http/admin_routes.h"
#include "grpcpp/security/server_credentials.h"

namespace triptych::scheduler_service {
namespace {

std::string HostPort(const std::string& host, int port) {
  if (host.find(':') != std::string::npos && host.front() != '[') {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<SchedulerServer>> SchedulerServer::Create(
    Options options, const scheduler::Clock* clock) {
  if (options.port < 0 || options.port > 65535 || options.admin_port < -1 ||
      options.admin_port > 65535) {
    return absl::InvalidArgumentError("port out of range");
  }
  if (clock == nullptr) clock = scheduler::RealClock::Get();
  std::unique_ptr<SchedulerServer> s(new SchedulerServer());
  auto core = SchedulerCore::Create(options.core, clock, &s->metrics_);
  if (!core.ok()) return core.status();
  s->core_ = *std::move(core);
  s->service_ = std::make_unique<SchedulerService>(s->core_.get());

  grpc::ServerBuilder builder;
  AddInternalListeningPort(&builder, HostPort(options.host, options.port), &s->port_);
  builder.RegisterService(s->service_.get());
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", HostPort(options.host, options.port)));
  }

  if (options.admin_port >= 0) {
    http::ServerOptions ho;
    ho.host = options.admin_host;
    ho.port = options.admin_port;
    ho.server_name = "triptych-scheduler";
    auto admin = http::Server::Create(ho);
    if (!admin.ok()) return admin.status();
    s->admin_ = *std::move(admin);
    SchedulerServer* self = s.get();
    http::AddAdminRoutes(s->admin_.get(), &s->metrics_, [self] {
      absl::MutexLock lock(&self->mu_);
      return !self->stopping_;
    });
    if (absl::Status st = s->admin_->Start(); !st.ok()) return st;
  }

  absl::Duration interval = options.sweep_interval;
  if (interval <= absl::ZeroDuration()) {
    interval = options.core.dispatcher.registry.heartbeat_interval / 2;
  }
  interval = std::max(interval, absl::Milliseconds(10));
  SchedulerServer* self = s.get();
  s->sweeper_ = std::thread([self, interval] { self->SweepLoop(interval); });
  return s;
}

SchedulerServer::~SchedulerServer() { Shutdown(absl::ZeroDuration()); }

int SchedulerServer::admin_port() const {
  return admin_ == nullptr ? -1 : admin_->port();
}

void SchedulerServer::SweepLoop(absl::Duration interval) {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    // Wall-clock pacing of a production loop; tests call core().Sweep().
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), interval);
    if (stopping_) break;
    mu_.Unlock();
    core_->Sweep();
    mu_.Lock();
  }
}

void SchedulerServer::Shutdown(absl::Duration grace) {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopping_ = true;
    stopped_ = true;
  }
  if (sweeper_.joinable()) sweeper_.join();
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() +
                      absl::ToChronoMilliseconds(grace));
  }
  if (admin_ != nullptr) admin_->Stop(absl::Seconds(1));
  // service_ (destroyed after server_) waits for relays to unwind.
  server_.reset();
  service_.reset();
}

}  // namespace triptych::scheduler_service
