#include "services/memory/memory_core.h"

#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace triptych::memory_service {
namespace {

const char* DtypeName(kernels::memory::KeyDtype d) {
  return d == kernels::memory::KeyDtype::kF16 ? "f16" : "f32";
}

std::string ShapeString(const KvBlockShape& g) {
  return absl::StrCat(g.num_layers, " layers x ", g.num_kv_heads, " KV heads x ",
                      g.head_dim, " dims, ", g.block_tokens, " tokens/block, ",
                      DtypeName(g.dtype));
}

}  // namespace

absl::StatusOr<std::unique_ptr<MemoryCore>> MemoryCore::Create(
    const MemoryCoreOptions& options,
    std::unique_ptr<transport::KvTransport> transport) {
  if (transport == nullptr) {
    return absl::InvalidArgumentError("memory core needs a KV transport");
  }
  if (options.lease_ttl <= absl::ZeroDuration() || options.max_leases < 1 ||
      options.max_request_blocks < 1) {
    return absl::InvalidArgumentError(
        "lease_ttl, max_leases and max_request_blocks must be positive");
  }
  auto core = std::unique_ptr<MemoryCore>(new MemoryCore());
  core->options_ = options;
  core->transport_ = std::move(transport);
  ASSIGN_OR_RETURN(core->history_, memory::KvHistoryStore::Create(options.history));
  ASSIGN_OR_RETURN(core->collections_,
                   memory::CollectionStore::Create(options.collections));
  memory::KvHistoryStore* h = core->history_.get();
  ASSIGN_OR_RETURN(core->pool_region_,
                   core->transport_->Register(h->pool_base(),
                                              static_cast<size_t>(h->pool_bytes())));
  core->region_.address = core->transport_->address();
  core->region_.rkey = core->pool_region_->packed_rkey();
  core->region_.pool_base = core->pool_region_->base_address();
  core->region_.block_bytes = static_cast<uint64_t>(h->block_bytes());
  core->lease_salt_ = std::random_device{}();
  core->lease_salt_ = (core->lease_salt_ << 32) ^ std::random_device{}();
  core->reaper_ = std::thread([c = core.get()] { c->ReaperLoop(); });
  return core;
}

MemoryCore::~MemoryCore() {
  absl::flat_hash_map<std::string, Lease> leases;
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    leases.swap(leases_);
  }
  if (reaper_.joinable()) reaper_.join();
  for (const auto& [id, lease] : leases) ReleaseLease(lease, /*commit=*/false);
  pool_region_.reset();
}

absl::Status MemoryCore::CheckGeometry(const KvBlockShape& g) const {
  const KvBlockShape& mine = options_.history.geometry;
  if (g.num_layers != mine.num_layers || g.num_kv_heads != mine.num_kv_heads ||
      g.head_dim != mine.head_dim || g.block_tokens != mine.block_tokens ||
      g.dtype != mine.dtype) {
    return absl::FailedPreconditionError(
        absl::StrCat("KV geometry mismatch: peer has ", ShapeString(g),
                     "; this memory node stores ", ShapeString(mine)));
  }
  return absl::OkStatus();
}

absl::Status MemoryCore::CheckCount(size_t n) const {
  if (static_cast<int64_t>(n) > options_.max_request_blocks) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request names ", n, " blocks; at most ", options_.max_request_blocks));
  }
  return absl::OkStatus();
}

absl::Status MemoryCore::ReserveLeaseSlot() {
  absl::MutexLock lock(&mu_);
  const int64_t open = static_cast<int64_t>(leases_.size()) + opening_;
  if (open >= options_.max_leases) {
    return absl::ResourceExhaustedError(
        absl::StrCat(open, " leases open on the memory node"));
  }
  ++opening_;
  return absl::OkStatus();
}

std::string MemoryCore::NewLeaseIdLocked() {
  return absl::StrFormat("%016x-%x", lease_salt_, ++next_lease_);
}

absl::StatusOr<int64_t> MemoryCore::LookupHistory(const KvBlockShape& geometry,
                                                  absl::Span<const BlockHash> chain) {
  RETURN_IF_ERROR(CheckGeometry(geometry));
  RETURN_IF_ERROR(CheckCount(chain.size()));
  const int64_t n = history_->Lookup(chain);
  absl::MutexLock lock(&mu_);
  ++stats_.lookups;
  stats_.lookup_blocks_queried += static_cast<int64_t>(chain.size());
  stats_.lookup_blocks_matched += n;
  return n;
}

