#include "runtime/kv/kv_cache.h"

#include <xxhash.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/memory/quest.h"

namespace triptych::kv {
namespace {

// Broken invariants (double release, out-of-range ids from our own callers)
// are programming errors, not request errors: abort loudly.
#define KV_CHECK(cond)                                                         \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: KV_CHECK failed: %s\n", __FILE__, __LINE__, \
                   #cond);                                                     \
      std::abort();                                                            \
    }                                                                          \
  } while (0)

bool MulOverflows(int64_t a, int64_t b, int64_t* out) {
  return __builtin_mul_overflow(a, b, out);
}

void PutLe64(uint64_t v, uint8_t* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}

void PutLe32(uint32_t v, uint8_t* out) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}

}  // namespace

absl::StatusOr<int64_t> KvCache::PoolBytes(const KvCacheOptions& options) {
  if (options.num_layers <= 0 || options.num_kv_heads <= 0 ||
      options.head_dim <= 0 || options.block_size <= 0 ||
      options.num_blocks <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KvCache geometry must be positive: layers=", options.num_layers,
        " kv_heads=", options.num_kv_heads, " head_dim=", options.head_dim,
        " block_size=", options.block_size,
        " num_blocks=", options.num_blocks));
  }
  if (options.num_blocks > std::numeric_limits<BlockId>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_blocks ", options.num_blocks, " exceeds BlockId"));
  }
  const int64_t elem = options.dtype == KvDtype::kF16 ? 2 : 4;
  int64_t bytes = elem;
  for (int64_t f : {int64_t{options.num_kv_heads}, int64_t{options.head_dim},
                    int64_t{options.block_size}, int64_t{2},
                    int64_t{options.num_layers}, options.num_blocks}) {
    if (MulOverflows(bytes, f, &bytes)) {
      return absl::InvalidArgumentError("KvCache pool size overflows int64");
    }
  }
  if (static_cast<uint64_t>(bytes) > std::numeric_limits<size_t>::max()) {
    return absl::ResourceExhaustedError("KvCache pool exceeds size_t");
  }
  return bytes;
}

absl::StatusOr<std::unique_ptr<KvCache>> KvCache::Create(
    const KvCacheOptions& options) {
  return Create(options, nullptr);
}

absl::StatusOr<std::unique_ptr<KvCache>> KvCache::Create(
    const KvCacheOptions& options, std::unique_ptr<PoolMemory> memory) {
  const absl::StatusOr<int64_t> pool_bytes = PoolBytes(options);
  if (!pool_bytes.ok()) return pool_bytes.status();
  const int64_t bytes = *pool_bytes;
  std::unique_ptr<KvCache> cache(new KvCache(options));
  if (memory != nullptr) {
    if (memory->data() == nullptr) {
      return absl::InvalidArgumentError("KV pool memory has no data");
    }
    if (!memory->host_accessible() && options.key_summaries) {
      return absl::InvalidArgumentError(
          "key summaries need a host-accessible KV pool");
    }
    // Zeroed as the host pool is (the owner of `memory` may not have).
    if (absl::Status st = memory->Zero(static_cast<size_t>(bytes)); !st.ok()) {
      return st;
    }
    cache->pool_ = memory->data();
    cache->pool_memory_ = std::move(memory);
  } else {
    // Zeroed so that exporting a partly written block is deterministic.
    cache->own_pool_.reset(new (std::nothrow) uint8_t[static_cast<size_t>(bytes)]());
    if (cache->own_pool_ == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot allocate KV pool of ", bytes, " bytes"));
    }
    cache->pool_ = cache->own_pool_.get();
  }
  if (options.key_summaries) {
    cache->summaries_.resize(static_cast<size_t>(
        options.num_blocks * 2 * options.num_layers * options.num_kv_heads *
        options.head_dim));
    cache->summary_ready_.assign(static_cast<size_t>(options.num_blocks), 0);
  }
  return cache;
}

absl::Status PoolMemory::CopyOut(absl::Span<const PoolCopy> copies) {
  for (const PoolCopy& c : copies)
    std::memcpy(c.host, data() + c.pool_offset, c.bytes);
  return absl::OkStatus();
}

