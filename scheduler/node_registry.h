#ifndef TRIPTYCH_SCHEDULER_NODE_REGISTRY_H_
#define TRIPTYCH_SCHEDULER_NODE_REGISTRY_H_

// Membership and health of the cluster's nodes. Nodes register, then send
// heartbeats with their load and KV events; the registry applies the events
// to the global block index and walks each node through the health state
// machine drawn at NodeState (scheduler/types.h).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "scheduler/block_index.h"
#include "scheduler/clock.h"
#include "scheduler/types.h"

namespace triptych::scheduler {

// Thread-safe. Time comes from the injected Clock only.
class NodeRegistry {
 public:
  struct Options {
    // The interval nodes are told to heartbeat at.
    absl::Duration heartbeat_interval = absl::Seconds(1);
    // A node that missed this many intervals is suspect (not routed to while
    // a healthy node is left) ...
    int suspect_after_missed = 2;
    // ... and dead after this many: removed from routing and the index.
    int dead_after_missed = 5;
    // Dead entries are dropped from listings after this long.
    absl::Duration forget_dead_after = absl::Minutes(10);
    // Registrations beyond this are refused (kResourceExhausted).
    int max_nodes = 4096;
  };

  // `clock` and `index` are not owned and must outlive the registry; `index`
  // may be null (no KV tracking).
  NodeRegistry(Options options, const Clock* clock, GlobalBlockIndex* index);
  NodeRegistry(const NodeRegistry&) = delete;
  NodeRegistry& operator=(const NodeRegistry&) = delete;

  // Adds a node, or resets a known one (a restart: its cached blocks are
  // forgotten). Errors: kInvalidArgument for malformed info,
  // kResourceExhausted when max_nodes are registered.
  absl::Status Register(const NodeInfo& info);

  // Records a heartbeat. kNotFound when the node is unknown or dead: it must
  // Register() again. Events are applied to the index in order.
  absl::Status Heartbeat(const std::string& id, const NodeLoad& load,
                         absl::Span<const KvEvent> events, bool draining);

  // A call to the node failed as if it were gone (kUnavailable): mark it
  // dead now instead of waiting for missed heartbeats. Unknown ids are
  // ignored.
  void ReportFailure(const std::string& id);

  // Applies heartbeat timeouts. Returns the ids that turned dead.
  std::vector<std::string> Sweep();

  // All known nodes (dead ones included until forgotten), sorted by id,
  // with timeouts applied first.
  std::vector<NodeView> Snapshot();
  std::optional<NodeView> Get(const std::string& id);

  absl::Duration heartbeat_interval() const {
    return options_.heartbeat_interval;
  }

 private:
  struct Entry {
    NodeInfo info;
    NodeLoad load;
    NodeState state = NodeState::kHealthy;
    absl::Time last_heartbeat;
    absl::Time dead_since;
  };

  void SweepLocked(std::vector<std::string>* died)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MarkDeadLocked(const std::string& id, Entry& e, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  NodeView ViewLocked(const Entry& e) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  const Clock* const clock_;
  GlobalBlockIndex* const index_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> nodes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace triptych::scheduler

#endif  // TRIPTYCH_SCHEDULER_NODE_REGISTRY_H_