absl::StatusOr<ReadLease> MemoryCore::OpenRead(const KvBlockShape& geometry,
                                               absl::Span<const BlockHash> chain,
                                               int64_t max_blocks) {
  RETURN_IF_ERROR(CheckGeometry(geometry));
  RETURN_IF_ERROR(CheckCount(chain.size()));
  if (max_blocks < 0) return absl::InvalidArgumentError("max_blocks is negative");
  if (max_blocks > 0 && static_cast<int64_t>(chain.size()) > max_blocks) {
    chain = chain.subspan(0, static_cast<size_t>(max_blocks));
  }
  RETURN_IF_ERROR(ReserveLeaseSlot());
  const int64_t matched = history_->Lookup(chain);
  Lease lease;
  ReadLease out;
  for (int64_t i = 0; i < matched; ++i) {
    // A block may go between Lookup and Pin (evicted, or a corrupt disk
    // copy): the prefix ends there.
    absl::StatusOr<memory::SlotRef> slot = history_->Pin(chain[i]);
    if (!slot.ok()) break;
    lease.hashes.push_back(chain[i]);
    out.offsets.push_back(static_cast<uint64_t>(slot->offset));
  }
  absl::MutexLock lock(&mu_);
  --opening_;
  ++stats_.lookups;
  stats_.lookup_blocks_queried += static_cast<int64_t>(chain.size());
  stats_.lookup_blocks_matched += static_cast<int64_t>(lease.hashes.size());
  if (lease.hashes.empty()) return out;
  lease.opened = absl::Now();
  out.id = NewLeaseIdLocked();
  ++stats_.read_leases;
  stats_.blocks_read_pinned += static_cast<int64_t>(lease.hashes.size());
  leases_.emplace(out.id, std::move(lease));
  return out;
}

absl::StatusOr<WriteLease> MemoryCore::OpenWrite(
    const KvBlockShape& geometry, absl::Span<const HistoryBlockRef> blocks) {
  RETURN_IF_ERROR(CheckGeometry(geometry));
  RETURN_IF_ERROR(CheckCount(blocks.size()));
  RETURN_IF_ERROR(ReserveLeaseSlot());
  Lease lease;
  lease.write = true;
  WriteLease out;
  for (size_t i = 0; i < blocks.size(); ++i) {
    absl::StatusOr<memory::SlotRef> slot =
        history_->ReservePut(blocks[i].hash, blocks[i].parent);
    if (absl::IsAlreadyExists(slot.status())) continue;  // held or being written
    if (!slot.ok()) break;  // every slot pinned: store what fits
    lease.hashes.push_back(blocks[i].hash);
    out.slots.push_back({static_cast<uint32_t>(i), static_cast<uint64_t>(slot->offset)});
  }
  absl::MutexLock lock(&mu_);
  --opening_;
  if (lease.hashes.empty()) return out;
  lease.opened = absl::Now();
  out.id = NewLeaseIdLocked();
  stats_.blocks_write_reserved += static_cast<int64_t>(lease.hashes.size());
  leases_.emplace(out.id, std::move(lease));
  return out;
}

int64_t MemoryCore::ReleaseLease(const Lease& lease, bool commit) {
  int64_t n = 0;
  for (BlockHash h : lease.hashes) {
    absl::Status st;
    if (!lease.write) {
      st = history_->Unpin(h);
    } else if (commit) {
      st = history_->Commit(h);
    } else {
      st = history_->AbortPut(h);
    }
    n += st.ok();
  }
  return n;
}

absl::StatusOr<int64_t> MemoryCore::CloseLease(const std::string& id, bool commit) {
  if (id.empty()) return absl::InvalidArgumentError("lease_id is empty");
  Lease lease;
  {
    absl::MutexLock lock(&mu_);
    auto it = leases_.find(id);
    if (it == leases_.end()) {
      return absl::NotFoundError(
          absl::StrCat("lease '", id, "' is unknown or expired"));
    }
    lease = std::move(it->second);
    leases_.erase(it);
  }
  const int64_t n = ReleaseLease(lease, commit);
  absl::MutexLock lock(&mu_);
  if (lease.write) {
    (commit ? stats_.blocks_committed : stats_.blocks_aborted) += n;
  }
  return n;
}

absl::StatusOr<std::vector<BlockHash>> MemoryCore::SelectRelevant(
    const KvBlockShape& geometry, absl::Span<const BlockHash> chain,
    const memory::RelevanceQuery& query, int64_t token_budget, int sink_blocks,
    int recent_blocks) {
  RETURN_IF_ERROR(CheckGeometry(geometry));
  RETURN_IF_ERROR(CheckCount(chain.size()));
  return history_->SelectRelevant(chain, query, token_budget, sink_blocks,
                                  recent_blocks);
}

int64_t MemoryCore::ExpireLeases(absl::Time now) {
  std::vector<Lease> expired;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = leases_.begin(); it != leases_.end();) {
      if (now - it->second.opened >= options_.lease_ttl) {
        expired.push_back(std::move(it->second));
        leases_.erase(it++);
      } else {
        ++it;
      }
    }
    stats_.leases_expired += static_cast<int64_t>(expired.size());
  }
  int64_t aborted = 0;
  for (const Lease& l : expired) {
    const int64_t n = ReleaseLease(l, /*commit=*/false);
    if (l.write) aborted += n;
  }
  absl::MutexLock lock(&mu_);
  stats_.blocks_aborted += aborted;
  return static_cast<int64_t>(expired.size());
}

void MemoryCore::ReaperLoop() {
  const absl::Duration period =
      std::max(absl::Milliseconds(50), options_.lease_ttl / 4);
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stop_), period)) return;
    }
    ExpireLeases(absl::Now());
  }
}

MemoryCoreStats MemoryCore::stats() const {
  absl::MutexLock lock(&mu_);
  MemoryCoreStats s = stats_;
  s.open_leases = static_cast<int64_t>(leases_.size());
  return s;
}

}  // namespace triptych::memory_service
