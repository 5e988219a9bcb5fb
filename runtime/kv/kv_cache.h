#ifndef TRIPTYCH_RUNTIME_KV_KV_CACHE_H_
#define TRIPTYCH_RUNTIME_KV_KV_CACHE_H_

// Paged KV cache: a pool of fixed-size blocks, a ref-counted allocator,
// prefix caching by chain hash, and per-sequence block tables.
//
// Block byte layout (documented in docs/KV_LAYOUT.md; the transport moves
// exactly these bytes): one block is
//   [layer][kind: 0 = K, 1 = V][token slot in block][kv_head][head_dim]
// elements of the cache dtype (F16 by default, little-endian IEEE half; or
// F32). So one layer's K and V of one block are contiguous
// (layer_stride_bytes), which lets prefill stream a block layer by layer.

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

namespace triptych::kv {

enum class KvDtype { kF16, kF32 };

using BlockId = int32_t;
using BlockHash = uint64_t;

struct KvCacheOptions {
  int num_layers = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int block_size = 16;      // tokens per block
  int64_t num_blocks = 0;   // pool capacity
  KvDtype dtype = KvDtype::kF16;
  bool enable_prefix_cache = true;
  // Keep a key summary per block for sparse attention (Quest): per layer,
  // KV head and channel, the min and max of the block's keys, as floats in a
  // side array beside the pool ([block][layer][kv_head][head_dim], 8 bytes
  // per channel: 1/8 of an F16 block with 16 slots). Summaries are made when
  // a block becomes full (the model calls SummarizeKeys), stay valid while
  // the block's keys are unchanged, and are invalidated when the block is
  // handed out again or imported into.
  bool key_summaries = false;
};

struct KvCacheStats {
  int64_t num_blocks = 0;
  int64_t used_blocks = 0;       // referenced by at least one sequence
  int64_t cached_free_blocks = 0;  // unreferenced but holding a cached prefix
  int64_t prefix_hit_blocks = 0;   // lookups that found a cached block
  int64_t prefix_miss_blocks = 0;
  int64_t evictions = 0;
};

// A block event for the scheduler's global index.
struct BlockEvent {
  enum class Kind { kStored, kEvicted } kind;
  BlockHash hash;

  bool operator==(const BlockEvent&) const = default;
};

// One copy between a pool and host memory: `bytes` at byte `pool_offset`
// of the pool (block * block_bytes() + offset in the block) and `host`.
struct PoolCopy {
  uint64_t pool_offset = 0;
  uint8_t* host = nullptr;
  size_t bytes = 0;
};

// Memory a pool lives in when it is not the cache's own host allocation:
// a device model's KV pool in device memory (runtime/device). The cache
// owns it. data() must stay valid and fixed for the object's lifetime and
// hold at least the pool's bytes. When host_accessible() is false (a
// discrete GPU), data() is a device address: only the device's kernels and
// CopyOut/CopyIn touch the bytes, and the nodes move KV through host
// staging memory (docs/TRANSPORT.md); ExportBlocks, ImportBlocks and key
// summaries then fail or are off. With the HIP CPU Runtime device memory is
// host memory, so it is host-accessible.
//
// Thread safety: CopyOut, CopyIn and Zero may be called from several
// threads at once (implementations serialise what needs it).
class PoolMemory {
 public:
  virtual ~PoolMemory() = default;
  virtual uint8_t* data() = 0;
  virtual bool host_accessible() const { return true; }
  // Pool -> host (CopyOut) or host -> pool (CopyIn) for every copy, and
  // waits for all of them. Ranges are not checked here (KvCache does).
  virtual absl::Status CopyOut(absl::Span<const PoolCopy> copies);
  virtual absl::Status CopyIn(absl::Span<const PoolCopy> copies);
  // Zeroes the first `bytes` bytes.
  virtual absl::Status Zero(size_t bytes);
};

// Owns the block pool. Allocation, ref counts and the prefix index are
// guarded by an internal mutex (all methods are thread-safe); block data is
// not: the engine guarantees a block being written has one owner.
class KvCache {
 public:
  // Errors: kInvalidArgument for non-positive geometry; kResourceExhausted
  // when the pool cannot be allocated.
  static absl::StatusOr<std::unique_ptr<KvCache>> Create(
      const KvCacheOptions& options);
  // The same over `memory` (nullptr: the cache allocates host memory).
  static absl::StatusOr<std::unique_ptr<KvCache>> Create(
      const KvCacheOptions& options, std::unique_ptr<PoolMemory> memory);
  // Bytes of the whole pool (num_blocks * block_bytes()).
  static absl::StatusOr<int64_t> PoolBytes(const KvCacheOptions& options);
  ~KvCache();
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  const KvCacheOptions& options() const { return options_; }
  int64_t element_bytes() const;
  int64_t block_bytes() const;
  int64_t layer_stride_bytes() const;  // K and V of one layer in one block
  // Bytes of one token's K (or V) for one layer: num_kv_heads * head_dim.
  int64_t token_bytes() const;

