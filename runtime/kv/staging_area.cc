#include "runtime/kv/staging_area.h"

#include <sys/mman.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace triptych::kv {

StagingSlots::~StagingSlots() {
  if (area_ != nullptr && !ids_.empty()) area_->Release(ids_);
}

StagingSlots::StagingSlots(StagingSlots&& other) noexcept
    : area_(std::exchange(other.area_, nullptr)), ids_(std::move(other.ids_)) {
  other.ids_.clear();
}

StagingSlots& StagingSlots::operator=(StagingSlots&& other) noexcept {
  if (this != &other) {
    if (area_ != nullptr && !ids_.empty()) area_->Release(ids_);
    area_ = std::exchange(other.area_, nullptr);
    ids_ = std::move(other.ids_);
    other.ids_.clear();
  }
  return *this;
}

uint8_t* StagingSlots::data(size_t i) const {
  return area_->base() + static_cast<int64_t>(ids_[i]) * area_->block_bytes();
}

absl::StatusOr<std::unique_ptr<StagingArea>> StagingArea::Create(
    int64_t num_blocks, int64_t block_bytes) {
  if (num_blocks <= 0 || block_bytes <= 0 || num_blocks > 0x7FFFFFFF) {
    return absl::InvalidArgumentError(absl::StrCat("KV staging area of ",
                                                   num_blocks, " blocks of ",
                                                   block_bytes, " bytes"));
  }
  const size_t bytes = static_cast<size_t>(num_blocks * block_bytes);
  // mmap: page-aligned (registration pins whole pages) and zeroed.
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate a KV staging area of ", bytes, " bytes"));
  }
  return std::unique_ptr<StagingArea>(
      new StagingArea(static_cast<uint8_t*>(p), num_blocks, block_bytes));
}

StagingArea::StagingArea(uint8_t* base, int64_t num_blocks, int64_t block_bytes)
    : base_(base), num_blocks_(num_blocks), block_bytes_(block_bytes) {
  free_.reserve(static_cast<size_t>(num_blocks));
  for (int64_t b = num_blocks - 1; b >= 0; --b)
    free_.push_back(static_cast<int32_t>(b));
}

StagingArea::~StagingArea() { munmap(base_, bytes()); }

absl::StatusOr<StagingSlots> StagingArea::Acquire(int64_t n) {
  if (n < 0 || n > num_blocks_) {
    return absl::OutOfRangeError(absl::StrCat(
        "a transfer of ", n, " KV blocks exceeds the staging area (",
        num_blocks_, " blocks)"));
  }
  std::vector<int32_t> ids;
  {
    absl::MutexLock lock(&mu_);
    if (static_cast<int64_t>(free_.size()) < n) {
      return absl::ResourceExhaustedError(
          absl::StrCat("KV staging area busy: ", free_.size(), " of ",
                       num_blocks_, " blocks free, ", n, " needed"));
    }
    ids.assign(free_.end() - n, free_.end());
    free_.resize(free_.size() - static_cast<size_t>(n));
  }
  return StagingSlots(this, std::move(ids));
}

int64_t StagingArea::free_blocks() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(free_.size());
}

void StagingArea::Release(const std::vector<int32_t>& ids) {
  absl::MutexLock lock(&mu_);
  free_.insert(free_.end(), ids.begin(), ids.end());
}

}  // namespace triptych::kv
