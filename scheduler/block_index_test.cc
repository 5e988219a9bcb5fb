#include "scheduler/block_index.h"

#include <vector>

#include "gtest/gtest.h"
#include "runtime/kv/kv_cache.h"

namespace triptych::scheduler {
namespace {

std::vector<KvEvent> Stored(const std::vector<BlockHash>& hashes) {
  std::vector<KvEvent> out;
  for (BlockHash h : hashes) out.push_back({KvEvent::Kind::kStored, h});
  return out;
}

TEST(PromptBlockHashes, MatchesKvCacheChainHashOverFullBlocks) {
  const std::vector<int32_t> tokens = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  const std::vector<BlockHash> hashes = PromptBlockHashes(tokens, 4);
  ASSERT_EQ(hashes.size(), 2u);  // the partial block [9, 10] has no hash
  const absl::Span<const int32_t> t(tokens);
  const BlockHash h0 = kv::KvCache::ChainHash(0, t.subspan(0, 4));
  EXPECT_EQ(hashes[0], h0);
  EXPECT_EQ(hashes[1], kv::KvCache::ChainHash(h0, t.subspan(4, 4)));
  EXPECT_TRUE(PromptBlockHashes(tokens, 0).empty());
  EXPECT_TRUE(PromptBlockHashes({}, 4).empty());
}

TEST(PromptBlockHashes, CoversTheWholePrefix) {
  // Same second block, different first block: different second hash.
  const auto a = PromptBlockHashes(std::vector<int32_t>{1, 2, 3, 4}, 2);
  const auto b = PromptBlockHashes(std::vector<int32_t>{9, 9, 3, 4}, 2);
  EXPECT_NE(a[1], b[1]);
}

TEST(GlobalBlockIndex, MatchPrefixCountsLeadingHeldBlocks) {
  GlobalBlockIndex index;
  index.Apply("a", Stored({1, 2, 3}));
  index.Apply("b", Stored({1, 3}));
  const std::vector<BlockHash> prompt = {1, 2, 3, 4};
  EXPECT_EQ(index.MatchPrefix("a", prompt), 3);
  EXPECT_EQ(index.MatchPrefix("b", prompt), 1);  // stops at the missing 2
  EXPECT_EQ(index.MatchPrefix("c", prompt), 0);
  EXPECT_EQ(index.NumHashes(), 3);
}

TEST(GlobalBlockIndex, EvictionsRemoveBlocks) {
  GlobalBlockIndex index;
  index.Apply("a", Stored({1, 2, 3}));
  index.Apply("a", std::vector<KvEvent>{{KvEvent::Kind::kEvicted, 2},
                                        {KvEvent::Kind::kEvicted, 99}});
  const std::vector<BlockHash> prompt = {1, 2, 3};
  EXPECT_EQ(index.MatchPrefix("a", prompt), 1);
  EXPECT_EQ(index.NumBlocks("a"), 2);
  // Stored again after eviction.
  index.Apply("a", Stored({2}));
  EXPECT_EQ(index.MatchPrefix("a", prompt), 3);
}

TEST(GlobalBlockIndex, RemoveNodeKeepsOtherHolders) {
  GlobalBlockIndex index;
  index.Apply("a", Stored({1, 2}));
  index.Apply("b", Stored({1}));
  index.RemoveNode("a");
  EXPECT_EQ(index.NumBlocks("a"), 0);
  EXPECT_EQ(index.MatchPrefix("b", std::vector<BlockHash>{1, 2}), 1);
  EXPECT_EQ(index.NumHashes(), 1);
  index.RemoveNode("never-seen");
}

TEST(GlobalBlockIndex, BoundsBlocksPerNode) {
  GlobalBlockIndex index(/*max_blocks_per_node=*/2);
  index.Apply("a", Stored({1, 2, 3, 4}));
  EXPECT_EQ(index.NumBlocks("a"), 2);
  EXPECT_EQ(index.NumHashes(), 2);
}

}  // namespace
}  // namespace triptych::scheduler
