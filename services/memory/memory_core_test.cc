// MemoryCore driven directly: a peer node (another transport on the same
// in-process fabric) writes and reads blocks one-sidedly through leases.

#include "services/memory/memory_core.h"

#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "transport/in_process_kv_transport.h"

namespace triptych::memory_service {
namespace {

KvBlockShape Shape() {
  KvBlockShape g;
  g.num_layers = 2;
  g.num_kv_heads = 2;
  g.head_dim = 8;
  g.block_tokens = 4;
  g.dtype = kernels::memory::KeyDtype::kF32;
  return g;
}

std::vector<uint8_t> Block(uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<uint8_t> out(kernels::memory::KvBlockBytes(Shape()));
  for (size_t i = 0; i + 4 <= out.size(); i += 4) {
    const float f = u(rng);
    std::memcpy(out.data() + i, &f, 4);
  }
  return out;
}

class MemoryCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto fabric = std::make_shared<transport::InProcessFabric>();
    auto mine = transport::InProcessKvTransport::Create(fabric, "memory");
    ASSERT_TRUE(mine.ok());
    auto peer = transport::InProcessKvTransport::Create(fabric, "peer");
    ASSERT_TRUE(peer.ok());
    peer_ = std::move(*peer);
    MemoryCoreOptions o;
    o.history.geometry = Shape();
    o.history.ram_capacity_blocks = 4;
    o.lease_ttl = absl::Hours(1);  // tests expire leases explicitly
    o.max_leases = 3;
    auto core = MemoryCore::Create(o, std::move(*mine));
    ASSERT_TRUE(core.ok()) << core.status();
    core_ = std::move(*core);
    const int64_t bb = kernels::memory::KvBlockBytes(Shape());
    local_.resize(static_cast<size_t>(bb * 8));
    auto region = peer_->Register(local_.data(), local_.size());
    ASSERT_TRUE(region.ok());
    region_ = std::move(*region);
  }

  // Writes blocks[i] (hash i + 1) the way a decode node does.
  void StoreChain(int n) {
    std::vector<HistoryBlockRef> refs;
    for (int i = 0; i < n; ++i) refs.push_back({static_cast<BlockHash>(i + 1), static_cast<BlockHash>(i)});
    auto lease = core_->OpenWrite(Shape(), refs);
    ASSERT_TRUE(lease.ok()) << lease.status();
    std::vector<transport::Copy> copies;
    const size_t bb = static_cast<size_t>(core_->region().block_bytes);
    for (const WriteSlot& s : lease->slots) {
      std::vector<uint8_t> b = Block(s.index + 1);
      std::memcpy(local_.data() + s.index * bb, b.data(), bb);
      copies.push_back({local_.data() + s.index * bb, core_->region().pool_base + s.offset, bb});
    }
    ASSERT_TRUE(peer_->Put(core_->region().address, copies, core_->region().rkey,
                           absl::Seconds(1)).ok());
    ASSERT_TRUE(core_->CloseLease(lease->id, /*commit=*/true).ok());
  }

  std::unique_ptr<transport::KvTransport> peer_;
  std::unique_ptr<MemoryCore> core_;
  std::vector<uint8_t> local_;
  std::unique_ptr<transport::KvRegion> region_;
};

TEST_F(MemoryCoreTest, WrittenBlocksAreReadBackByteIdentical) {
  StoreChain(3);
  EXPECT_EQ(*core_->LookupHistory(Shape(), std::vector<BlockHash>{1, 2, 3, 4}), 3);
  // Already held blocks get no slot: nothing to write twice.
  auto again = core_->OpenWrite(Shape(), std::vector<HistoryBlockRef>{{1, 0}, {2, 1}});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->id.empty());
  EXPECT_TRUE(again->slots.empty());

  auto read = core_->OpenRead(Shape(), std::vector<BlockHash>{1, 2, 3, 9}, 0);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->offsets.size(), 3u);
  EXPECT_EQ(core_->history()->stats().pinned_blocks, 3);
  const size_t bb = static_cast<size_t>(core_->region().block_bytes);
  std::vector<uint8_t> got(3 * bb);
  auto region = peer_->Register(got.data(), got.size());
  ASSERT_TRUE(region.ok());
  std::vector<transport::GetCopy> copies;
  for (size_t i = 0; i < 3; ++i) {
    copies.push_back({got.data() + i * bb, core_->region().pool_base + read->offsets[i], bb});
  }
  ASSERT_TRUE(peer_->Get(core_->region().address, copies, core_->region().rkey,
                         absl::Seconds(1)).ok());
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(std::vector<uint8_t>(got.begin() + i * bb, got.begin() + (i + 1) * bb),
              Block(static_cast<uint32_t>(i + 1)))
        << i;
  }
  EXPECT_EQ(*core_->CloseLease(read->id, false), 3);
  EXPECT_EQ(core_->history()->stats().pinned_blocks, 0);
  EXPECT_TRUE(absl::IsNotFound(core_->CloseLease(read->id, false).status()));
  // Summaries were made when the blocks were committed (Prepare Memory).
  EXPECT_TRUE(core_->history()->Summary(2).ok());
  region->reset();
}

