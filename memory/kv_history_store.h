#ifndef TRIPTYCH_MEMORY_KV_HISTORY_STORE_H_
#define TRIPTYCH_MEMORY_KV_HISTORY_STORE_H_

// KvHistoryStore: the memory node's KV history (BRIEF section 4).
//
// Stores whole KV blocks (the runtime's block layout, runtime/kv/kv_cache.h:
// [layer][K|V][slot][kv_head][head_dim]) keyed by their chain hash
// (kv::KvCache::ChainHash), so equal hashes mean equal token prefixes.
//
// Tiers:
//   RAM   one contiguous pool of `ram_capacity_blocks` fixed-size slots
//         (pool_base(), pool_bytes()); the gRPC layer registers it once with
//         a KvTransport so that peers read and write blocks with one-sided
//         UCX operations at pool_base() + SlotRef::offset.
//   disk  optional; one slotted file `<disk_dir>/kv_history.tier` of
//         `disk_capacity_blocks` slots, written with pwrite and read with
//         pread. Created fresh (truncated) by Create: the tier is a capacity
//         extension, not persistence across restarts.
// When a RAM slot is needed and none is free, the least-recently-used
// unpinned RAM block spills to disk (or is dropped when there is no disk
// tier); when the disk tier is full its oldest block is dropped. A block on
// disk is reloaded into RAM (byte-identical; a checksum taken at spill time
// is verified, kDataLoss otherwise) by Get and Pin.
//
// Prepare Memory: Put/Commit compute the block's key summary (per layer, per
// KV head, per channel min/max of the keys, BlockKeySummary) with the
// MemoryBackend; summaries stay in RAM for every stored block, on whichever
// tier its bytes are, so relevancy (SelectRelevant) never touches the bytes.
//
// Pinning: Pin(hash) keeps a block in its RAM slot (no spill, no move) until
// the matching Unpin, so a remote node may read it one-sidedly. ReservePut +
// Commit let a remote node write a block one-sidedly: the slot is reserved
// (pinned, invisible to Lookup/Get) until Commit publishes it, or AbortPut
// frees it.
//
// Thread safety: every method is thread-safe (one absl::Mutex guards the
// index, LRU lists and counters; disk I/O currently runs under it too).
// Block bytes in RAM slots are only written by Put (under the lock), by a
// reload (under the lock) and by the remote writer of a reserved slot; a
// pinned slot is never rewritten by the store.

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "kernels/memory/memory_backend.h"
#include "kernels/memory/quest.h"

namespace triptych::memory {

// Chain hash of a full KV block (same type as kv::BlockHash).
using BlockHash = uint64_t;
using KvBlockShape = kernels::memory::KvBlockShape;

struct KvHistoryStoreOptions {
  // Block geometry; all fields positive. Block bytes = KvBlockBytes(geometry).
  KvBlockShape geometry;
  // RAM pool size in blocks (>= 1).
  int64_t ram_capacity_blocks = 0;
  // Directory for the disk tier; empty disables it (RAM evictions drop).
  std::string disk_dir;
  // Disk tier size in blocks; 0 disables the disk tier.
  int64_t disk_capacity_blocks = 0;
  // Computes key summaries and Quest scores. Not owned; must outlive the
  // store. Null: the store creates and owns a CPU backend.
  kernels::memory::MemoryBackend* backend = nullptr;
};

// Where a pinned or reserved block lives in the RAM pool.
struct SlotRef {
  int64_t slot = 0;
  int64_t offset = 0;  // bytes from pool_base(); remote_addr = base + offset
  int64_t bytes = 0;   // block_bytes()
};

// Key summary of one block: mins and maxs are
// [num_layers][num_kv_heads][head_dim] floats each.
struct BlockSummary {
  std::vector<float> mins;
  std::vector<float> maxs;
};

// A change the scheduler's global block index should learn about. kStored:
// the node now holds the block (on some tier); kEvicted: it no longer does
// (dropped from the last tier). Spills and reloads are not reported: the
// node still holds the block.
struct HistoryEvent {
  enum class Kind { kStored, kEvicted };
  Kind kind = Kind::kStored;
  BlockHash hash = 0;

