#include "services/node/node_agent.h"

#include <cstdio>

#include "common/grpc/internal_grpc.h"
#include "grpcpp/grpcpp.h"

namespace triptych::node {
namespace {

constexpr absl::Duration kRpcTimeout = absl::Seconds(2);
// Bound on events held while the scheduler is unreachable; older ones are
// dropped (the scheduler's index then learns the node's state anew from the
// next events, and routing only loses some prefix hits).
constexpr size_t kMaxUnsentEvents = 1 << 16;

}  // namespace

std::vector<triptych::v1::KvEvent> ToProtoEvents(const std::vector<kv::BlockEvent>& events) {
  std::vector<triptych::v1::KvEvent> out;
  out.reserve(events.size());
  for (const kv::BlockEvent& e : events) {
    triptych::v1::KvEvent pe;
    pe.set_kind(e.kind == kv::BlockEvent::Kind::kStored ? triptych::v1::KvEvent::KIND_STORED
                                                        : triptych::v1::KvEvent::KIND_EVICTED);
    pe.set_block_hash(e.hash);
    out.push_back(std::move(pe));
  }
  return out;
}

NodeAgent::NodeAgent(NodeAgentOptions options, LoadFn load, EventsFn events)
    : options_(std::move(options)),
      load_(std::move(load)),
      events_(std::move(events)),
      interval_(options_.interval) {
  if (!options_.scheduler_address.empty()) {
    stub_ = triptych::v1::Scheduler::NewStub(InternalChannel(options_.scheduler_address));
  }
}

NodeAgent::~NodeAgent() { Stop(); }

void NodeAgent::Start() {
  if (!stub_ || thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void NodeAgent::Stop(bool draining) {
  {
    absl::MutexLock lock(&mu_);
    if (stop_) return;
    stop_ = true;
    draining_ = draining;
  }
  if (thread_.joinable()) thread_.join();
}

bool NodeAgent::Register() {
  triptych::v1::RegisterRequest req;
  *req.mutable_node() = options_.info;
  req.set_cluster_token(options_.cluster_token);
  triptych::v1::RegisterResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kRpcTimeout));
  grpc::Status s = stub_->Register(&ctx, req, &resp);
  if (!s.ok()) {
    std::fprintf(stderr, "node %s: register with %s failed: %s\n",
                 options_.info.node_id().c_str(), options_.scheduler_address.c_str(),
                 s.error_message().c_str());
    return false;
  }
  if (resp.heartbeat_interval_ms() > 0) {
    interval_ = absl::Milliseconds(resp.heartbeat_interval_ms());
  }
  registered_.store(true);
  return true;
}

bool NodeAgent::Heartbeat(bool draining) {
  for (auto& e : events_()) unsent_.push_back(std::move(e));
  if (unsent_.size() > kMaxUnsentEvents) {
    unsent_.erase(unsent_.begin(), unsent_.end() - kMaxUnsentEvents);
  }
  triptych::v1::HeartbeatRequest req;
  req.set_node_id(options_.info.node_id());
  *req.mutable_load() = load_();
  req.set_draining(draining);
  for (const auto& e : unsent_) *req.add_kv_events() = e;
  triptych::v1::HeartbeatResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kRpcTimeout));
  grpc::Status s = stub_->Heartbeat(&ctx, req, &resp);
  if (!s.ok()) return false;
  unsent_.clear();
  heartbeats_.fetch_add(1);
  if (!resp.known()) registered_.store(false);
  return true;
}

void NodeAgent::Loop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) break;
    }
    if (!registered_.load()) {
      Register();
    } else {
      Heartbeat(false);
    }
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stop_), interval_);
  }
  bool draining;
  {
    absl::MutexLock lock(&mu_);
    draining = draining_;
  }
  if (draining && registered_.load()) Heartbeat(true);
}

}  // namespace triptych::node
