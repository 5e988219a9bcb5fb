#ifndef TRIPTYCH_SERVICES_MEMORY_MEMORY_CORE_H_
#define TRIPTYCH_SERVICES_MEMORY_MEMORY_CORE_H_

// The memory node's logic, without gRPC: the KV history store with its RAM
// pool registered for one-sided UCX access, the RAG collections, and the
// leases through which peers read and write blocks.
//
// A lease is what makes one-sided access safe with untrusted, failure-prone
// peers: OpenRead pins the blocks it hands out (their slots are not reused
// while pinned), OpenWrite reserves slots that only become visible on
// CloseLease(commit). A lease not closed within `lease_ttl` (the peer died,
// or never called back) is expired by a reaper thread: read pins are
// dropped and reserved writes aborted, so nothing stays allocated.
//
// Thread safety: every public method is thread-safe.

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "memory/collection_store.h"
#include "memory/kv_history_store.h"
#include "transport/kv_transport.h"

namespace triptych::memory_service {

using memory::BlockHash;
using memory::KvBlockShape;

struct MemoryCoreOptions {
  memory::KvHistoryStoreOptions history;
  memory::CollectionStoreOptions collections;
  // A lease not closed within this time is expired (pins and reservations
  // dropped).
  absl::Duration lease_ttl = absl::Seconds(30);
  // Open leases at most (kResourceExhausted beyond: a peer that leaks them
  // cannot pin the whole pool).
  int64_t max_leases = 4096;
  // Longest chain / block list one request may name.
  int64_t max_request_blocks = 1 << 16;
};

// Where peers reach the registered RAM pool.
struct PoolRegion {
  transport::PeerAddress address;
  std::string rkey;
  uint64_t pool_base = 0;
  uint64_t block_bytes = 0;
};

struct ReadLease {
  std::string id;                // empty when nothing matched
  std::vector<uint64_t> offsets; // per pinned block, from pool_base
};

struct WriteSlot {
  uint32_t index = 0;  // into the OpenWrite block list
  uint64_t offset = 0;
};
struct WriteLease {
  std::string id;  // empty when every block is held already
  std::vector<WriteSlot> slots;
};

struct HistoryBlockRef {
  BlockHash hash = 0;
  BlockHash parent = 0;
};

struct MemoryCoreStats {
  int64_t open_leases = 0;
  int64_t leases_expired = 0;
  int64_t read_leases = 0;        // opened with at least one block
  int64_t blocks_read_pinned = 0;
  int64_t blocks_write_reserved = 0;
  int64_t blocks_committed = 0;
  int64_t blocks_aborted = 0;
  int64_t lookups = 0;
  int64_t lookup_blocks_queried = 0;
  int64_t lookup_blocks_matched = 0;
};

class MemoryCore {
 public:
  // Creates the stores and registers the RAM pool with `transport`.
  // Errors: those of KvHistoryStore::Create, CollectionStore::Create and
  // KvTransport::Register.
  static absl::StatusOr<std::unique_ptr<MemoryCore>> Create(
      const MemoryCoreOptions& options,
      std::unique_ptr<transport::KvTransport> transport);
  ~MemoryCore();  // stops the reaper, drops every lease
  MemoryCore(const MemoryCore&) = delete;
  MemoryCore& operator=(const MemoryCore&) = delete;

  // kFailedPrecondition when a peer's block geometry differs from the
  // store's (its blocks would be misread).
  absl::Status CheckGeometry(const KvBlockShape& geometry) const;

  // Longest stored prefix of `chain`, in blocks.
  absl::StatusOr<int64_t> LookupHistory(const KvBlockShape& geometry,
                                        absl::Span<const BlockHash> chain);
  // Pins the longest stored prefix of `chain` (at most max_blocks, 0 = no
  // limit) for one-sided reads. kResourceExhausted when too many leases are
  // open.
  absl::StatusOr<ReadLease> OpenRead(const KvBlockShape& geometry,
                                     absl::Span<const BlockHash> chain,
                                     int64_t max_blocks);
  // Reserves slots for the blocks the node does not hold yet (stops at the
  // first that cannot get a slot: the RAM pool is pinned full).
  absl::StatusOr<WriteLease> OpenWrite(const KvBlockShape& geometry,
                                       absl::Span<const HistoryBlockRef> blocks);
  // Closes a lease: unpins read blocks, or commits (computing key
  // summaries) or aborts written blocks. Returns the blocks affected.
  // kNotFound for an unknown or expired lease.
  absl::StatusOr<int64_t> CloseLease(const std::string& id, bool commit);

  // Relevant blocks of a stored conversation (KvHistoryStore::SelectRelevant).
  absl::StatusOr<std::vector<BlockHash>> SelectRelevant(
      const KvBlockShape& geometry, absl::Span<const BlockHash> chain,
      const memory::RelevanceQuery& query, int64_t token_budget,
      int sink_blocks, int recent_blocks);

  // Expires leases older than lease_ttl at `now`; returns how many. The
  // reaper calls it; tests may call it directly.
  int64_t ExpireLeases(absl::Time now);

  const MemoryCoreOptions& options() const { return options_; }
  const PoolRegion& region() const { return region_; }
  absl::Duration lease_ttl() const { return options_.lease_ttl; }
  memory::KvHistoryStore* history() { return history_.get(); }
  memory::CollectionStore* collections() { return collections_.get(); }
  transport::KvTransport* transport() { return transport_.get(); }
  MemoryCoreStats stats() const;

 private:
  struct Lease {
    bool write = false;
    absl::Time opened;
    std::vector<BlockHash> hashes;
  };
  MemoryCore() = default;
  absl::Status CheckCount(size_t n) const;
  std::string NewLeaseIdLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Counts an OpenRead/OpenWrite in progress against max_leases
  // (kResourceExhausted when none is left); the caller decrements
  // opening_ when it is done, whether it opened a lease or not.
  absl::Status ReserveLeaseSlot();
  // Releases what the lease holds; returns the blocks affected.
  int64_t ReleaseLease(const Lease& lease, bool commit);
  void ReaperLoop();

  MemoryCoreOptions options_;
  std::unique_ptr<transport::KvTransport> transport_;
  std::unique_ptr<memory::KvHistoryStore> history_;
  std::unique_ptr<memory::CollectionStore> collections_;
  std::unique_ptr<transport::KvRegion> pool_region_;
  PoolRegion region_;
  std::thread reaper_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Lease> leases_ ABSL_GUARDED_BY(mu_);
  uint64_t next_lease_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t opening_ ABSL_GUARDED_BY(mu_) = 0;  // opens between check and insert
  uint64_t lease_salt_ = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  MemoryCoreStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace triptych::memory_service

#endif  // TRIPTYCH_SERVICES_MEMORY_MEMORY_CORE_H_
