#ifndef TRIPTYCH_SERVICES_SCHEDULER_SCHEDULER_SERVER_H_
#define TRIPTYCH_SERVICES_SCHEDULER_SCHEDULER_SERVER_H_

// A running scheduler: owns the metrics registry, the SchedulerCore, the
// gRPC service and server, the optional admin HTTP server (/metrics,
// /health, /live, /ready) and the thread that applies heartbeat timeouts.

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/http/http_server.h"
#include "common/metrics/metrics.h"
#include "grpcpp/grpcpp.h"
#include "scheduler/clock.h"
#include "services/scheduler/scheduler_core.h"
#include "services/scheduler/scheduler_service.h"

namespace triptych::scheduler_service {

class SchedulerServer {
 public:
  struct Options {
    std::string host = "0.0.0.0";
    int port = 0;  // 0 = ephemeral; see port()
    // Admin HTTP port; 0 = ephemeral, -1 = no admin server.
    int admin_port = -1;
    std::string admin_host = "0.0.0.0";
    CoreOptions core;
    // How often heartbeat timeouts are applied; zero = half the heartbeat
    // interval.
    absl::Duration sweep_interval = absl::ZeroDuration();
  };

  // Builds and starts everything. kInvalidArgument for bad options,
  // kUnavailable when a port cannot be bound. `clock` (not owned; null =
  // real time) drives the core.
  static absl::StatusOr<std::unique_ptr<SchedulerServer>> Create(
      Options options, const scheduler::Clock* clock = nullptr);
  ~SchedulerServer();  // Shutdown(absl::ZeroDuration()) if still running
  SchedulerServer(const SchedulerServer&) = delete;
  SchedulerServer& operator=(const SchedulerServer&) = delete;

  int port() const { return port_; }
  int admin_port() const;

  // Graceful stop: readiness turns false, no new calls are accepted, calls
  // in flight get up to `grace` to finish and are then cancelled (which
  // cancels their downstream calls). Idempotent; thread-safe.
  void Shutdown(absl::Duration grace);

  SchedulerCore& core() { return *core_; }
  metrics::Registry& metrics() { return metrics_; }

 private:
  SchedulerServer() = default;
  void SweepLoop(absl::Duration interval);

  metrics::Registry metrics_;
  std::unique_ptr<SchedulerCore> core_;
  std::unique_ptr<SchedulerService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<http::Server> admin_;
  int port_ = 0;
  std::thread sweeper_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace triptych::scheduler_service

#endif  // TRIPTYCH_SERVICES_SCHEDULER_SCHEDULER_SERVER_H_
