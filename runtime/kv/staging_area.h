#ifndef TRIPTYCH_RUNTIME_KV_STAGING_AREA_H_
#define TRIPTYCH_RUNTIME_KV_STAGING_AREA_H_

// Host memory that KV blocks pass through when the pool itself cannot be
// handed to the transport: a discrete GPU's device memory with a UCX built
// without that memory type (docs/TRANSPORT.md, "Staging"). The area is
// `num_blocks` slots of the pool's block_bytes, page-aligned and zeroed; a
// transfer takes slots for the blocks it moves, copies between the pool and
// its slots (KvCache::CopyOut / CopyIn) and returns them when the transport
// is done with the bytes. The transport registers the area once, as it
// would register the pool.
//
// Thread safety: Acquire and the handles' release are thread-safe; the
// bytes of a slot belong to the handle holding it.

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace triptych::kv {

class StagingArea;

// Slots taken from a StagingArea; returns them on destruction (move-only).
class StagingSlots {
 public:
  StagingSlots() = default;
  ~StagingSlots();
  StagingSlots(StagingSlots&& other) noexcept;
  StagingSlots& operator=(StagingSlots&& other) noexcept;
  StagingSlots(const StagingSlots&) = delete;
  StagingSlots& operator=(const StagingSlots&) = delete;

  size_t size() const { return ids_.size(); }
  bool empty() const { return ids_.empty(); }
  // Slot i's index in the area and its bytes (block_bytes of them).
  int32_t id(size_t i) const { return ids_[i]; }
  const std::vector<int32_t>& ids() const { return ids_; }
  uint8_t* data(size_t i) const;

 private:
  friend class StagingArea;
  StagingSlots(StagingArea* area, std::vector<int32_t> ids)
      : area_(area), ids_(std::move(ids)) {}
  StagingArea* area_ = nullptr;
  std::vector<int32_t> ids_;
};

class StagingArea {
 public:
  // Errors: kInvalidArgument for a non-positive size; kResourceExhausted
  // when the memory cannot be allocated.
  static absl::StatusOr<std::unique_ptr<StagingArea>> Create(
      int64_t num_blocks, int64_t block_bytes);
  ~StagingArea();  // every StagingSlots must be gone
  StagingArea(const StagingArea&) = delete;
  StagingArea& operator=(const StagingArea&) = delete;

  // `n` slots, all or none: kResourceExhausted when fewer are free now
  // (retry later) and kOutOfRange when n exceeds the whole area (never
  // fits). n == 0 gives empty slots.
  absl::StatusOr<StagingSlots> Acquire(int64_t n);

  uint8_t* base() const { return base_; }
  int64_t num_blocks() const { return num_blocks_; }
  int64_t block_bytes() const { return block_bytes_; }
  size_t bytes() const {
    return static_cast<size_t>(num_blocks_ * block_bytes_);
  }
  int64_t free_blocks() const;

 private:
  friend class StagingSlots;
  StagingArea(uint8_t* base, int64_t num_blocks, int64_t block_bytes);
  void Release(const std::vector<int32_t>& ids);

  uint8_t* const base_;
  const int64_t num_blocks_;
  const int64_t block_bytes_;
  mutable absl::Mutex mu_;
  std::vector<int32_t> free_ ABSL_GUARDED_BY(mu_);
};

}  // namespace triptych::kv

#endif  // TRIPTYCH_RUNTIME_KV_STAGING_AREA_H_
