#include "memory/kv_history_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/memory/cpu_backend.h"

namespace triptych::memory {
namespace {

constexpr size_t kPoolAlignment = 4096;

// 64-bit checksum of a block (word-wise multiply-xorshift; detects torn or
// corrupted disk copies, not adversaries).
uint64_t Checksum(const uint8_t* data, int64_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ static_cast<uint64_t>(n);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, data + i, 8);
    h = (h ^ w) * 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
  }
  for (; i < n; ++i) h = (h ^ data[i]) * 0x100000001B3ull;
  return h ^ (h >> 29);
}

absl::Status ErrnoStatus(const std::string& what, int err) {
  const std::string msg = absl::StrCat(what, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    case ENOSPC:
      return absl::ResourceExhaustedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

absl::Status PwriteAll(int fd, const uint8_t* data, int64_t n, int64_t off) {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, data, static_cast<size_t>(n), off);
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("kv history disk tier: pwrite", errno);
    }
    data += w;
    n -= w;
    off += w;
  }
  return absl::OkStatus();
}

absl::Status PreadAll(int fd, uint8_t* data, int64_t n, int64_t off) {
  while (n > 0) {
    const ssize_t r = ::pread(fd, data, static_cast<size_t>(n), off);
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("kv history disk tier: pread", errno);
    }
    if (r == 0) {
      return absl::DataLossError("kv history disk tier: file is truncated");
    }
    data += r;
    n -= r;
    off += r;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<KvHistoryStore>> KvHistoryStore::Create(
    const KvHistoryStoreOptions& options) {
  const KvBlockShape& g = options.geometry;
  if (g.num_layers <= 0 || g.num_kv_heads <= 0 || g.head_dim <= 0 ||
      g.block_tokens <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("kv history: geometry must be positive (layers ",
                     g.num_layers, ", kv_heads ", g.num_kv_heads, ", head_dim ",
                     g.head_dim, ", block_tokens ", g.block_tokens, ")"));
  }
  if (options.ram_capacity_blocks <= 0) {
    return absl::InvalidArgumentError(
        "kv history: ram_capacity_blocks must be positive");
  }
  if (options.disk_capacity_blocks < 0) {
    return absl::InvalidArgumentError(
        "kv history: disk_capacity_blocks must be >= 0");
  }
  if (!options.disk_dir.empty() && options.disk_capacity_blocks == 0) {
    return absl::InvalidArgumentError(
        "kv history: disk_dir is set but disk_capacity_blocks is 0");
  }
  const int64_t block_bytes = kernels::memory::KvBlockBytes(g);
  if (block_bytes <= 0 ||
      options.ram_capacity_blocks > (int64_t{1} << 46) / block_bytes) {
    return absl::InvalidArgumentError("kv history: RAM pool size overflows");
  }
  std::unique_ptr<kernels::memory::MemoryBackend> owned;
  if (options.backend == nullptr) {
    ASSIGN_OR_RETURN(owned, kernels::memory::CpuMemoryBackend::Create());
  }
  int fd = -1;
  if (!options.disk_dir.empty()) {
    const std::string path = options.disk_dir + "/kv_history.tier";
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return ErrnoStatus("kv history: cannot open " + path, errno);
  }
  size_t pool_size =
      static_cast<size_t>(block_bytes * options.ram_capacity_blocks);
  pool_size =
      (pool_size + kPoolAlignment - 1) / kPoolAlignment * kPoolAlignment;
  void* pool = std::aligned_alloc(kPoolAlignment, pool_size);
  if (pool == nullptr) {
    if (fd >= 0) ::close(fd);
    return absl::ResourceExhaustedError(absl::StrCat(
        "kv history: cannot allocate a RAM pool of ", pool_size, " bytes"));
  }
  return std::unique_ptr<KvHistoryStore>(new KvHistoryStore(
      options, block_bytes, static_cast<uint8_t*>(pool), fd, std::move(owned)));
}