  uint8_t* BlockData(BlockId block);
  const uint8_t* BlockData(BlockId block) const;
  // [kv_head][head_dim] of token slot `slot` of `block`, layer `layer`.
  void* KeyPtr(BlockId block, int layer, int slot);
  void* ValuePtr(BlockId block, int layer, int slot);
  const void* KeyPtr(BlockId block, int layer, int slot) const;
  const void* ValuePtr(BlockId block, int layer, int slot) const;

  // Key summaries (KvCacheOptions::key_summaries). Like block data they are
  // not locked: the caller must own the block (hold a reference to it).
  bool has_key_summaries() const { return options_.key_summaries; }
  // True when `block`'s summary matches its current full contents.
  bool KeySummaryReady(BlockId block) const;
  // Computes the summary of every layer of full block `block` from its keys
  // (all block_size slots). Precondition: has_key_summaries().
  void SummarizeKeys(BlockId block);
  // [kv_head][head_dim] per-channel key minima / maxima of `layer`.
  // Precondition: has_key_summaries() (valid only when KeySummaryReady).
  const float* KeyMins(BlockId block, int layer) const;
  const float* KeyMaxs(BlockId block, int layer) const;

  // Takes a free block (ref count 1), evicting the least recently released
  // cached block when no never-used/free block is left.
  // Errors: kResourceExhausted when every block is referenced.
  absl::StatusOr<BlockId> Allocate();
  // All-or-nothing Allocate() of `n` blocks under one lock: on
  // kResourceExhausted nothing was taken and no cached block was evicted.
  // Errors: kInvalidArgument for n < 0.
  absl::StatusOr<std::vector<BlockId>> AllocateBlocks(int64_t n);
  // Precondition (aborts otherwise): `block` is referenced or cached.
  void AddRef(BlockId block);
  // Drops one reference; at zero a cached block stays findable (and
  // evictable), an uncached one returns to the free list. Aborts when the
  // block is not referenced (double release).
  void Release(BlockId block);
  int ref_count(BlockId block) const;

  // Blocks that Allocate() could still hand out (free + evictable).
  int64_t NumAvailableBlocks() const;

  // Chain hash of a full block: covers `parent` (0 for the first block) and
  // the block's tokens, so equal hashes mean equal whole prefixes.
  static BlockHash ChainHash(BlockHash parent, absl::Span<const int32_t> tokens);
  // Chain hashes of the first `num_blocks` full blocks of `tokens`
  // (num_blocks * block_size <= tokens.size()).
  static std::vector<BlockHash> ChainHashes(absl::Span<const int32_t> tokens, int block_size,
                                            int64_t num_blocks);

  // Finds a cached block by hash and takes a reference to it (counts a hit
  // or a miss). nullopt when not cached or prefix caching is off.
  std::optional<BlockId> LookupAndRef(BlockHash hash);
  // Records that full block `block` holds the prefix with chain hash `hash`.
  // A no-op when prefix caching is off or another block already has the hash.
  void RegisterFull(BlockId block, BlockHash hash);

  KvCacheStats stats() const;
  // Returns and clears the stored/evicted events since the last call.
  std::vector<BlockEvent> DrainEvents();

  // Copies the listed blocks, in order, into `out` (block_bytes() each), or
  // writes them from `in` (through CopyOut / CopyIn, so device pools too).
  // Errors: kInvalidArgument on a bad block id or a size mismatch (the span
  // must be exactly blocks.size() * block_bytes()). ImportBlocks also returns
  // kFailedPrecondition, writing nothing, when a target block is unreferenced
  // (free or merely cached) or already registered under a hash: registered full
  // blocks may be shared and are immutable, so import into freshly allocated
  // blocks and Commit afterwards.
  absl::Status ExportBlocks(absl::Span<const BlockId> blocks,
                            absl::Span<uint8_t> out) const;
  absl::Status ImportBlocks(absl::Span<const BlockId> blocks,
                            absl::Span<const uint8_t> in);

  // Whether host code may touch the pool's bytes (BlockData) directly;
  // false for a discrete GPU's device memory (see PoolMemory).
  bool host_accessible() const;
  // Pool <-> host copies through the pool's memory (device copies on a GPU,
  // memcpy on the host), waiting for all of them. Errors: kInvalidArgument
  // when a range leaves the pool (nothing is copied), the memory's error
  // otherwise. Block data is not locked: as for BlockData, the caller owns
  // the blocks it copies.
  absl::Status CopyOut(absl::Span<const PoolCopy> copies) const;
  absl::Status CopyIn(absl::Span<const PoolCopy> copies);
  // The copies of whole blocks: block blocks[i] <-> host[i] (block_bytes()
  // each), for the first min(blocks.size(), host.size()) pairs.
  std::vector<PoolCopy> BlockCopies(absl::Span<const BlockId> blocks,
                                    absl::Span<uint8_t* const> host) const;

