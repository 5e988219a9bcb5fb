#ifndef TRIPTYCH_TRANSPORT_TYPES_H_
#define TRIPTYCH_TRANSPORT_TYPES_H_

// Plain value types shared by every KvTransport implementation. No UCX, gRPC
// or protobuf types appear here: services convert proto KvTarget fields into
// these at their edge.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace triptych::transport {

// How to reach a node. Both fields are produced by the node itself
// (UcxNode::address()) and travel to peers as opaque metadata (e.g. in
// proto KvTarget.ucx_worker_address / ucx_sockaddr).
struct PeerAddress {
  // Framed worker address bytes (see wire_format.h). Used when `sockaddr` is
  // empty; only reachable on transports the worker address advertises.
  std::string worker_address;
  // "host:port" (or "[v6]:port") of the peer's listener. Preferred when set:
  // works across hosts and network namespaces over TCP.
  std::string sockaddr;
};

// One contiguous write: `length` bytes from local `local` (inside memory this
// node registered) to remote virtual address `remote_addr` (inside the region
// described by the packed rkey passed alongside).
struct Copy {
  const void* local = nullptr;
  uint64_t remote_addr = 0;
  size_t length = 0;
};

// One contiguous read: `length` bytes from `remote_addr` into local `local`.
struct GetCopy {
  void* local = nullptr;
  uint64_t remote_addr = 0;
  size_t length = 0;
};

// Cumulative counters of one node, for metrics. A snapshot, not live.
struct TransferStats {
  uint64_t bytes_put = 0;  // bytes of successful Put calls
  uint64_t bytes_got = 0;  // bytes of successful Get calls
  uint64_t ops = 0;        // Put/Get calls finished (ok or not)
  uint64_t errors = 0;     // Put/Get/Connect calls that failed
  absl::Duration transfer_time;  // summed wall time of finished Put/Get calls
};

}  // namespace triptych::transport

#endif  // TRIPTYCH_TRANSPORT_TYPES_H_