KvHistoryStore::KvHistoryStore(
    const KvHistoryStoreOptions& options, int64_t block_bytes, uint8_t* pool,
    int disk_fd, std::unique_ptr<kernels::memory::MemoryBackend> owned_backend)
    : options_(options),
      block_bytes_(block_bytes),
      pool_(pool),
      disk_fd_(disk_fd),
      owned_backend_(std::move(owned_backend)),
      backend_(options.backend != nullptr ? options.backend
                                          : owned_backend_.get()) {
  // Hand out low slots first (pop_back).
  for (int64_t s = options.ram_capacity_blocks - 1; s >= 0; --s) {
    free_ram_.push_back(s);
  }
  if (disk_enabled()) {
    for (int64_t s = options.disk_capacity_blocks - 1; s >= 0; --s) {
      free_disk_.push_back(s);
    }
  }
}

KvHistoryStore::~KvHistoryStore() {
  if (disk_fd_ >= 0) ::close(disk_fd_);
  std::free(pool_);
}

absl::StatusOr<BlockSummary> KvHistoryStore::ComputeSummary(
    const uint8_t* bytes) const {
  const int64_t n = kernels::memory::KeySummarySize(options_.geometry);
  BlockSummary s;
  s.mins.resize(n);
  s.maxs.resize(n);
  kernels::memory::KeyBlockInput in;
  in.shape = options_.geometry;
  in.block = absl::MakeConstSpan(bytes, block_bytes_);
  in.num_tokens = options_.geometry.block_tokens;
  RETURN_IF_ERROR(backend_->BlockKeySummary(in, absl::MakeSpan(s.mins),
                                            absl::MakeSpan(s.maxs)));
  return s;
}

void KvHistoryStore::TouchLocked(Entry& e) {
  if (!e.in_lru) return;
  lru_.splice(lru_.end(), lru_, e.lru_pos);
}

void KvHistoryStore::LruRemoveLocked(Entry& e) {
  if (!e.in_lru) return;
  lru_.erase(e.lru_pos);
  e.in_lru = false;
}

void KvHistoryStore::DropLocked(BlockHash hash) {
  auto it = index_.find(hash);
  if (it == index_.end()) return;
  Entry& e = it->second;
  LruRemoveLocked(e);
  if (e.tier == Tier::kRam) {
    free_ram_.push_back(e.ram_slot);
    --counters_.ram_blocks;
  } else if (e.tier == Tier::kDisk) {
    disk_order_.erase(e.disk_pos);
    free_disk_.push_back(e.disk_slot);
    --counters_.disk_blocks;
  }
  const bool was_committed = e.tier != Tier::kReserved;
  index_.erase(it);
  if (was_committed) {
    ++counters_.evictions;
    events_.push_back({HistoryEvent::Kind::kEvicted, hash});
  }
}

void KvHistoryStore::SpillLocked(BlockHash hash, Entry& e) {
  if (!disk_enabled()) {
    DropLocked(hash);
    return;
  }
  if (free_disk_.empty()) {
    // Disk full: drop its oldest block.
    DropLocked(disk_order_.front());
  }
  const int64_t disk_slot = free_disk_.back();
  const uint8_t* data = SlotData(e.ram_slot);
  const absl::Status st =
      PwriteAll(disk_fd_, data, block_bytes_, disk_slot * block_bytes_);
  if (!st.ok()) {
    // Cannot spill: the block is dropped (reported as evicted); the store
    // stays consistent and the caller still gets its RAM slot.
    DropLocked(hash);
    return;
  }
  free_disk_.pop_back();
  e.checksum = Checksum(data, block_bytes_);
  LruRemoveLocked(e);
  free_ram_.push_back(e.ram_slot);
  e.ram_slot = -1;
  e.tier = Tier::kDisk;
  e.disk_slot = disk_slot;
  e.disk_pos = disk_order_.insert(disk_order_.end(), hash);
  --counters_.ram_blocks;
  ++counters_.disk_blocks;
  ++counters_.spills;
  counters_.disk_bytes_written += block_bytes_;
}