 private:
  explicit KvCache(const KvCacheOptions& options);

  int64_t BlockOffset(BlockId block, int layer, int kind, int slot) const;
  // Pops a free block, else evicts the LRU cached one; sets ref count 1.
  // Precondition: free_ or lru_ is non-empty.
  BlockId TakeBlockLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  struct BlockMeta {
    int ref_count = 0;
    std::optional<BlockHash> hash;
    std::list<BlockId>::iterator lru_pos;  // valid when cached and unreferenced
    bool in_lru = false;
  };

  const KvCacheOptions options_;
  std::unique_ptr<uint8_t[]> own_pool_;     // when the cache allocated it
  std::unique_ptr<PoolMemory> pool_memory_;  // when given one
  uint8_t* pool_ = nullptr;
  // Key summaries: [block][min | max][layer][kv_head][head_dim] floats, and
  // per block whether they are current (see KvCacheOptions::key_summaries).
  // Reset under mu_ when a block is taken; otherwise owned like block data.
  std::vector<float> summaries_;
  std::vector<uint8_t> summary_ready_;
  mutable absl::Mutex mu_;
  std::vector<BlockMeta> meta_ ABSL_GUARDED_BY(mu_);
  std::vector<BlockId> free_ ABSL_GUARDED_BY(mu_);
  std::list<BlockId> lru_ ABSL_GUARDED_BY(mu_);  // front = least recent
  absl::flat_hash_map<BlockHash, BlockId> index_ ABSL_GUARDED_BY(mu_);
  std::vector<BlockEvent> events_ ABSL_GUARDED_BY(mu_);
  KvCacheStats counters_ ABSL_GUARDED_BY(mu_);
};

// A sequence's block table: the blocks holding its KV in token order.
// Returns its references to the cache on destruction. Not thread-safe.
class SequenceKv {
 public:
  explicit SequenceKv(KvCache* cache) : cache_(cache) {}
  ~SequenceKv();
  SequenceKv(const SequenceKv&) = delete;
  SequenceKv& operator=(const SequenceKv&) = delete;

  // Attaches the longest cached prefix of `tokens` (whole blocks only, and
  // never all of `tokens`: at least one token is left to compute so the
  // caller gets logits). Must be called on an empty sequence. Returns the
  // number of tokens whose KV is now present.
  int64_t AttachCachedPrefix(absl::Span<const int32_t> tokens);

  // Ensures blocks exist for `num_tokens` tokens in total.
  // Errors: kResourceExhausted (the sequence keeps what it had).
  absl::Status Reserve(int64_t num_tokens);

  // Sets how many tokens have KV written, and registers every newly full
  // block under its chain hash. `tokens` is the sequence's whole token list
  // (at least num_tokens long). Aborts when num_tokens exceeds the reserved
  // blocks or would un-commit a full block (num_tokens may only shrink
  // within the partial last block, e.g. to drop rejected draft tokens).
  void Commit(absl::Span<const int32_t> tokens, int64_t num_tokens);

  // Makes this (empty) sequence a copy of `parent`'s first `num_tokens`
  // committed tokens (n > 1 choices of one prompt): the full blocks are
  // shared (one more reference each: full blocks are immutable), the
  // partially filled last block is copied into a fresh block (copy on write,
  // done at once because both sequences write their next token there).
  // Errors: kResourceExhausted when no block is free for the copy (the
  // sequence stays empty); kInvalidArgument when num_tokens exceeds what
  // `parent` has committed.
  absl::Status ForkFrom(const SequenceKv& parent, int64_t num_tokens);

  // Releases every block (the sequence becomes empty), last block first so
  // that LRU eviction takes a cached prefix's tail before its head.
  void Clear();

  int64_t num_tokens() const { return num_tokens_; }
  const std::vector<BlockId>& blocks() const { return blocks_; }
  // Chain hashes of the full blocks, in order (blocks()[i] <-> hashes[i]);
  // what the engine reports to the scheduler for this sequence's prefix.
  const std::vector<BlockHash>& block_hashes() const { return hashes_; }
  // Block and slot of token position `pos`.
  BlockId BlockOf(int64_t pos) const;
  int SlotOf(int64_t pos) const;

 private:
  KvCache* cache_;
  std::vector<BlockId> blocks_;
  std::vector<BlockHash> hashes_;  // chain hashes of the full blocks so far
  int64_t num_tokens_ = 0;
};

}  // namespace triptych::kv

#endif  // TRIPTYCH_RUNTIME_KV_KV_CACHE_H_
