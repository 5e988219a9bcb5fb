#ifndef TRIPTYCH_SERVICES_NODE_NODE_AGENT_H_
#define TRIPTYCH_SERVICES_NODE_NODE_AGENT_H_

// Keeps a worker node registered with the scheduler: registers at start,
// then sends a heartbeat every interval with the node's load and the KV block
// events since the last one; registers again when the scheduler has
// forgotten the node (scheduler restart). This is the node side of the
// scheduler's registry; it is the only gRPC client code shared by prefill
// and decode nodes.
//
// Thread safety: Start/Stop from one thread; the callbacks run on the
// agent's own thread and must be thread-safe with respect to the node.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "proto/triptych.grpc.pb.h"
#include "runtime/kv/kv_cache.h"

namespace triptych::node {

// KV cache block events (stored / evicted) as heartbeats carry them.
std::vector<triptych::v1::KvEvent> ToProtoEvents(const std::vector<kv::BlockEvent>& events);

struct NodeAgentOptions {
  std::string scheduler_address;  // host:port; empty = run unregistered
  std::string cluster_token;
  triptych::v1::NodeInfo info;
  absl::Duration interval = absl::Milliseconds(500);  // until the scheduler says
};

class NodeAgent {
 public:
  using LoadFn = std::function<triptych::v1::NodeLoad()>;
  // Returns the KV events since the last call (cleared by the call).
  using EventsFn = std::function<std::vector<triptych::v1::KvEvent>()>;

  NodeAgent(NodeAgentOptions options, LoadFn load, EventsFn events);
  ~NodeAgent();  // Stop()
  NodeAgent(const NodeAgent&) = delete;
  NodeAgent& operator=(const NodeAgent&) = delete;

  void Start();
  // Sends a last heartbeat with draining = true (when `draining`), then stops.
  void Stop(bool draining = false);

  bool registered() const { return registered_.load(); }
  int64_t heartbeats_sent() const { return heartbeats_.load(); }

 private:
  void Loop();
  bool Register();
  bool Heartbeat(bool draining);

  const NodeAgentOptions options_;
  LoadFn load_;
  EventsFn events_;
  std::unique_ptr<triptych::v1::Scheduler::Stub> stub_;
  std::thread thread_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  absl::Duration interval_;
  std::atomic<bool> registered_{false};
  std::atomic<int64_t> heartbeats_{0};
  // Events taken from the node but not yet acknowledged by a heartbeat.
  std::vector<triptych::v1::KvEvent> unsent_;
};

}  // namespace triptych::node

#endif  // TRIPTYCH_SERVICES_NODE_NODE_AGENT_H_