absl::Status PoolMemory::CopyIn(absl::Span<const PoolCopy> copies) {
  for (const PoolCopy& c : copies)
    std::memcpy(data() + c.pool_offset, c.host, c.bytes);
  return absl::OkStatus();
}

absl::Status PoolMemory::Zero(size_t bytes) {
  std::memset(data(), 0, bytes);
  return absl::OkStatus();
}

bool KvCache::host_accessible() const {
  return pool_memory_ == nullptr || pool_memory_->host_accessible();
}

namespace {

absl::Status CheckCopies(absl::Span<const PoolCopy> copies,
                         uint64_t pool_bytes) {
  for (const PoolCopy& c : copies) {
    if (c.host == nullptr || c.pool_offset > pool_bytes ||
        c.bytes > pool_bytes - c.pool_offset) {
      return absl::InvalidArgumentError(
          absl::StrCat("KV pool copy of ", c.bytes, " bytes at ", c.pool_offset,
                       " is outside the pool (", pool_bytes,
                       " bytes) or has no host memory"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<PoolCopy> KvCache::BlockCopies(
    absl::Span<const BlockId> blocks, absl::Span<uint8_t* const> host) const {
  const uint64_t bb = static_cast<uint64_t>(block_bytes());
  std::vector<PoolCopy> out;
  for (size_t i = 0; i < blocks.size() && i < host.size(); ++i) {
    out.push_back({static_cast<uint64_t>(blocks[i]) * bb, host[i],
                   static_cast<size_t>(bb)});
  }
  return out;
}

absl::Status KvCache::CopyOut(absl::Span<const PoolCopy> copies) const {
  const uint64_t pool_bytes =
      static_cast<uint64_t>(block_bytes() * options_.num_blocks);
  if (absl::Status st = CheckCopies(copies, pool_bytes); !st.ok()) return st;
  if (pool_memory_ != nullptr) return pool_memory_->CopyOut(copies);
  for (const PoolCopy& c : copies)
    std::memcpy(c.host, pool_ + c.pool_offset, c.bytes);
  return absl::OkStatus();
}

absl::Status KvCache::CopyIn(absl::Span<const PoolCopy> copies) {
  const uint64_t pool_bytes =
      static_cast<uint64_t>(block_bytes() * options_.num_blocks);
  if (absl::Status st = CheckCopies(copies, pool_bytes); !st.ok()) return st;
  if (pool_memory_ != nullptr) return pool_memory_->CopyIn(copies);
  for (const PoolCopy& c : copies)
    std::memcpy(pool_ + c.pool_offset, c.host, c.bytes);
  return absl::OkStatus();
}

KvCache::KvCache(const KvCacheOptions& options)
    : options_(options), meta_(static_cast<size_t>(options.num_blocks)) {
  // Reversed so that Allocate() hands out block 0 first.
  free_.reserve(static_cast<size_t>(options.num_blocks));
  for (int64_t b = options.num_blocks - 1; b >= 0; --b) {
    free_.push_back(static_cast<BlockId>(b));
  }
  counters_.num_blocks = options.num_blocks;
}

KvCache::~KvCache() = default;

int64_t KvCache::element_bytes() const {
  return options_.dtype == KvDtype::kF16 ? 2 : 4;
}

int64_t KvCache::token_bytes() const {
  return int64_t{options_.num_kv_heads} * options_.head_dim * element_bytes();
}

int64_t KvCache::layer_stride_bytes() const {
  return 2 * int64_t{options_.block_size} * token_bytes();
}

int64_t KvCache::block_bytes() const {
  return int64_t{options_.num_layers} * layer_stride_bytes();
}

int64_t KvCache::BlockOffset(BlockId block, int layer, int kind,
                             int slot) const {
  KV_CHECK(block >= 0 && block < options_.num_blocks);
  KV_CHECK(layer >= 0 && layer < options_.num_layers);
  KV_CHECK(slot >= 0 && slot < options_.block_size);
  return int64_t{block} * block_bytes() +
         int64_t{layer} * layer_stride_bytes() +
         (int64_t{kind} * options_.block_size + slot) * token_bytes();
}

uint8_t* KvCache::BlockData(BlockId block) {
  KV_CHECK(block >= 0 && block < options_.num_blocks);
  return pool_ + int64_t{block} * block_bytes();
}

const uint8_t* KvCache::BlockData(BlockId block) const {
  KV_CHECK(block >= 0 && block < options_.num_blocks);
  return pool_ + int64_t{block} * block_bytes();
}

void* KvCache::KeyPtr(BlockId block, int layer, int slot) {
  return pool_ + BlockOffset(block, layer, /*kind=*/0, slot);
}

void* KvCache::ValuePtr(BlockId block, int layer, int slot) {
  return pool_ + BlockOffset(block, layer, /*kind=*/1, slot);
}

const void* KvCache::KeyPtr(BlockId block, int layer, int slot) const {
  return pool_ + BlockOffset(block, layer, /*kind=*/0, slot);
}

const void* KvCache::ValuePtr(BlockId block, int layer, int slot) const {
  return pool_ + BlockOffset(block, layer, /*kind=*/1, slot);
}

bool KvCache::KeySummaryReady(BlockId block) const {
  KV_CHECK(block >= 0 && block < options_.num_blocks);
  return !summary_ready_.empty() && summary_ready_[block] != 0;
}

void KvCache::SummarizeKeys(BlockId block) {
  KV_CHECK(options_.key_summaries);
  KV_CHECK(block >= 0 && block < options_.num_blocks);
  kernels::memory::KvBlockShape shape;
  shape.num_layers = options_.num_layers;
  shape.num_kv_heads = options_.num_kv_heads;
  shape.head_dim = options_.head_dim;
  shape.block_tokens = options_.block_size;
  shape.dtype = options_.dtype == KvDtype::kF16
                    ? kernels::memory::KeyDtype::kF16
                    : kernels::memory::KeyDtype::kF32;
  const int64_t per = int64_t{options_.num_layers} * options_.num_kv_heads *
                      options_.head_dim;
  float* mins = summaries_.data() + int64_t{block} * 2 * per;
  kernels::memory::BlockKeySummary(shape, BlockData(block), options_.block_size,
                                   mins, mins + per);
  summary_ready_[block] = 1;
}

const float* KvCache::KeyMins(BlockId block, int layer) const {
  KV_CHECK(options_.key_summaries);
  KV_CHECK(block >= 0 && block < options_.num_blocks);
  KV_CHECK(layer >= 0 && layer < options_.num_layers);
  const int64_t head = int64_t{options_.num_kv_heads} * options_.head_dim;
  return summaries_.data() + int64_t{block} * 2 * options_.num_layers * head +
         int64_t{layer} * head;
}

const float* KvCache::KeyMaxs(BlockId block, int layer) const {
  return KeyMins(block, layer) +
         int64_t{options_.num_layers} * options_.num_kv_heads * options_.head_dim;
}

BlockId KvCache::TakeBlockLocked() {
  BlockId block;
  if (!free_.empty()) {
    block = free_.back();
    free_.pop_back();
  } else {
    KV_CHECK(!lru_.empty());
    block = lru_.front();
    lru_.pop_front();
    BlockMeta& m = meta_[block];
    KV_CHECK(m.in_lru && m.ref_count == 0 && m.hash.has_value());
    m.in_lru = false;
    index_.erase(*m.hash);
    events_.push_back({BlockEvent::Kind::kEvicted, *m.hash});
    m.hash.reset();
    ++counters_.evictions;
  }
  meta_[block].ref_count = 1;
  if (!summary_ready_.empty()) summary_ready_[block] = 0;
  return block;
}

absl::StatusOr<BlockId> KvCache::Allocate() {
  absl::MutexLock lock(&mu_);
  if (free_.empty() && lru_.empty()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("all ", options_.num_blocks, " KV blocks are referenced"));
  }
  return TakeBlockLocked();
}

absl::StatusOr<std::vector<BlockId>> KvCache::AllocateBlocks(int64_t n) {
  if (n < 0) return absl::InvalidArgumentError("negative block count");
  absl::MutexLock lock(&mu_);
  const int64_t available =
      static_cast<int64_t>(free_.size()) + static_cast<int64_t>(lru_.size());
  if (n > available) {
    return absl::ResourceExhaustedError(
        absl::StrCat("need ", n, " KV blocks, ", available, " available"));
  }
  std::vector<BlockId> blocks;
  blocks.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) blocks.push_back(TakeBlockLocked());
  return blocks;
}

void KvCache::AddRef(BlockId block) {
  absl::MutexLock lock(&mu_);
  KV_CHECK(block >= 0 && block < options_.num_blocks);
  BlockMeta& m = meta_[block];
  if (m.in_lru) {
    lru_.erase(m.lru_pos);
    m.in_lru = false;
  } else {
    KV_CHECK(m.ref_count > 0);  // a block on the free list has no owner
  }
  ++m.ref_count;
}

void KvCache::Release(BlockId block) {
  absl::MutexLock lock(&mu_);
  KV_CHECK(block >= 0 && block < options_.num_blocks);
  BlockMeta& m = meta_[block];
  KV_CHECK(m.ref_count > 0);
  if (--m.ref_count > 0) return;
  if (m.hash.has_value()) {
    m.lru_pos = lru_.insert(lru_.end(), block);
    m.in_lru = true;
  } else {
    free_.push_back(block);
  }
}

int KvCache::ref_count(BlockId block) const {
  absl::MutexLock lock(&mu_);
  KV_CHECK(block >= 0 && block < options_.num_blocks);
  return meta_[block].ref_count;
}

int64_t KvCache::NumAvailableBlocks() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(free_.size() + lru_.size());
}

std::vector<BlockHash> KvCache::ChainHashes(absl::Span<const int32_t> tokens, int block_size,
                                            int64_t num_blocks) {
  KV_CHECK(num_blocks >= 0 && num_blocks * block_size <= static_cast<int64_t>(tokens.size()));
  std::vector<BlockHash> out;
  out.reserve(static_cast<size_t>(num_blocks));
  BlockHash parent = 0;
  for (int64_t b = 0; b < num_blocks; ++b) {
    parent = ChainHash(parent, tokens.subspan(static_cast<size_t>(b * block_size),
                                              static_cast<size_t>(block_size)));
    out.push_back(parent);
  }
  return out;
}

BlockHash KvCache::ChainHash(BlockHash parent,
                             absl::Span<const int32_t> tokens) {
  // Input bytes: parent as u64 LE, then each token as i32 LE (see
  // docs/KV_LAYOUT.md). Serialised explicitly so that the hash does not
  // depend on host endianness.
  constexpr size_t kInlineTokens = 256;
  std::array<uint8_t, 8 + 4 * kInlineTokens> inline_buf;
  std::vector<uint8_t> heap_buf;
  uint8_t* buf = inline_buf.data();
  const size_t len = 8 + 4 * tokens.size();
  if (tokens.size() > kInlineTokens) {
    heap_buf.resize(len);
    buf = heap_buf.data();
  }
  PutLe64(parent, buf);
  for (size_t i = 0; i < tokens.size(); ++i) {
    PutLe32(static_cast<uint32_t>(tokens[i]), buf + 8 + 4 * i);
  }
  return XXH3_64bits(buf, len);
}

std::optional<BlockId> KvCache::LookupAndRef(BlockHash hash) {
  if (!options_.enable_prefix_cache) return std::nullopt;
  absl::MutexLock lock(&mu_);
  auto it = index_.find(hash);
  if (it == index_.end()) {
    ++counters_.prefix_miss_blocks;
    return std::nullopt;
  }
  const BlockId block = it->second;
  BlockMeta& m = meta_[block];
  if (m.in_lru) {
    lru_.erase(m.lru_pos);
    m.in_lru = false;
  }
  ++m.ref_count;
  ++counters_.prefix_hit_blocks;
  return block;
}

void KvCache::RegisterFull(BlockId block, BlockHash hash) {
  if (!options_.enable_prefix_cache) return;
  absl::MutexLock lock(&mu_);
  KV_CHECK(block >= 0 && block < options_.num_blocks);
  BlockMeta& m = meta_[block];
  KV_CHECK(m.ref_count > 0);       // only an owner can vouch for the contents
  if (m.hash.has_value()) return;  // a full block holds one prefix for life
  if (!index_.try_emplace(hash, block).second) return;
  m.hash = hash;
  events_.push_back({BlockEvent::Kind::kStored, hash});
}

KvCacheStats KvCache::stats() const {
  absl::MutexLock lock(&mu_);
  KvCacheStats s = counters_;
  s.cached_free_blocks = static_cast<int64_t>(lru_.size());
  s.used_blocks = options_.num_blocks - static_cast<int64_t>(free_.size()) -
                  s.cached_free_blocks;
  return s;
}

std::vector<BlockEvent> KvCache::DrainEvents() {
  absl::MutexLock lock(&mu_);
  std::vector<BlockEvent> out;
  out.swap(events_);
  return out;
}

absl::Status KvCache::ExportBlocks(absl::Span<const BlockId> blocks,
                                   absl::Span<uint8_t> out) const {
  const int64_t bb = block_bytes();
  if (static_cast<int64_t>(out.size()) !=
      static_cast<int64_t>(blocks.size()) * bb) {
    return absl::InvalidArgumentError(absl::StrCat("export buffer is ",
                                                   out.size(), " bytes, need ",
                                                   blocks.size(), " x ", bb));
  }
  for (BlockId b : blocks) {
    if (b < 0 || b >= options_.num_blocks) {
      return absl::InvalidArgumentError(absl::StrCat("bad block id ", b));
    }
  }
  std::vector<uint8_t*> host;
  for (size_t i = 0; i < blocks.size(); ++i)
    host.push_back(out.data() + i * bb);
  return CopyOut(BlockCopies(blocks, host));
}

absl::Status KvCache::ImportBlocks(absl::Span<const BlockId> blocks,
                                   absl::Span<const uint8_t> in) {
  const int64_t bb = block_bytes();
  if (static_cast<int64_t>(in.size()) !=
      static_cast<int64_t>(blocks.size()) * bb) {
    return absl::InvalidArgumentError(absl::StrCat("import buffer is ",
                                                   in.size(), " bytes, need ",
                                                   blocks.size(), " x ", bb));
  }
  for (BlockId b : blocks) {
    if (b < 0 || b >= options_.num_blocks) {
      return absl::InvalidArgumentError(absl::StrCat("bad block id ", b));
    }
  }
  {
    absl::MutexLock lock(&mu_);
    for (BlockId b : blocks) {
      const BlockMeta& m = meta_[b];
      if (m.ref_count == 0) {
        return absl::FailedPreconditionError(
            absl::StrCat("import into unreferenced block ", b));
      }
      if (m.hash.has_value()) {
        return absl::FailedPreconditionError(
            absl::StrCat("import into registered (immutable) block ", b));
      }
    }
  }
  // The caller owns the targets (checked above), so the copy needs no lock.
  std::vector<uint8_t*> host;
  for (size_t i = 0; i < blocks.size(); ++i) {
    // CopyIn only reads `host`; PoolCopy is one type for both directions.
    host.push_back(const_cast<uint8_t*>(in.data() + i * bb));
    if (!summary_ready_.empty()) summary_ready_[blocks[i]] = 0;
  }
  return CopyIn(BlockCopies(blocks, host));
}

// ---------------------------------------------------------------------------
// SequenceKv

SequenceKv::~SequenceKv() { Clear(); }

int64_t SequenceKv::AttachCachedPrefix(absl::Span<const int32_t> tokens) {
  KV_CHECK(blocks_.empty() && num_tokens_ == 0);
  const int64_t bs = cache_->options().block_size;
  if (tokens.empty() || !cache_->options().enable_prefix_cache) return 0;
  // Only blocks lying wholly before the last token: that token must be
  // computed to produce logits, and a partial block is never shared.
  const int64_t max_blocks = (static_cast<int64_t>(tokens.size()) - 1) / bs;
  BlockHash parent = 0;
  for (int64_t i = 0; i < max_blocks; ++i) {
    const BlockHash h = KvCache::ChainHash(parent, tokens.subspan(i * bs, bs));
    std::optional<BlockId> block = cache_->LookupAndRef(h);
    if (!block.has_value()) break;
    blocks_.push_back(*block);
    hashes_.push_back(h);
    parent = h;
  }
  num_tokens_ = static_cast<int64_t>(blocks_.size()) * bs;
  return num_tokens_;
}

absl::Status SequenceKv::Reserve(int64_t num_tokens) {
  if (num_tokens < 0) {
    return absl::InvalidArgumentError("negative token count");
  }
  const int64_t bs = cache_->options().block_size;
  const int64_t needed = (num_tokens + bs - 1) / bs;
  const int64_t have = static_cast<int64_t>(blocks_.size());
  if (needed <= have) return absl::OkStatus();
  // All-or-nothing, so a failed Reserve neither keeps partial blocks nor
  // evicts cached prefixes for nothing.
  absl::StatusOr<std::vector<BlockId>> fresh =
      cache_->AllocateBlocks(needed - have);
  if (!fresh.ok()) return fresh.status();
  blocks_.insert(blocks_.end(), fresh->begin(), fresh->end());
  return absl::OkStatus();
}

void SequenceKv::Commit(absl::Span<const int32_t> tokens, int64_t num_tokens) {
  const int64_t bs = cache_->options().block_size;
  KV_CHECK(num_tokens >= 0);
  KV_CHECK(static_cast<int64_t>(tokens.size()) >= num_tokens);
  KV_CHECK(num_tokens <= static_cast<int64_t>(blocks_.size()) * bs);
  // Full blocks may be shared through the prefix cache; they cannot be
  // un-committed without copy-on-write.
  KV_CHECK(num_tokens >= static_cast<int64_t>(hashes_.size()) * bs);
  num_tokens_ = num_tokens;
  while ((static_cast<int64_t>(hashes_.size()) + 1) * bs <= num_tokens) {
    const size_t i = hashes_.size();
    const BlockHash parent = i == 0 ? 0 : hashes_[i - 1];
    const BlockHash h = KvCache::ChainHash(
        parent, tokens.subspan(static_cast<size_t>(i * bs), bs));
    cache_->RegisterFull(blocks_[i], h);
    hashes_.push_back(h);
  }
}

absl::Status SequenceKv::ForkFrom(const SequenceKv& parent, int64_t num_tokens) {
  KV_CHECK(blocks_.empty() && num_tokens_ == 0 && parent.cache_ == cache_);
  if (num_tokens < 0 || num_tokens > parent.num_tokens_) {
    return absl::InvalidArgumentError("fork past the parent's committed tokens");
  }
  const int64_t bs = cache_->options().block_size;
  const int64_t full = num_tokens / bs;
  const bool partial = num_tokens % bs != 0;
  BlockId copy = -1;
  if (partial) {
    absl::StatusOr<BlockId> b = cache_->Allocate();
    if (!b.ok()) return b.status();
    copy = *b;
    if (cache_->host_accessible()) {
      std::memcpy(cache_->BlockData(copy),
                  cache_->BlockData(parent.blocks_[full]),
                  static_cast<size_t>(cache_->block_bytes()));
    } else {  // device memory: through the host
      const uint64_t bb = static_cast<uint64_t>(cache_->block_bytes());
      std::vector<uint8_t> bytes(bb);
      absl::Status st =
          cache_->CopyOut({{static_cast<uint64_t>(parent.blocks_[full]) * bb,
                            bytes.data(), bytes.size()}});
      if (st.ok())
        st = cache_->CopyIn(
            {{static_cast<uint64_t>(copy) * bb, bytes.data(), bytes.size()}});
      if (!st.ok()) {
        cache_->Release(copy);
        return st;
      }
    }
  }
  for (int64_t i = 0; i < full; ++i) {
    cache_->AddRef(parent.blocks_[i]);
    blocks_.push_back(parent.blocks_[i]);
  }
  if (partial) blocks_.push_back(copy);
  hashes_.assign(parent.hashes_.begin(),
                 parent.hashes_.begin() + std::min<int64_t>(
                                              full, static_cast<int64_t>(parent.hashes_.size())));
  num_tokens_ = num_tokens;
  return absl::OkStatus();
}

void SequenceKv::Clear() {
  for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it) {
    cache_->Release(*it);
  }
  blocks_.clear();
  hashes_.clear();
  num_tokens_ = 0;
}

BlockId SequenceKv::BlockOf(int64_t pos) const {
  const int64_t bs = cache_->options().block_size;
  KV_CHECK(pos >= 0 && pos / bs < static_cast<int64_t>(blocks_.size()));
  return blocks_[static_cast<size_t>(pos / bs)];
}

int SequenceKv::SlotOf(int64_t pos) const {
  KV_CHECK(pos >= 0);
  return static_cast<int>(pos % cache_->options().block_size);
}

#undef KV_CHECK

}  // namespace triptych::kv
