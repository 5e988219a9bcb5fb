#ifndef TRIPTYCH_SERVICES_MEMORY_HISTORY_CLIENT_H_
#define TRIPTYCH_SERVICES_MEMORY_HISTORY_CLIENT_H_

// KvHistoryClient: how prefill and decode nodes use a memory node's KV
// history. Metadata goes over gRPC (MemoryNode.OpenRead / OpenWrite /
// CloseLease), block bytes over the node's own KvTransport with one-sided
// gets and puts on the memory node's registered pool:
//   Fetch  OpenRead pins the longest stored prefix; one Get per block into
//          the caller's block memory; CloseLease unpins.
//   Store  OpenWrite reserves slots for blocks the memory node lacks; one
//          Put per block; CloseLease(commit) publishes them (or aborts on a
//          failed transfer, so a half-written block is never visible).
// The caller's block memory must lie in a region registered with the same
// transport (the node's KV pool). Blocking: call from worker threads.
//
// Errors: kUnavailable when the memory node cannot be reached;
// kFailedPrecondition when its block geometry differs; transport errors
// as KvTransport documents.
//
// Thread safety: thread-safe (gRPC stubs and transports are).

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "kernels/memory/quest.h"
#include "proto/memory.grpc.pb.h"
#include "transport/kv_transport.h"

namespace triptych::memory_service {

struct HistoryClientOptions {
  std::string memory_address;  // host:port of the memory node's gRPC server
  kernels::memory::KvBlockShape geometry;
  absl::Duration rpc_timeout = absl::Seconds(5);
  absl::Duration transfer_timeout = absl::Seconds(10);
};

struct HistoryClientStats {
  int64_t fetches = 0;
  int64_t blocks_fetched = 0;
  int64_t bytes_fetched = 0;
  int64_t stores = 0;
  int64_t blocks_stored = 0;
  int64_t bytes_stored = 0;
  int64_t errors = 0;
};

// One block to store: its chain hash, its parent's, and where its bytes are.
struct StoreBlock {
  uint64_t hash = 0;
  uint64_t parent = 0;
  const uint8_t* data = nullptr;
};

class KvHistoryClient {
 public:
  // `transport` is not owned and must outlive the client.
  static absl::StatusOr<std::unique_ptr<KvHistoryClient>> Create(
      const HistoryClientOptions& options, transport::KvTransport* transport);

  // Reads the longest stored prefix of `chain` (at most dest.size() blocks)
  // into dest[i] (block bytes each); returns the blocks read. On an error
  // dest may be partly written.
  absl::StatusOr<int64_t> Fetch(absl::Span<const uint64_t> chain,
                                absl::Span<uint8_t* const> dest);

  // Stores the blocks the memory node does not hold; returns how many it
  // newly holds.
  absl::StatusOr<int64_t> Store(absl::Span<const StoreBlock> blocks);

  int64_t block_bytes() const { return block_bytes_; }
  HistoryClientStats stats() const;

 private:
  KvHistoryClient() = default;
  // Checks a region from the (untrusted) memory node and returns its peer.
  absl::StatusOr<transport::PeerAddress> CheckRegion(const v1::MemoryRegion& region) const;
  void CloseQuietly(const std::string& lease_id, bool commit);
  void SetDeadline(grpc::ClientContext* ctx) const;

  HistoryClientOptions options_;
  transport::KvTransport* transport_ = nullptr;
  std::unique_ptr<v1::MemoryNode::Stub> stub_;
  v1::KvGeometry geometry_;
  int64_t block_bytes_ = 0;
  std::atomic<int64_t> fetches_{0}, blocks_fetched_{0}, stores_{0}, blocks_stored_{0},
      errors_{0};
};

}  // namespace triptych::memory_service

#endif  // TRIPTYCH_SERVICES_MEMORY_HISTORY_CLIENT_H_