  bool operator==(const HistoryEvent&) const = default;
};

// Query vectors for SelectRelevant. `layers` lists the scored layers
// (empty = every layer, in order); q holds [layers][num_heads][head_dim]
// floats, head_dim = geometry.head_dim, num_heads a positive multiple of
// geometry.num_kv_heads (GQA: query head h belongs to KV head
// h / (num_heads / num_kv_heads)).
struct RelevanceQuery {
  int num_heads = 0;
  std::vector<int> layers;
  std::vector<float> q;
};

struct KvHistoryStats {
  int64_t ram_blocks = 0;       // committed blocks in RAM
  int64_t disk_blocks = 0;      // committed blocks on disk
  int64_t pinned_blocks = 0;    // blocks with pin count > 0 (incl. reserved)
  int64_t reserved_blocks = 0;  // ReservePut slots not yet committed
  int64_t hits = 0;             // blocks found by Lookup/Get/Pin
  int64_t misses = 0;           // blocks not found by Lookup/Get/Pin
  int64_t spills = 0;           // RAM -> disk moves
  int64_t reloads = 0;          // disk -> RAM moves
  int64_t evictions = 0;        // blocks dropped from the store
  int64_t bytes_put = 0;        // block bytes accepted by Put/Commit
  int64_t bytes_got = 0;        // block bytes returned by Get
  int64_t disk_bytes_written = 0;
  int64_t disk_bytes_read = 0;
  // SelectRelevant (Compute Relevancy + Retrieval).
  int64_t relevance_queries = 0;
  int64_t relevance_blocks_scored = 0;
  int64_t relevance_blocks_selected = 0;
  int64_t relevance_summary_bytes = 0;  // summary bytes scanned
};

class KvHistoryStore {
 public:
  // Errors: kInvalidArgument for non-positive geometry or capacities, or a
  // disk_dir without disk_capacity_blocks; kResourceExhausted when the pool
  // cannot be allocated; kInternal/kPermissionDenied etc. (from errno) when
  // the disk tier file cannot be created.
  static absl::StatusOr<std::unique_ptr<KvHistoryStore>> Create(
      const KvHistoryStoreOptions& options);
  ~KvHistoryStore();
  KvHistoryStore(const KvHistoryStore&) = delete;
  KvHistoryStore& operator=(const KvHistoryStore&) = delete;

  const KvHistoryStoreOptions& options() const { return options_; }
  int64_t block_bytes() const { return block_bytes_; }
  // The RAM pool: one contiguous range to register with a KvTransport.
  // Page-aligned; valid for the store's lifetime.
  void* pool_base() const { return pool_; }
  int64_t pool_bytes() const {
    return block_bytes_ * options_.ram_capacity_blocks;
  }
  // Byte offset of RAM slot `slot` from pool_base().
  int64_t SlotOffset(int64_t slot) const { return slot * block_bytes_; }

  // Stores a full block. `parent` is the chain hash of the previous block
  // (0 for the first). Idempotent: an already stored hash is left as is
  // (and touched in the LRU). Errors: kInvalidArgument when bytes.size() !=
  // block_bytes(); kAlreadyExists when the hash is reserved by ReservePut
  // and not committed; kResourceExhausted when every RAM slot is pinned.
  // A disk write failure while spilling to make room does not fail the Put:
  // the block being spilled is dropped instead (a kEvicted event).
  absl::Status Put(BlockHash hash, BlockHash parent,
                   absl::Span<const uint8_t> bytes);

  // Length of the longest prefix of `chain` whose blocks are all stored (on
  // any tier; reserved blocks don't count). Touches the found RAM blocks.
  int Lookup(absl::Span<const BlockHash> chain);

  // True when the hash is committed (any tier). Does not count hits.
  bool Contains(BlockHash hash) const;

  // Copy of a stored block's bytes (reloading it into RAM when it is on
  // disk and a RAM slot can be had; otherwise read straight from disk).
  // Errors: kNotFound; kDataLoss when the disk copy fails its checksum
  // (the block is then dropped).
  absl::StatusOr<std::vector<uint8_t>> Get(BlockHash hash);

  // The stored key summary (kept for blocks on every tier). kNotFound.
  absl::StatusOr<BlockSummary> Summary(BlockHash hash) const;

  // Pins a committed block in RAM (reloading it from disk if needed) and
  // returns its slot; pins nest. Errors: kNotFound; kResourceExhausted when
  // it is on disk and every RAM slot is pinned; kDataLoss as Get.
  absl::StatusOr<SlotRef> Pin(BlockHash hash);
  // Drops one pin. kFailedPrecondition when the block is not pinned by Pin
  // (including reserved slots: use Commit/AbortPut); kNotFound.
  absl::Status Unpin(BlockHash hash);

  // Reserves a RAM slot for a block a remote node will write one-sidedly.
  // The slot is pinned and invisible to Lookup/Get until Commit.
  // Errors: kAlreadyExists when the hash is stored or reserved (the caller
  // skips the transfer); kResourceExhausted when every RAM slot is pinned.
  absl::StatusOr<SlotRef> ReservePut(BlockHash hash, BlockHash parent);
  // Publishes a reserved block after its bytes were written: computes its
  // summary, unpins it and reports kStored. kNotFound when not reserved.
  absl::Status Commit(BlockHash hash);
  // Frees a reserved slot without publishing. kNotFound when not reserved.
  absl::Status AbortPut(BlockHash hash);

