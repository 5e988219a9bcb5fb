#include "runtime/kv/staging_area.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "runtime/kv/kv_cache.h"

namespace triptych::kv {
namespace {

TEST(StagingArea, AcquireIsAllOrNothingAndSlotsComeBack) {
  auto area = StagingArea::Create(4, 64);
  ASSERT_TRUE(area.ok()) << area.status();
  EXPECT_EQ((*area)->bytes(), 256u);
  {
    absl::StatusOr<StagingSlots> a = (*area)->Acquire(3);
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(a->size(), 3u);
    std::set<int32_t> ids(a->ids().begin(), a->ids().end());
    EXPECT_EQ(ids.size(), 3u);
    for (size_t i = 0; i < a->size(); ++i) {
      EXPECT_EQ(a->data(i), (*area)->base() + a->id(i) * 64);
      EXPECT_EQ(a->data(i)[0], 0);  // zeroed
    }
    // Two more do not fit now (busy, retry) ...
    EXPECT_EQ((*area)->Acquire(2).status().code(),
              absl::StatusCode::kResourceExhausted);
    EXPECT_EQ((*area)->free_blocks(), 1);
    // ... and five never will.
    EXPECT_EQ((*area)->Acquire(5).status().code(),
              absl::StatusCode::kOutOfRange);
    StagingSlots moved = std::move(*a);
    EXPECT_EQ(moved.size(), 3u);
    EXPECT_EQ((*area)->free_blocks(), 1);
  }
  EXPECT_EQ((*area)->free_blocks(), 4);
  absl::StatusOr<StagingSlots> all = (*area)->Acquire(4);
  EXPECT_TRUE(all.ok());
  EXPECT_TRUE((*area)->Acquire(0).ok());
}

TEST(StagingArea, RejectsBadSizes) {
  EXPECT_EQ(StagingArea::Create(0, 64).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StagingArea::Create(4, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

KvCacheOptions SmallCache() {
  KvCacheOptions o;
  o.num_layers = 2;
  o.num_kv_heads = 1;
  o.head_dim = 4;
  o.block_size = 2;
  o.num_blocks = 3;
  o.dtype = KvDtype::kF32;
  return o;
}

TEST(KvCacheCopies, CopyOutAndInMoveExactlyTheRanges) {
  auto cache = KvCache::Create(SmallCache());
  ASSERT_TRUE(cache.ok());
  const int64_t bb = (*cache)->block_bytes();
  uint8_t* pool = (*cache)->BlockData(0);
  for (int64_t i = 0; i < 3 * bb; ++i)
    pool[i] = static_cast<uint8_t>(i * 7 + 1);
  EXPECT_TRUE((*cache)->host_accessible());
  std::vector<uint8_t> host(40, 0xEE);
  ASSERT_TRUE(
      (*cache)
          ->CopyOut({{static_cast<uint64_t>(bb + 3), host.data() + 5, 10}})
          .ok());
  for (int i = 0; i < 40; ++i) {
    const bool inside = i >= 5 && i < 15;
    EXPECT_EQ(host[i],
              inside ? static_cast<uint8_t>((bb + 3 + i - 5) * 7 + 1) : 0xEE)
        << i;
  }
  std::vector<uint8_t> in(8, 0x42);
  ASSERT_TRUE(
      (*cache)->CopyIn({{static_cast<uint64_t>(2 * bb), in.data(), 8}}).ok());
  EXPECT_EQ(pool[2 * bb + 7], 0x42);
  EXPECT_EQ(pool[2 * bb + 8], static_cast<uint8_t>((2 * bb + 8) * 7 + 1));
  // A range past the pool's end is refused and nothing is copied.
  const uint8_t before = pool[0];
  EXPECT_EQ((*cache)
                ->CopyIn({{0, in.data(), 1},
                          {static_cast<uint64_t>(3 * bb - 4), in.data(), 8}})
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pool[0], before);
  EXPECT_EQ((*cache)->CopyOut({{0, nullptr, 1}}).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace triptych::kv
