#ifndef TRIPTYCH_SERVICES_GATEWAY_SCHEDULER_BACKEND_H_
#define TRIPTYCH_SERVICES_GATEWAY_SCHEDULER_BACKEND_H_

// A GenerationBackend that submits requests to the scheduler's
// triptych.v1.Scheduler.Generate server-streaming RPC (gRPC callback API).
// Cancel() is ClientContext::TryCancel(): the scheduler sees the RPC
// cancelled and frees the request's KV blocks on every node. The only
// gateway file (besides main.cc) that touches gRPC or the protos.
//
// Thread safety: thread-safe. Events are delivered on gRPC callback
// threads, one at a time per request.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/gateway/backend.h"

namespace triptych::gateway {

struct SchedulerBackendOptions {
  std::string address;  // host:port of the scheduler
  // Per-request deadline; zero = none.
  absl::Duration request_timeout = absl::ZeroDuration();
};

class SchedulerBackend : public GenerationBackend {
 public:
  // Creates the channel (connects lazily). Errors: kInvalidArgument (empty
  // address).
  static absl::StatusOr<std::unique_ptr<SchedulerBackend>> Create(
      const SchedulerBackendOptions& options);
  ~SchedulerBackend() override;  // cancels running calls and waits for them

  std::unique_ptr<GenerationHandle> Start(
      const BackendRequest& request,
      std::function<void(const BackendEvent&)> on_event) override;

 private:
  class Impl;
  explicit SchedulerBackend(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace triptych::gateway

#endif  // TRIPTYCH_SERVICES_GATEWAY_SCHEDULER_BACKEND_H_