absl::StatusOr<int64_t> KvHistoryStore::TakeRamSlotLocked() {
  if (free_ram_.empty()) {
    if (lru_.empty()) {
      return absl::ResourceExhaustedError(
          absl::StrCat("kv history: all ", options_.ram_capacity_blocks,
                       " RAM slots are pinned or reserved"));
    }
    const BlockHash victim = lru_.front();
    SpillLocked(victim, index_.find(victim)->second);
  }
  const int64_t slot = free_ram_.back();
  free_ram_.pop_back();
  return slot;
}

absl::Status KvHistoryStore::ReadDiskLocked(const Entry& e, uint8_t* out) {
  RETURN_IF_ERROR(
      PreadAll(disk_fd_, out, block_bytes_, e.disk_slot * block_bytes_));
  counters_.disk_bytes_read += block_bytes_;
  if (Checksum(out, block_bytes_) != e.checksum) {
    return absl::DataLossError(
        "kv history disk tier: block failed its checksum (file corrupted)");
  }
  return absl::OkStatus();
}

absl::Status KvHistoryStore::ReloadLocked(BlockHash hash, Entry& e) {
  if (free_ram_.empty() && lru_.empty()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("kv history: all ", options_.ram_capacity_blocks,
                     " RAM slots are pinned or reserved"));
  }
  std::vector<uint8_t> staged(block_bytes_);
  const absl::Status st = ReadDiskLocked(e, staged.data());
  if (!st.ok()) {
    if (st.code() == absl::StatusCode::kDataLoss) DropLocked(hash);
    return st;
  }
  // Detach `e` from the disk tier before taking a RAM slot: the spill that
  // frees the slot can then reuse its disk slot and never drops `e` itself.
  // (Erasing other entries never rehashes, so `e` stays valid.)
  disk_order_.erase(e.disk_pos);
  free_disk_.push_back(e.disk_slot);
  e.disk_slot = -1;
  --counters_.disk_blocks;
  e.tier = Tier::kRam;
  // Cannot fail: a free slot or an unpinned LRU block exists (checked above
  // and `e` is in neither list).
  const int64_t slot = TakeRamSlotLocked().value();
  std::memcpy(SlotData(slot), staged.data(), block_bytes_);
  e.ram_slot = slot;
  e.lru_pos = lru_.insert(lru_.end(), hash);
  e.in_lru = true;
  ++counters_.ram_blocks;
  ++counters_.reloads;
  return absl::OkStatus();
}

