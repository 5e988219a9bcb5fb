#include "services/scheduler/scheduler_core.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"

namespace triptych::scheduler_service {
namespace {

// Compares without an early exit so response time does not leak how much
// of the token matched.
bool TokenEquals(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < b.size(); ++i) {
    diff |= static_cast<unsigned char>((i < a.size() ? a[i] : 0) ^ b[i]);
  }
  return diff == 0;
}

const char* OutcomeName(const scheduler::RequestLifecycle* r,
                        const absl::Status& s) {
  if (r != nullptr) {
    switch (r->state()) {
      case scheduler::RequestState::kFinished:
        return "finished";
      case scheduler::RequestState::kCancelled:
        return "cancelled";
      default:
        break;
    }
  }
  if (s.code() == absl::StatusCode::kCancelled) return "cancelled";
  if (s.code() == absl::StatusCode::kResourceExhausted) return "rejected";
  if (s.code() == absl::StatusCode::kInvalidArgument) return "invalid";
  return s.ok() ? "finished" : "failed";
}

}  // namespace

absl::StatusOr<std::unique_ptr<SchedulerCore>> SchedulerCore::Create(
    CoreOptions options, const scheduler::Clock* clock,
    metrics::Registry* metrics) {
  if (metrics == nullptr)
    return absl::InvalidArgumentError("metrics registry is null");
  auto d = scheduler::Dispatcher::Create(options.dispatcher, clock);
  if (!d.ok()) return d.status();
  return std::unique_ptr<SchedulerCore>(
      new SchedulerCore(std::move(options), *std::move(d), metrics));
}

SchedulerCore::SchedulerCore(CoreOptions options,
                             std::unique_ptr<scheduler::Dispatcher> d,
                             metrics::Registry* metrics)
    : options_(std::move(options)),
      dispatcher_(std::move(d)),
      metrics_(metrics) {
  prefix_hit_blocks_ = metrics_->GetCounter(
      "triptych_scheduler_prefix_cache_hit_blocks_total",
      "Prompt blocks the chosen decode node already held when routed");
  prompt_blocks_ =
      metrics_->GetCounter("triptych_scheduler_prompt_blocks_total",
                           "Full prompt blocks of routed requests");
  retries_ = metrics_->GetCounter("triptych_scheduler_retries_total",
                                  "Attempts retried on another node");
  migrations_ = metrics_->GetCounter(
      "triptych_scheduler_migrations_total",
      "Requests moved to another decode node after their first token (the node died).");
  ttft_ = metrics_->GetHistogram("triptych_scheduler_ttft_seconds",
                                 "Time to first token of relayed streams",
                                 metrics::LatencyBuckets());
  tpot_ = metrics_->GetHistogram("triptych_scheduler_tpot_seconds",
                                 "Mean time per output token after the first",
                                 metrics::LatencyBuckets());
  e2e_ =
      metrics_->GetHistogram("triptych_scheduler_e2e_seconds",
                             "Request latency from arrival to the last event",
                             metrics::LatencyBuckets());
  queue_depth_ = metrics_->GetGauge("triptych_scheduler_queue_depth",
                                    "Requests waiting for capacity",
                                    {{"queue", "admission"}});
  inflight_ = metrics_->GetGauge("triptych_scheduler_queue_depth",
                                 "Requests waiting for capacity",
                                 {{"queue", "decode_inflight"}});
  pending_prefill_tokens_ =
      metrics_->GetGauge("triptych_scheduler_pending_prefill_tokens",
                         "Prompt tokens routed but not yet prefilled");
  UpdateGauges();
}

absl::StatusOr<absl::Duration> SchedulerCore::Register(
    const scheduler::NodeInfo& info, std::string_view token) {
  if (!options_.cluster_token.empty() &&
      !TokenEquals(token, options_.cluster_token)) {
    return absl::PermissionDeniedError(
        absl::StrCat("node ", info.id, ": wrong cluster token"));
  }
  absl::Status s = dispatcher_->Register(info);
  UpdateGauges();
  if (!s.ok()) return s;
  return dispatcher_->registry().heartbeat_interval();
}

absl::Status SchedulerCore::Heartbeat(
    const std::string& id, const scheduler::NodeLoad& load,
    absl::Span<const scheduler::KvEvent> events, bool draining) {
  return dispatcher_->Heartbeat(id, load, events, draining);
}

std::vector<scheduler::NodeView> SchedulerCore::ListNodes() {
  return dispatcher_->ListNodes();
}

void SchedulerCore::Sweep() {
  dispatcher_->Sweep();
  UpdateGauges();
}

void SchedulerCore::UpdateGauges() {
  using scheduler::NodeRole;
  using scheduler::NodeState;
  std::map<std::pair<NodeRole, NodeState>, int> counts;
  for (NodeRole role :
       {NodeRole::kPrefill, NodeRole::kDecode, NodeRole::kMemory}) {
    for (NodeState state : {NodeState::kHealthy, NodeState::kSuspect,
                            NodeState::kDraining, NodeState::kDead}) {
      counts[{role, state}] = 0;
    }
  }
  for (const auto& n : dispatcher_->ListNodes())
    counts[{n.info.role, n.state}]++;
  for (const auto& [key, n] : counts) {
    metrics_
        ->GetGauge("triptych_scheduler_nodes",
                   "Registered nodes by role and state",
                   {{"role", scheduler::RoleName(key.first)},
                    {"state", scheduler::StateName(key.second)}})
        ->Set(n);
  }
  UpdateQueueGauges();
}

void SchedulerCore::UpdateQueueGauges() {
  queue_depth_->Set(dispatcher_->queue().size());
  inflight_->Set(dispatcher_->load().TotalInFlight());
  pending_prefill_tokens_->Set(
      static_cast<double>(dispatcher_->load().TotalPendingPrefillTokens()));
}

absl::StatusOr<std::unique_ptr<scheduler::RequestLifecycle>>
SchedulerCore::StartRequest(scheduler::RequestSpec spec) {
  return dispatcher_->Start(std::move(spec));
}

void SchedulerCore::RecordDecision(const scheduler::RouteDecision& decision) {
  metrics_
      ->GetCounter("triptych_scheduler_route_decisions_total",
                   "Routing decisions by policy and reason",
                   {{"policy", scheduler::PolicyName(decision.policy)},
                    {"reason", decision.reason}})
      ->Increment();
  prefix_hit_blocks_->Increment(decision.overlap_blocks);
  prompt_blocks_->Increment(decision.prompt_blocks);
  UpdateQueueGauges();
}

void SchedulerCore::RecordRetry() { retries_->Increment(); }
void SchedulerCore::RecordMigration() { migrations_->Increment(); }

void SchedulerCore::RecordOutcome(const scheduler::RequestLifecycle* request,
                                  const absl::Status& status) {
  metrics_
      ->GetCounter("triptych_scheduler_requests_total", "Requests by outcome",
                   {{"outcome", OutcomeName(request, status)}})
      ->Increment();
  if (request != nullptr) {
    if (auto t = request->ttft()) ttft_->Observe(absl::ToDoubleSeconds(*t));
    if (auto t = request->tpot()) tpot_->Observe(absl::ToDoubleSeconds(*t));
    if (auto t = request->e2e()) e2e_->Observe(absl::ToDoubleSeconds(*t));
  }
  UpdateQueueGauges();
}

}  // namespace triptych::scheduler_service