TEST_F(MemoryCoreTest, MaxBlocksLimitsTheRead) {
  StoreChain(3);
  auto read = core_->OpenRead(Shape(), std::vector<BlockHash>{1, 2, 3}, 2);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->offsets.size(), 2u);
  EXPECT_TRUE(core_->CloseLease(read->id, false).ok());
  auto none = core_->OpenRead(Shape(), std::vector<BlockHash>{7}, 0);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->id.empty());
}

TEST_F(MemoryCoreTest, AbortedWriteIsNeverVisible) {
  auto lease = core_->OpenWrite(Shape(), std::vector<HistoryBlockRef>{{5, 0}});
  ASSERT_TRUE(lease.ok());
  ASSERT_EQ(lease->slots.size(), 1u);
  EXPECT_EQ(*core_->LookupHistory(Shape(), std::vector<BlockHash>{5}), 0);
  EXPECT_EQ(*core_->CloseLease(lease->id, /*commit=*/false), 1);
  EXPECT_EQ(*core_->LookupHistory(Shape(), std::vector<BlockHash>{5}), 0);
  EXPECT_EQ(core_->history()->stats().reserved_blocks, 0);
}

TEST_F(MemoryCoreTest, ExpiredLeasesReleaseEverything) {
  StoreChain(2);
  auto read = core_->OpenRead(Shape(), std::vector<BlockHash>{1, 2}, 0);
  ASSERT_TRUE(read.ok());
  auto write = core_->OpenWrite(Shape(), std::vector<HistoryBlockRef>{{8, 2}});
  ASSERT_TRUE(write.ok());
  EXPECT_EQ(core_->stats().open_leases, 2);
  EXPECT_EQ(core_->ExpireLeases(absl::Now()), 0);  // not yet
  EXPECT_EQ(core_->ExpireLeases(absl::Now() + absl::Hours(2)), 2);
  EXPECT_EQ(core_->stats().open_leases, 0);
  EXPECT_EQ(core_->stats().leases_expired, 2);
  const memory::KvHistoryStats st = core_->history()->stats();
  EXPECT_EQ(st.pinned_blocks, 0);
  EXPECT_EQ(st.reserved_blocks, 0);
  EXPECT_EQ(*core_->LookupHistory(Shape(), std::vector<BlockHash>{1, 2}), 2);
  EXPECT_EQ(*core_->LookupHistory(Shape(), std::vector<BlockHash>{8}), 0);
  EXPECT_TRUE(absl::IsNotFound(core_->CloseLease(write->id, true).status()));
}

TEST_F(MemoryCoreTest, RejectsBadInputWithoutLosingBlocks) {
  StoreChain(2);
  KvBlockShape other = Shape();
  other.head_dim = 16;
  EXPECT_TRUE(absl::IsFailedPrecondition(
      core_->LookupHistory(other, std::vector<BlockHash>{1}).status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(
      core_->OpenWrite(other, std::vector<HistoryBlockRef>{{3, 2}}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(core_->CloseLease("", true).status()));
  EXPECT_TRUE(absl::IsNotFound(core_->CloseLease("no-such-lease", true).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      core_->OpenRead(Shape(), std::vector<BlockHash>{1}, -1).status()));
  // Lease limit: a peer cannot pin the pool with leases it never closes.
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto l = core_->OpenRead(Shape(), std::vector<BlockHash>{1}, 0);
    ASSERT_TRUE(l.ok());
    ids.push_back(l->id);
  }
  EXPECT_TRUE(absl::IsResourceExhausted(
      core_->OpenRead(Shape(), std::vector<BlockHash>{1}, 0).status()));
  for (const auto& id : ids) EXPECT_TRUE(core_->CloseLease(id, false).ok());
  EXPECT_EQ(*core_->LookupHistory(Shape(), std::vector<BlockHash>{1, 2}), 2);
}

TEST_F(MemoryCoreTest, WritesStopWhenEveryRamSlotIsPinned) {
  StoreChain(4);  // fills the 4-slot RAM pool (no disk tier)
  auto read = core_->OpenRead(Shape(), std::vector<BlockHash>{1, 2, 3, 4}, 0);
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->offsets.size(), 4u);
  auto write = core_->OpenWrite(Shape(), std::vector<HistoryBlockRef>{{10, 4}});
  ASSERT_TRUE(write.ok());
  EXPECT_TRUE(write->slots.empty());  // nothing evictable: stored nothing
  EXPECT_TRUE(core_->CloseLease(read->id, false).ok());
  // With the pins gone, LRU eviction makes room.
  auto write2 = core_->OpenWrite(Shape(), std::vector<HistoryBlockRef>{{10, 4}});
  ASSERT_TRUE(write2.ok());
  EXPECT_EQ(write2->slots.size(), 1u);
  EXPECT_TRUE(core_->CloseLease(write2->id, false).ok());
}

}  // namespace
}  // namespace triptych::memory_service