absl::Status KvHistoryStore::Put(BlockHash hash, BlockHash parent,
                                 absl::Span<const uint8_t> bytes) {
  if (static_cast<int64_t>(bytes.size()) != block_bytes_) {
    return absl::InvalidArgumentError(
        absl::StrCat("kv history: Put of ", bytes.size(), " bytes, blocks are ",
                     block_bytes_, " bytes"));
  }
  {
    absl::MutexLock lock(&mu_);
    auto it = index_.find(hash);
    if (it != index_.end()) {
      if (it->second.tier == Tier::kReserved) {
        return absl::AlreadyExistsError(
            "kv history: block is reserved by ReservePut");
      }
      TouchLocked(it->second);
      return absl::OkStatus();
    }
  }
  // Summarise outside the lock (the backend may be slow).
  ASSIGN_OR_RETURN(BlockSummary summary, ComputeSummary(bytes.data()));
  absl::MutexLock lock(&mu_);
  if (auto it = index_.find(hash); it != index_.end()) {
    // Raced with another Put (fine) or a ReservePut (not published yet).
    if (it->second.tier == Tier::kReserved) {
      return absl::AlreadyExistsError(
          "kv history: block is reserved by ReservePut");
    }
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(const int64_t slot, TakeRamSlotLocked());
  std::memcpy(SlotData(slot), bytes.data(), block_bytes_);
  Entry& e = index_[hash];
  e.parent = parent;
  e.tier = Tier::kRam;
  e.ram_slot = slot;
  e.summary = std::move(summary);
  e.lru_pos = lru_.insert(lru_.end(), hash);
  e.in_lru = true;
  ++counters_.ram_blocks;
  counters_.bytes_put += block_bytes_;
  events_.push_back({HistoryEvent::Kind::kStored, hash});
  return absl::OkStatus();
}

int KvHistoryStore::Lookup(absl::Span<const BlockHash> chain) {
  absl::MutexLock lock(&mu_);
  int n = 0;
  for (const BlockHash h : chain) {
    auto it = index_.find(h);
    if (it == index_.end() || it->second.tier == Tier::kReserved) break;
    TouchLocked(it->second);
    ++n;
  }
  counters_.hits += n;
  counters_.misses += static_cast<int64_t>(chain.size()) - n;
  return n;
}

bool KvHistoryStore::Contains(BlockHash hash) const {
  absl::MutexLock lock(&mu_);
  auto it = index_.find(hash);
  return it != index_.end() && it->second.tier != Tier::kReserved;
}

absl::StatusOr<std::vector<uint8_t>> KvHistoryStore::Get(BlockHash hash) {
  absl::MutexLock lock(&mu_);
  auto it = index_.find(hash);
  if (it == index_.end() || it->second.tier == Tier::kReserved) {
    ++counters_.misses;
    return absl::NotFoundError(
        absl::StrCat("kv history: block ", hash, " not stored"));
  }
  Entry& e = it->second;
  std::vector<uint8_t> out(block_bytes_);
  if (e.tier == Tier::kDisk) {
    absl::Status st = ReloadLocked(hash, e);
    if (st.code() == absl::StatusCode::kResourceExhausted) {
      // Every RAM slot is pinned: serve straight from disk.
      st = ReadDiskLocked(e, out.data());
      if (st.code() == absl::StatusCode::kDataLoss) DropLocked(hash);
      if (!st.ok()) return st;
      ++counters_.hits;
      counters_.bytes_got += block_bytes_;
      return out;
    }
    if (!st.ok()) return st;
  } else {
    TouchLocked(e);
  }
  std::memcpy(out.data(), SlotData(e.ram_slot), block_bytes_);
  ++counters_.hits;
  counters_.bytes_got += block_bytes_;
  return out;
}

absl::StatusOr<BlockSummary> KvHistoryStore::Summary(BlockHash hash) const {
  absl::MutexLock lock(&mu_);
  auto it = index_.find(hash);
  if (it == index_.end() || it->second.tier == Tier::kReserved) {
    return absl::NotFoundError(
        absl::StrCat("kv history: block ", hash, " not stored"));
  }
  return it->second.summary;
}

absl::StatusOr<SlotRef> KvHistoryStore::Pin(BlockHash hash) {
  absl::MutexLock lock(&mu_);
  auto it = index_.find(hash);
  if (it == index_.end() || it->second.tier == Tier::kReserved) {
    ++counters_.misses;
    return absl::NotFoundError(
        absl::StrCat("kv history: block ", hash, " not stored"));
  }
  Entry& e = it->second;
  if (e.tier == Tier::kDisk) RETURN_IF_ERROR(ReloadLocked(hash, e));
  ++counters_.hits;
  if (e.pins++ == 0) {
    LruRemoveLocked(e);
    ++counters_.pinned_blocks;
  }
  return SlotRef{e.ram_slot, SlotOffset(e.ram_slot), block_bytes_};
}

absl::Status KvHistoryStore::Unpin(BlockHash hash) {
  absl::MutexLock lock(&mu_);
  auto it = index_.find(hash);
  if (it == index_.end()) {
    return absl::NotFoundError(
        absl::StrCat("kv history: block ", hash, " not stored"));
  }
  Entry& e = it->second;
  if (e.tier == Tier::kReserved) {
    return absl::FailedPreconditionError(
        "kv history: Unpin of a reserved slot; use Commit or AbortPut");
  }
  if (e.pins == 0) {
    return absl::FailedPreconditionError("kv history: Unpin of unpinned block");
  }
  if (--e.pins == 0) {
    --counters_.pinned_blocks;
    e.lru_pos = lru_.insert(lru_.end(), hash);
    e.in_lru = true;
  }
  return absl::OkStatus();
}

absl::StatusOr<SlotRef> KvHistoryStore::ReservePut(BlockHash hash,
                                                   BlockHash parent) {
  absl::MutexLock lock(&mu_);
  if (index_.contains(hash)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "kv history: block ", hash, " already stored or reserved"));
  }
  ASSIGN_OR_RETURN(const int64_t slot, TakeRamSlotLocked());
  Entry& e = index_[hash];
  e.parent = parent;
  e.tier = Tier::kReserved;
  e.ram_slot = slot;
  e.pins = 1;
  ++counters_.pinned_blocks;
  ++counters_.reserved_blocks;
  return SlotRef{slot, SlotOffset(slot), block_bytes_};
}

