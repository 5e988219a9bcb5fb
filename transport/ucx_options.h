#ifndef TRIPTYCH_TRANSPORT_UCX_OPTIONS_H_
#define TRIPTYCH_TRANSPORT_UCX_OPTIONS_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace triptych::transport {

// Configuration of one UcxNode. Applied through ucp_config_modify on a
// config read from the environment, so UCX_* variables still apply to
// everything not set here, and nothing is written back to the environment.
struct UcxOptions {
  // UCX_TLS value, e.g. "tcp,self" or "posix,sysv,cma,self"; empty = UCX's
  // default selection.
  std::string transports;
  // UCP_ERR_HANDLING_MODE_PEER on every endpoint: peer death fails in-flight
  // operations with kUnavailable, and timed-out endpoints can be
  // force-closed. Without it a dead peer may only surface as
  // kDeadlineExceeded and timed-out operations cannot be cancelled (their
  // local buffers stay in use by UCX until the node is destroyed).
  bool peer_error_handling = true;
  // Listener for client-server (sockaddr) connections; empty host = none.
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 0;  // 0 = ephemeral, see UcxNode::listen_port()
  // Bound on Connect (endpoint creation + wire-up).
  absl::Duration connect_timeout = absl::Seconds(5);
  // UCX_KEEPALIVE_INTERVAL (how fast idle dead peers are noticed on
  // transports that need probing); zero = UCX default.
  absl::Duration keepalive_interval = absl::ZeroDuration();
  // Longest sleep of the idle progress thread (>= 1 ms). The worker's event
  // fd wakes it for TCP, but UCX 1.13 posix/sysv do not signal a passive
  // RMA target, so on shared memory this bounds the latency of the first
  // transfer after idleness (at ~1000 cheap wake-ups/s when idle).
  absl::Duration idle_poll_interval = absl::Milliseconds(1);
};

}  // namespace triptych::transport

#endif  // TRIPTYCH_TRANSPORT_UCX_OPTIONS_H_
