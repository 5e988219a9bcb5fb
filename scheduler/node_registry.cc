#include "scheduler/node_registry.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace triptych::scheduler {
namespace {

constexpr size_t kMaxIdLength = 256;
constexpr int kMaxBlockSize = 1 << 16;

}  // namespace

NodeRegistry::NodeRegistry(Options options, const Clock* clock,
                           GlobalBlockIndex* index)
    : options_(std::move(options)), clock_(clock), index_(index) {}

absl::Status NodeRegistry::Register(const NodeInfo& info) {
  if (info.id.empty() || info.id.size() > kMaxIdLength) {
    return absl::InvalidArgumentError("node id must be 1-256 characters");
  }
  if (info.address.empty() || info.address.size() > kMaxIdLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("node ", info.id, ": address must be 1-256 characters"));
  }
  if (info.block_size <= 0 || info.block_size > kMaxBlockSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "node ", info.id, ": block_size ", info.block_size, " out of range"));
  }
  if (info.kv_blocks_total < 0 || info.max_running < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("node ", info.id, ": negative capacity"));
  }
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(info.id);
  if (it == nodes_.end() &&
      static_cast<int>(nodes_.size()) >= options_.max_nodes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("registry full (", options_.max_nodes, " nodes)"));
  }
  // A re-registration is a restart: whatever the node cached is gone.
  if (it != nodes_.end() && index_ != nullptr) index_->RemoveNode(info.id);
  Entry& e = nodes_[info.id];
  e = Entry{};
  e.info = info;
  e.load.kv_blocks_total = info.kv_blocks_total;
  e.load.kv_blocks_free = info.kv_blocks_total;
  e.state = NodeState::kHealthy;
  e.last_heartbeat = now;
  return absl::OkStatus();
}

absl::Status NodeRegistry::Heartbeat(const std::string& id,
                                     const NodeLoad& load,
                                     absl::Span<const KvEvent> events,
                                     bool draining) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(id);
  if (it == nodes_.end() || it->second.state == NodeState::kDead) {
    return absl::NotFoundError(
        absl::StrCat("node '", id, "' is not registered"));
  }
  Entry& e = it->second;
  e.load = load;
  // Counters from the wire are untrusted: clamp what routing divides by.
  e.load.running = std::max(0, e.load.running);
  e.load.waiting = std::max(0, e.load.waiting);
  e.load.kv_blocks_free = std::max<int64_t>(0, e.load.kv_blocks_free);
  if (e.load.kv_blocks_total <= 0)
    e.load.kv_blocks_total = e.info.kv_blocks_total;
  e.last_heartbeat = now;
  e.state = draining ? NodeState::kDraining : NodeState::kHealthy;
  if (index_ != nullptr) index_->Apply(id, events);
  return absl::OkStatus();
}

void NodeRegistry::ReportFailure(const std::string& id) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(id);
  if (it == nodes_.end() || it->second.state == NodeState::kDead) return;
  MarkDeadLocked(id, it->second, now);
}

std::vector<std::string> NodeRegistry::Sweep() {
  std::vector<std::string> died;
  absl::MutexLock lock(&mu_);
  SweepLocked(&died);
  return died;
}

void NodeRegistry::MarkDeadLocked(const std::string& id, Entry& e,
                                  absl::Time now) {
  e.state = NodeState::kDead;
  e.dead_since = now;
  if (index_ != nullptr) index_->RemoveNode(id);
}

void NodeRegistry::SweepLocked(std::vector<std::string>* died) {
  const absl::Time now = clock_->Now();
  const absl::Duration interval =
      std::max(options_.heartbeat_interval, absl::Milliseconds(1));
  std::vector<std::string> forget;
  for (auto& [id, e] : nodes_) {
    if (e.state == NodeState::kDead) {
      if (now - e.dead_since >= options_.forget_dead_after)
        forget.push_back(id);
      continue;
    }
    const int64_t missed = (now - e.last_heartbeat) / interval;
    if (missed >= options_.dead_after_missed) {
      MarkDeadLocked(id, e, now);
      if (died != nullptr) died->push_back(id);
    } else if (missed >= options_.suspect_after_missed &&
               e.state == NodeState::kHealthy) {
      e.state = NodeState::kSuspect;
    }
  }
  for (const auto& id : forget) nodes_.erase(id);
}

NodeView NodeRegistry::ViewLocked(const Entry& e) const {
  NodeView v;
  v.info = e.info;
  v.load = e.load;
  v.state = e.state;
  v.last_heartbeat = e.last_heartbeat;
  v.cached_blocks = index_ == nullptr ? 0 : index_->NumBlocks(e.info.id);
  return v;
}

std::vector<NodeView> NodeRegistry::Snapshot() {
  absl::MutexLock lock(&mu_);
  SweepLocked(nullptr);
  std::vector<NodeView> out;
  out.reserve(nodes_.size());
  for (const auto& [id, e] : nodes_) out.push_back(ViewLocked(e));
  std::sort(out.begin(), out.end(), [](const NodeView& a, const NodeView& b) {
    return a.info.id < b.info.id;
  });
  return out;
}

std::optional<NodeView> NodeRegistry::Get(const std::string& id) {
  absl::MutexLock lock(&mu_);
  SweepLocked(nullptr);
  auto it = nodes_.find(id);
  if (it == nodes_.end()) return std::nullopt;
  return ViewLocked(it->second);
}

}  // namespace triptych::scheduler