  // Compute Relevancy + Retrieval for KV history (kv_relevance.cc): scores
  // every block of `chain` from its stored summary with the Quest bound
  // (MemoryBackend::QuestScores) and keeps the best blocks within
  // `token_budget` tokens, always keeping the first `sink_blocks` and the
  // last `recent_window_blocks` blocks (SelectBlocksWithinBudget). Every
  // block counts geometry.block_tokens tokens (stored blocks are full).
  // A block's score is the MAX over the scored layers and KV heads of the
  // Quest bound of that KV head's query-head group (itself a max over the
  // group, quest.h): a block any head would attend to strongly is kept.
  // Returns the chosen hashes in chain order.
  // Errors: kInvalidArgument for a malformed query or negative budget /
  // counts; kNotFound when a block of the chain is not stored.
  absl::StatusOr<std::vector<BlockHash>> SelectRelevant(
      absl::Span<const BlockHash> chain, const RelevanceQuery& q,
      int64_t token_budget, int sink_blocks, int recent_window_blocks) const;

  KvHistoryStats stats() const;
  // Returns and clears the events since the last call, in order.
  std::vector<HistoryEvent> DrainEvents();

  kernels::memory::MemoryBackend* backend() const { return backend_; }

 private:
  // Copies the summaries of `chain` (all must be committed) into
  // per-(layer, kv_head) arrays: out_mins[(l * H + h)][b * D + c].
  // kNotFound names the first missing block. Used by SelectRelevant.
  absl::Status GatherSummaries(absl::Span<const BlockHash> chain,
                               std::vector<std::vector<float>>* out_mins,
                               std::vector<std::vector<float>>* out_maxs) const;

  enum class Tier { kReserved, kRam, kDisk };
  struct Entry {
    BlockHash parent = 0;
    Tier tier = Tier::kReserved;
    int64_t ram_slot = -1;
    int64_t disk_slot = -1;
    int pins = 0;
    uint64_t checksum = 0;  // of the bytes, taken when spilled
    bool in_lru = false;
    std::list<BlockHash>::iterator lru_pos;   // valid when in_lru
    std::list<BlockHash>::iterator disk_pos;  // valid when tier == kDisk
    BlockSummary summary;
  };

  KvHistoryStore(const KvHistoryStoreOptions& options, int64_t block_bytes,
                 uint8_t* pool, int disk_fd,
                 std::unique_ptr<kernels::memory::MemoryBackend> owned_backend);

  bool disk_enabled() const { return disk_fd_ >= 0; }
  uint8_t* SlotData(int64_t slot) const { return pool_ + SlotOffset(slot); }
  absl::StatusOr<BlockSummary> ComputeSummary(const uint8_t* bytes) const;

  // A free RAM slot, spilling (or dropping) the LRU unpinned block if
  // needed. kResourceExhausted when every slot is pinned.
  absl::StatusOr<int64_t> TakeRamSlotLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves a RAM block (unpinned, in LRU) to disk, or drops it.
  void SpillLocked(BlockHash hash, Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Brings a disk block into RAM. On kDataLoss the block was dropped.
  absl::Status ReloadLocked(BlockHash hash, Entry& e)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reads a disk block into `out` and verifies its checksum.
  absl::Status ReadDiskLocked(const Entry& e, uint8_t* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes the block from every structure and reports kEvicted.
  void DropLocked(BlockHash hash) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TouchLocked(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LruRemoveLocked(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const KvHistoryStoreOptions options_;
  const int64_t block_bytes_;
  uint8_t* const pool_;  // owned (aligned allocation), freed in ~
  const int disk_fd_;    // -1 without a disk tier
  std::unique_ptr<kernels::memory::MemoryBackend> owned_backend_;
  kernels::memory::MemoryBackend* const backend_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<BlockHash, Entry> index_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> free_ram_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> free_disk_ ABSL_GUARDED_BY(mu_);
  std::list<BlockHash> lru_ ABSL_GUARDED_BY(mu_);  // front = least recent
  std::list<BlockHash> disk_order_ ABSL_GUARDED_BY(mu_);  // front = oldest
  std::vector<HistoryEvent> events_ ABSL_GUARDED_BY(mu_);
  // Mutable: const SelectRelevant counts its work too.
  mutable KvHistoryStats counters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace triptych::memory

#endif  // TRIPTYCH_MEMORY_KV_HISTORY_STORE_H_
