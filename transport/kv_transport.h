#ifndef TRIPTYCH_TRANSPORT_KV_TRANSPORT_H_
#define TRIPTYCH_TRANSPORT_KV_TRANSPORT_H_

// The seam between the services and the KV-block mover. UcxKvTransport is
// the real implementation; InProcessKvTransport is the fake for tests.
//
// Completion semantics (all implementations): when Put returns OK the bytes
// are visible in the remote region; when Get returns OK they are in local
// memory. Separate calls are not ordered with respect to each other while
// both are in flight (e.g. two threads putting layers of one sequence);
// each call is complete when it returns.
//
// Error codes, by what the caller should do:
//   kUnavailable       peer unknown, dead or unreachable: retry elsewhere
//                      (a later call reconnects).
//   kDeadlineExceeded  the transfer did not finish within `timeout`; the
//                      endpoint is dropped, bytes may be partially written.
//   kInvalidArgument   malformed rkey/address bytes (untrusted metadata),
//                      remote range outside the region, local memory not
//                      registered: fix the request, do not retry.
//   kResourceExhausted the transport is out of resources: back off.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "transport/types.h"

namespace triptych::transport {

// A registered range of this node's memory (e.g. the KV pool). Unregisters
// on destruction; no transfer may touch the range afterwards, so destroy it
// only when no Put/Get that uses it is in flight. Thread-safe (const).
class KvRegion {
 public:
  virtual ~KvRegion() = default;
  // Framed rkey bytes a peer passes to Put/Get to reach this region.
  virtual std::string packed_rkey() const = 0;
  // Virtual address of the first byte: the remote_addr of offset 0.
  virtual uint64_t base_address() const = 0;
  virtual size_t length() const = 0;
};

// A put started with KvTransport::PutAsync. Wait() returns its status once
// the bytes are visible in the remote region (or it failed). The local
// source memory must stay valid and unchanged until Wait() returned; the
// destructor waits too, so dropping a handle never leaves UCX reading freed
// memory. Wait() may be called once, from any one thread.
class PendingPut {
 public:
  virtual ~PendingPut() = default;
  virtual absl::Status Wait() = 0;
};

// Moves bytes between registered regions of nodes. All methods are
// thread-safe. Blocking: call from worker threads, not from gRPC callback
// threads.
class KvTransport {
 public:
  virtual ~KvTransport() = default;

  // Registers [base, base + length) (caller keeps ownership of the memory,
  // which must outlive the returned region). kInvalidArgument for a null or
  // empty range; kResourceExhausted when the transport cannot pin it.
  virtual absl::StatusOr<std::unique_ptr<KvRegion>> Register(
      void* base, size_t length) = 0;

  // Where peers reach this node.
  virtual PeerAddress address() const = 0;

  // Writes every copy into the peer's region named by `packed_rkey`; on OK
  // the data is visible remotely. Local sources must lie in regions this
  // transport registered.
  virtual absl::Status Put(const PeerAddress& peer,
                           absl::Span<const Copy> copies,
                           const std::string& packed_rkey,
                           absl::Duration timeout) = 0;

  // Starts the same transfer as Put and returns without waiting for it, so
  // a producer can stream (e.g. one call per layer as prefill writes it)
  // while it computes the rest. Puts in flight together are unordered with
  // respect to each other: their remote ranges must not overlap. The
  // default runs Put to completion first (fine for transports whose Put
  // never waits on a peer, like the in-process fake).
  virtual std::unique_ptr<PendingPut> PutAsync(const PeerAddress& peer,
                                               absl::Span<const Copy> copies,
                                               const std::string& packed_rkey,
                                               absl::Duration timeout) {
    class Done final : public PendingPut {
     public:
      explicit Done(absl::Status s) : status_(std::move(s)) {}
      absl::Status Wait() override { return status_; }

     private:
      absl::Status status_;
    };
    return std::make_unique<Done>(Put(peer, copies, packed_rkey, timeout));
  }

  // Reads every copy from the peer's region into local registered memory.
  virtual absl::Status Get(const PeerAddress& peer,
                           absl::Span<const GetCopy> copies,
                           const std::string& packed_rkey,
                           absl::Duration timeout) = 0;

  virtual TransferStats stats() const = 0;

  // Whether Register and the transfers take device memory of that GPU
  // runtime ("cuda", "hip") directly; otherwise device KV goes through host
  // staging memory (kv::StagingArea).
  virtual bool HandlesDeviceMemory(const std::string& /*gpu_runtime*/) const {
    return false;
  }
};

}  // namespace triptych::transport

#endif  // TRIPTYCH_TRANSPORT_KV_TRANSPORT_H_
