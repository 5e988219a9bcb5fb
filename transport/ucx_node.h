#ifndef TRIPTYCH_TRANSPORT_UCX_NODE_H_
#define TRIPTYCH_TRANSPORT_UCX_NODE_H_

// UCX (UCP) transport of KV-cache blocks: one UcxNode per process role, the
// KV pool registered as a RegisteredMemory, one cached Endpoint per peer, and
// one-sided Put/Get of many (local, remote) ranges per call.
//
// Completion: Put/Get issue every operation non-blocking, then
// ucp_ep_flush_nbx; they return after the flush, so on OK the bytes are
// visible in the remote memory (remote completion), not merely sent.
// Error codes follow kv_transport.h.
//
// Thread safety: every method of UcxNode, Endpoint and RegisteredMemory is
// thread-safe. All UCX calls run on the node's progress thread (see
// ucx_worker.h); callers block on a notification, so do not call Put/Get
// from gRPC callback threads. Endpoints and regions keep the progress
// thread alive: the UCX context is released when the UcxNode and every
// Endpoint, PendingTransfer and RegisteredMemory made from it are gone.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "transport/kv_transport.h"
#include "transport/types.h"
#include "transport/ucx_options.h"

namespace triptych::transport {

class UcxWorker;
struct Transfer;
struct MappedRegion;

// An existing buffer (typically the KV pool) registered with ucp_mem_map.
// The memory stays owned by the caller and must outlive this object; no
// transfer may use it after destruction (which calls ucp_mem_unmap).
class RegisteredMemory : public KvRegion {
 public:
  ~RegisteredMemory() override;
  RegisteredMemory(const RegisteredMemory&) = delete;
  RegisteredMemory& operator=(const RegisteredMemory&) = delete;

  // Framed ucp_rkey_pack bytes (see wire_format.h); send to peers as-is.
  std::string packed_rkey() const override;
  uint64_t base_address() const override;
  size_t length() const override;

 private:
  friend class UcxNode;
  RegisteredMemory(std::shared_ptr<UcxWorker> worker,
                   std::unique_ptr<MappedRegion> region);
  std::shared_ptr<UcxWorker> worker_;
  std::unique_ptr<MappedRegion> region_;
};

// A transfer started with Endpoint::PutAsync. Wait() returns its status;
// the destructor waits too, because UCX reads the local buffers until the
// transfer is complete.
class PendingTransfer {
 public:
  PendingTransfer(PendingTransfer&&) = default;
  PendingTransfer& operator=(PendingTransfer&&) = default;
  ~PendingTransfer();
  absl::Status Wait();

 private:
  friend class Endpoint;
  explicit PendingTransfer(std::shared_ptr<Transfer> transfer,
                           std::shared_ptr<UcxWorker> worker);
  std::shared_ptr<Transfer> transfer_;
  std::shared_ptr<UcxWorker> worker_;  // keeps the progress thread alive
};

// A connection to one peer. Obtained from UcxNode::Connect, which caches
// it; once failed() it stays failed and Connect makes a new one.
class Endpoint {
 public:
  ~Endpoint();  // closes the UCP endpoint asynchronously
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  // Writes every copy (local memory registered with this node; remote
  // ranges inside the region `packed_rkey` describes). On OK the data is
  // visible at the peer. Errors: kInvalidArgument (malformed rkey, range
  // outside the region, unregistered local memory), kUnavailable (peer
  // dead / endpoint failed), kDeadlineExceeded (`timeout` passed; the
  // endpoint is failed and UCX no longer touches the local buffers).
  absl::Status Put(absl::Span<const Copy> copies,
                   const std::string& packed_rkey, absl::Duration timeout);
  // Reads every copy into local registered memory; same contract.
  absl::Status Get(absl::Span<const GetCopy> copies,
                   const std::string& packed_rkey, absl::Duration timeout);
  // Starts a Put and returns at once, for layer-by-layer streaming: call it
  // once per layer as prefill produces it, then Wait() on each. Transfers in
  // flight together are unordered with respect to each other; each is
  // remotely complete when its Wait() returns OK.
  PendingTransfer PutAsync(absl::Span<const Copy> copies,
                           const std::string& packed_rkey,
                           absl::Duration timeout);

  bool failed() const;

 private:
  friend class UcxNode;
  Endpoint(std::shared_ptr<UcxWorker> worker, uint64_t id);
  std::shared_ptr<UcxWorker> worker_;
  const uint64_t id_;
};

class UcxNode {
 public:
  // Creates the UCP context (RMA + wakeup), worker, progress thread and,
  // when options.listen_host is set, a listener. kInvalidArgument for bad
  // transports, kFailedPrecondition when UCX finds no usable transport,
  // kUnavailable when the listen address cannot be bound.
  static absl::StatusOr<std::unique_ptr<UcxNode>> Create(
      const UcxOptions& options);
  ~UcxNode();
  UcxNode(const UcxNode&) = delete;
  UcxNode& operator=(const UcxNode&) = delete;

  // Registers [base, base + length). kInvalidArgument for an empty range,
  // kResourceExhausted when UCX cannot map it.
  absl::StatusOr<std::unique_ptr<RegisteredMemory>> Register(void* base,
                                                             size_t length);

  // Returns the cached endpoint to `peer`, or connects (sockaddr when set,
  // else the worker address) and waits for wire-up within
  // options.connect_timeout. kUnavailable when the peer cannot be reached,
  // kInvalidArgument for malformed address bytes.
  absl::StatusOr<std::shared_ptr<Endpoint>> Connect(const PeerAddress& peer);

  // This node's framed worker address and (with a listener) "host:port".
  PeerAddress address() const;
  // Actual bound listener port (resolves listen_port 0); 0 without listener.
  uint16_t listen_port() const;
  TransferStats stats() const;
  // Whether UCX can register and move memory of that kind ("cuda" or
  // "hip"; anything else: false).
  bool HandlesDeviceMemory(const std::string& gpu_runtime) const;

 private:
  explicit UcxNode(std::shared_ptr<UcxWorker> worker);
  std::shared_ptr<UcxWorker> worker_;
  absl::Mutex mu_;
  // Keyed by sockaddr, or by worker address bytes when there is none.
  absl::flat_hash_map<std::string, std::shared_ptr<Endpoint>> endpoints_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace triptych::transport

#endif  // TRIPTYCH_TRANSPORT_UCX_NODE_H_