absl::Status KvHistoryStore::Commit(BlockHash hash) {
  const uint8_t* data = nullptr;
  {
    absl::MutexLock lock(&mu_);
    auto it = index_.find(hash);
    if (it == index_.end() || it->second.tier != Tier::kReserved) {
      return absl::NotFoundError(
          absl::StrCat("kv history: block ", hash, " is not reserved"));
    }
    data = SlotData(it->second.ram_slot);
  }
  // The slot is reserved (pinned): nobody else touches it while we read.
  ASSIGN_OR_RETURN(BlockSummary summary, ComputeSummary(data));
  absl::MutexLock lock(&mu_);
  auto it = index_.find(hash);
  if (it == index_.end() || it->second.tier != Tier::kReserved) {
    return absl::NotFoundError(
        absl::StrCat("kv history: block ", hash, " is not reserved"));
  }
  Entry& e = it->second;
  e.summary = std::move(summary);
  e.tier = Tier::kRam;
  e.pins = 0;
  e.lru_pos = lru_.insert(lru_.end(), hash);
  e.in_lru = true;
  --counters_.pinned_blocks;
  --counters_.reserved_blocks;
  ++counters_.ram_blocks;
  counters_.bytes_put += block_bytes_;
  events_.push_back({HistoryEvent::Kind::kStored, hash});
  return absl::OkStatus();
}

absl::Status KvHistoryStore::AbortPut(BlockHash hash) {
  absl::MutexLock lock(&mu_);
  auto it = index_.find(hash);
  if (it == index_.end() || it->second.tier != Tier::kReserved) {
    return absl::NotFoundError(
        absl::StrCat("kv history: block ", hash, " is not reserved"));
  }
  free_ram_.push_back(it->second.ram_slot);
  index_.erase(it);
  --counters_.pinned_blocks;
  --counters_.reserved_blocks;
  return absl::OkStatus();
}

KvHistoryStats KvHistoryStore::stats() const {
  absl::MutexLock lock(&mu_);
  return counters_;
}

std::vector<HistoryEvent> KvHistoryStore::DrainEvents() {
  absl::MutexLock lock(&mu_);
  std::vector<HistoryEvent> out;
  out.swap(events_);
  return out;
}

absl::Status KvHistoryStore::GatherSummaries(
    absl::Span<const BlockHash> chain,
    std::vector<std::vector<float>>* out_mins,
    std::vector<std::vector<float>>* out_maxs) const {
  const KvBlockShape& g = options_.geometry;
  const int groups = g.num_layers * g.num_kv_heads;
  const int d = g.head_dim;
  const size_t nb = chain.size();
  out_mins->assign(groups, std::vector<float>(nb * d));
  out_maxs->assign(groups, std::vector<float>(nb * d));
  absl::MutexLock lock(&mu_);
  for (size_t b = 0; b < nb; ++b) {
    auto it = index_.find(chain[b]);
    if (it == index_.end() || it->second.tier == Tier::kReserved) {
      return absl::NotFoundError(absl::StrCat("kv history: block ", b,
                                              " of the chain (hash ", chain[b],
                                              ") is not stored"));
    }
    const BlockSummary& s = it->second.summary;
    for (int grp = 0; grp < groups; ++grp) {
      std::memcpy((*out_mins)[grp].data() + b * d, s.mins.data() + grp * d,
                  d * sizeof(float));
      std::memcpy((*out_maxs)[grp].data() + b * d, s.maxs.data() + grp * d,
                  d * sizeof(float));
    }
  }
  return absl::OkStatus();
}

}  // namespace triptych::memory
