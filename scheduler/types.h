#ifndef TRIPTYCH_SCHEDULER_TYPES_H_
#define TRIPTYCH_SCHEDULER_TYPES_H_

// Domain types of the scheduler core. They mirror the messages of
// proto/triptych.proto (NodeInfo, NodeLoad, KvEvent, GenerateRequest,
// RouteInfo) so that the core has no protobuf dependency; the gRPC adapter
// converts at the service edge.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace triptych::scheduler {

using BlockHash = uint64_t;

enum class NodeRole { kPrefill, kDecode, kMemory };

// Static facts a node reports when it registers.
struct NodeInfo {
  std::string id;
  NodeRole role = NodeRole::kDecode;
  std::string address;  // host:port other services dial
  std::string model;
  int block_size = 16;  // tokens per KV block
  int64_t kv_blocks_total = 0;
  int max_running = 0;  // continuous-batch size; 0 = unknown
};

// Load a node reports with each heartbeat.
struct NodeLoad {
  int running = 0;
  int waiting = 0;
  int64_t kv_blocks_free = 0;
  int64_t kv_blocks_total = 0;
  double tokens_per_second = 0.0;
};

struct KvEvent {
  enum class Kind { kStored, kEvicted };
  Kind kind = Kind::kStored;
  BlockHash hash = 0;
};

// Node health. State machine (NodeRegistry drives it):
//
//            Register()
//                |
//                v        heartbeat
//   +------> kHealthy <-------------+
//   |            | missed >= suspect|
//   |            v                  |
//   |        kSuspect --------------+
//   |            | missed >= dead
//   |            v
//   |         kDead <--- ReportFailure() from any state
//   |            ^
//   |            | missed >= dead
//   |        kDraining <--- heartbeat(draining=true) from kHealthy/kSuspect
//   |            |
//   +------------+ heartbeat(draining=false)
//
// Only Register() brings a node back from kDead (a heartbeat from a dead node
// is answered "unknown" so that the node registers again). Only kHealthy
// nodes (and kSuspect ones when no healthy node is left) receive new work.
enum class NodeState { kHealthy, kSuspect, kDraining, kDead };

// A consistent copy of one node's registry entry.
struct NodeView {
  NodeInfo info;
  NodeLoad load;
  NodeState state = NodeState::kHealthy;
  absl::Time last_heartbeat;
  int64_t cached_blocks = 0;  // blocks the global index holds for the node
};

// The parts of a generation request the scheduler routes on.
struct RequestSpec {
  std::string request_id;
  std::vector<int32_t> prompt_tokens;
  int max_tokens = 0;
  // 0 = the scheduler's default target.
  int ttft_slo_ms = 0;
  int tpot_slo_ms = 0;
};

// Routing policies for choosing the decode node.
enum class Policy { kRoundRobin, kLeastLoaded, kKvAware };

struct NodeRef {
  std::string id;
  std::string address;
  bool operator==(const NodeRef&) const = default;
};

// Where one attempt of a request runs.
struct RouteDecision {
  NodeRef decode;
  std::optional<NodeRef> prefill;  // nullopt: prefill on the decode node
  Policy policy = Policy::kKvAware;
  // "<decode choice>/<prefill choice>", e.g. "kv_overlap/remote_prefill".
  std::string reason;
  int overlap_blocks = 0;   // leading prompt blocks the decode node holds
  int prompt_blocks = 0;    // full prompt blocks at the decode node's size
  int cached_tokens = 0;    // overlap_blocks * block_size
  int uncached_tokens = 0;  // prompt tokens that must be computed
  // Prompt tokens already pending on the prefilling node when this attempt
  // was routed (LoadTracker::OnAssigned), for its throughput estimate.
  int64_t prefill_tokens_ahead = 0;
};

const char* RoleName(NodeRole role);
const char* StateName(NodeState state);
const char* PolicyName(Policy policy);
// kInvalidArgument for unknown names. Accepts "round_robin", "least_loaded",
// "kv_aware" (also with '-').
absl::StatusOr<Policy> ParsePolicy(std::string_view name);

}  // namespace triptych::scheduler

#endif  // TRIPTYCH_SCHEDULER_TYPES_H_
