#ifndef TRIPTYCH_SERVICES_SCHEDULER_SCHEDULER_CORE_H_
#define TRIPTYCH_SERVICES_SCHEDULER_SCHEDULER_CORE_H_

// The scheduler service's core: the scheduler library's Dispatcher plus what
// a running service adds around it: the cluster token nodes must present,
// and Prometheus metrics (routing decisions by policy and reason, queue
// depths, nodes by role and state, prefix-cache hit blocks, TTFT / TPOT /
// E2E of relayed streams). No gRPC: the adapter converts protos.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/metrics/metrics.h"
#include "scheduler/clock.h"
#include "scheduler/dispatcher.h"
#include "scheduler/types.h"

namespace triptych::scheduler_service {

struct CoreOptions {
  scheduler::DispatcherOptions dispatcher;
  // Secret nodes must present to Register; empty = registration is open.
  std::string cluster_token;
};

// Thread-safe.
class SchedulerCore {
 public:
  // `clock` and `metrics` are not owned and must outlive the core.
  // kInvalidArgument for bad options.
  static absl::StatusOr<std::unique_ptr<SchedulerCore>> Create(
      CoreOptions options, const scheduler::Clock* clock,
      metrics::Registry* metrics);
  SchedulerCore(const SchedulerCore&) = delete;
  SchedulerCore& operator=(const SchedulerCore&) = delete;

  // Returns the heartbeat interval the node must keep. kPermissionDenied
  // for a wrong token; otherwise NodeRegistry::Register's codes.
  absl::StatusOr<absl::Duration> Register(const scheduler::NodeInfo& info,
                                          std::string_view token);
  // kNotFound: unknown node, register again.
  absl::Status Heartbeat(const std::string& id, const scheduler::NodeLoad& load,
                         absl::Span<const scheduler::KvEvent> events,
                         bool draining);
  std::vector<scheduler::NodeView> ListNodes();
  // Applies heartbeat timeouts and refreshes the gauges. Called
  // periodically by the server.
  void Sweep();

  // Request path: see Dispatcher::Start / RequestLifecycle.
  absl::StatusOr<std::unique_ptr<scheduler::RequestLifecycle>> StartRequest(
      scheduler::RequestSpec spec);
  // Metrics hooks of the request path.
  void RecordDecision(const scheduler::RouteDecision& decision);
  void RecordRetry();
  // A request moved to another decode node after its first token.
  void RecordMigration();
  // Call once per request when it ended (any terminal state, or refused).
  void RecordOutcome(const scheduler::RequestLifecycle* request,
                     const absl::Status& status);

  scheduler::Dispatcher& dispatcher() { return *dispatcher_; }

 private:
  SchedulerCore(CoreOptions options, std::unique_ptr<scheduler::Dispatcher> d,
                metrics::Registry* metrics);
  void UpdateGauges();       // all, incl. nodes by state (walks the registry)
  void UpdateQueueGauges();  // queue depths only (cheap)

  const CoreOptions options_;
  std::unique_ptr<scheduler::Dispatcher> dispatcher_;
  metrics::Registry* const metrics_;
  metrics::Counter* prefix_hit_blocks_;
  metrics::Counter* prompt_blocks_;
  metrics::Counter* retries_;
  metrics::Counter* migrations_;
  metrics::Histogram* ttft_;
  metrics::Histogram* tpot_;
  metrics::Histogram* e2e_;
  metrics::Gauge* queue_depth_;
  metrics::Gauge* inflight_;
  metrics::Gauge* pending_prefill_tokens_;
};

}  // namespace triptych::scheduler_service

#endif  // TRIPTYCH_SERVICES_SCHEDULER_SCHEDULER_CORE_H_
