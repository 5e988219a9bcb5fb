#include "runtime/kv/kv_cache.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace triptych::kv {
namespace {

using ::testing::ElementsAre;

KvCacheOptions SmallOptions(int64_t num_blocks, int block_size = 16) {
  KvCacheOptions o;
  o.num_layers = 2;
  o.num_kv_heads = 2;
  o.head_dim = 4;
  o.block_size = block_size;
  o.num_blocks = num_blocks;
  return o;
}

std::unique_ptr<KvCache> MakeCache(const KvCacheOptions& o) {
  absl::StatusOr<std::unique_ptr<KvCache>> cache = KvCache::Create(o);
  EXPECT_TRUE(cache.ok()) << cache.status();
  return cache.ok() ? std::move(*cache) : nullptr;
}

std::vector<int32_t> Iota(int n, int32_t start) {
  std::vector<int32_t> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

TEST(KvCache, CreateRejectsBadGeometry) {
  KvCacheOptions o = SmallOptions(4);
  o.head_dim = 0;
  EXPECT_EQ(KvCache::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = SmallOptions(0);
  EXPECT_EQ(KvCache::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = SmallOptions(int64_t{1} << 40);
  EXPECT_EQ(KvCache::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);  // exceeds BlockId
}

TEST(KvCache, AllocateUntilExhausted) {
  auto cache = MakeCache(SmallOptions(5));
  std::vector<BlockId> got;
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<BlockId> b = cache->Allocate();
    ASSERT_TRUE(b.ok()) << b.status();
    got.push_back(*b);
    EXPECT_EQ(cache->ref_count(*b), 1);
  }
  std::sort(got.begin(), got.end());
  EXPECT_THAT(got, ElementsAre(0, 1, 2, 3, 4));
  EXPECT_EQ(cache->NumAvailableBlocks(), 0);
  EXPECT_EQ(cache->Allocate().status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(cache->AllocateBlocks(1).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(cache->stats().used_blocks, 5);
}

TEST(KvCache, RefCountingAndRelease) {
  auto cache = MakeCache(SmallOptions(2));
  BlockId a = *cache->Allocate();
  cache->AddRef(a);
  EXPECT_EQ(cache->ref_count(a), 2);
  cache->Release(a);
  EXPECT_EQ(cache->ref_count(a), 1);
  EXPECT_EQ(cache->NumAvailableBlocks(), 1);
  cache->Release(a);
  EXPECT_EQ(cache->ref_count(a), 0);
  EXPECT_EQ(cache->NumAvailableBlocks(), 2);
  EXPECT_EQ(cache->stats().used_blocks, 0);
  EXPECT_EQ(cache->stats().cached_free_blocks, 0);
  // The released block is reusable: both can be taken again.
  EXPECT_TRUE(cache->Allocate().ok());
  EXPECT_TRUE(cache->Allocate().ok());
  EXPECT_FALSE(cache->Allocate().ok());
}

TEST(KvCacheDeathTest, DoubleReleaseAborts) {
  auto cache = MakeCache(SmallOptions(2));
  BlockId a = *cache->Allocate();
  cache->Release(a);
  EXPECT_DEATH(cache->Release(a), "KV_CHECK");
}

TEST(KvCache, AllocateBlocksIsAllOrNothing) {
  auto cache = MakeCache(SmallOptions(4));
  BlockId cached = *cache->Allocate();
  cache->RegisterFull(cached, 42);
  cache->Release(cached);  // now cached and evictable
  BlockId held = *cache->Allocate();
  (void)held;
  EXPECT_EQ(cache->NumAvailableBlocks(), 3);
  EXPECT_EQ(cache->AllocateBlocks(4).status().code(),
            absl::StatusCode::kResourceExhausted);
  // Nothing was taken and the cached block was not evicted.
  EXPECT_EQ(cache->NumAvailableBlocks(), 3);
  EXPECT_EQ(cache->stats().evictions, 0);
  absl::StatusOr<std::vector<BlockId>> three = cache->AllocateBlocks(3);
  ASSERT_TRUE(three.ok());
  EXPECT_EQ(three->size(), 3u);
  EXPECT_EQ(cache->stats().evictions, 1);
}

TEST(KvCache, LayoutOffsetsExact) {
  KvCacheOptions o;
  o.num_layers = 3;
  o.num_kv_heads = 2;
  o.head_dim = 4;
  o.block_size = 16;
  o.num_blocks = 4;
  auto cache = MakeCache(o);
  EXPECT_EQ(cache->element_bytes(), 2);
  EXPECT_EQ(cache->token_bytes(), 2 * 4 * 2);
  EXPECT_EQ(cache->layer_stride_bytes(), 2 * 16 * 16);
  EXPECT_EQ(cache->block_bytes(), 3 * 512);
  const uint8_t* base = cache->BlockData(0);
  auto off = [&](const void* p) {
    return static_cast<const uint8_t*>(p) - base;
  };
  EXPECT_EQ(cache->BlockData(2) - base, 2 * 1536);
  EXPECT_EQ(off(cache->KeyPtr(0, 0, 0)), 0);
  EXPECT_EQ(off(cache->ValuePtr(0, 0, 0)), 256);
  EXPECT_EQ(off(cache->KeyPtr(0, 0, 1)), 16);
  EXPECT_EQ(off(cache->KeyPtr(0, 1, 0)), 512);
  EXPECT_EQ(off(cache->KeyPtr(2, 1, 5)), 2 * 1536 + 512 + 5 * 16);
  EXPECT_EQ(off(cache->ValuePtr(2, 1, 5)), 2 * 1536 + 512 + 256 + 5 * 16);
  EXPECT_EQ(off(cache->ValuePtr(3, 2, 15)), 3 * 1536 + 2 * 512 + 256 + 15 * 16);

  o.dtype = KvDtype::kF32;
  auto f32 = MakeCache(o);
  EXPECT_EQ(f32->element_bytes(), 4);
  EXPECT_EQ(f32->token_bytes(), 32);
  EXPECT_EQ(f32->block_bytes(), 3 * 2 * 16 * 32);
  const uint8_t* b32 = f32->BlockData(0);
  EXPECT_EQ(static_cast<const uint8_t*>(f32->ValuePtr(1, 2, 3)) - b32,
            1 * 3072 + 2 * 1024 + 512 + 3 * 32);
}

TEST(KvCache, ChainHashDependsOnWholePrefix) {
  const std::vector<int32_t> a = Iota(16, 0);
  const std::vector<int32_t> b = Iota(16, 100);
  const std::vector<int32_t> c = Iota(16, 1000);
  const BlockHash ha = KvCache::ChainHash(0, a);
  const BlockHash hb = KvCache::ChainHash(0, b);
  EXPECT_NE(ha, hb);
  EXPECT_NE(KvCache::ChainHash(ha, c), KvCache::ChainHash(hb, c));
  EXPECT_EQ(KvCache::ChainHash(ha, c), KvCache::ChainHash(ha, c));
  // Token order matters.
  std::vector<int32_t> a_swapped = a;
  std::swap(a_swapped[0], a_swapped[1]);
  EXPECT_NE(KvCache::ChainHash(0, a_swapped), ha);
}

TEST(KvCache, ChainHashesChainBlockByBlock) {
  std::vector<int32_t> tokens = Iota(40, 3);
  const std::vector<BlockHash> h = KvCache::ChainHashes(tokens, 16, 2);
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0], KvCache::ChainHash(0, absl::MakeConstSpan(tokens).subspan(0, 16)));
  EXPECT_EQ(h[1], KvCache::ChainHash(h[0], absl::MakeConstSpan(tokens).subspan(16, 16)));
  EXPECT_TRUE(KvCache::ChainHashes(tokens, 16, 0).empty());
}

TEST(KvCache, ChainHashMatchesDocumentedDefinition) {
  // Sanity: the linked xxhash is XXH3-64 (published empty-input value).
  EXPECT_EQ(XXH3_64bits(nullptr, 0), 0x2D06800538D394C2ull);
  // Golden values from docs/KV_LAYOUT.md; other nodes compare these, so a
  // change here is a wire-format break.
  EXPECT_EQ(KvCache::ChainHash(0, {}), 0xC77B3ABB6F87ACD9ull)
      << std::hex << KvCache::ChainHash(0, {});
  const BlockHash h1 = KvCache::ChainHash(0, Iota(16, 0));
  EXPECT_EQ(h1, 0x24BECC5361303C06ull) << std::hex << h1;
  const BlockHash h2 = KvCache::ChainHash(h1, Iota(16, 16));
  EXPECT_EQ(h2, 0xA075F13EA868EEBBull) << std::hex << h2;
  // Byte-level definition: u64 LE parent then i32 LE tokens, XXH3-64 seed 0.
  const uint8_t bytes[] = {0x01, 0,    0,    0,    0, 0, 0, 0,  // parent = 1
                           0xFF, 0xFF, 0xFF, 0xFF,              // token -1
                           0x02, 0x01, 0,    0};                // token 258
  EXPECT_EQ(KvCache::ChainHash(1, {-1, 258}),
            XXH3_64bits(bytes, sizeof(bytes)));
}

TEST(KvCache, LookupAndRegister) {
  auto cache = MakeCache(SmallOptions(4));
  EXPECT_FALSE(cache->LookupAndRef(7).has_value());
  BlockId a = *cache->Allocate();
  cache->RegisterFull(a, 7);
  BlockId b = *cache->Allocate();
  cache->RegisterFull(b, 7);  // duplicate hash: no-op
  EXPECT_THAT(cache->DrainEvents(),
              ElementsAre(BlockEvent{BlockEvent::Kind::kStored, 7}));
  EXPECT_TRUE(cache->DrainEvents().empty());
  // In-use hit increments the ref count.
  EXPECT_EQ(cache->LookupAndRef(7), a);
  EXPECT_EQ(cache->ref_count(a), 2);
  cache->Release(a);
  cache->Release(a);
  EXPECT_EQ(cache->stats().cached_free_blocks, 1);
  // Cached-unreferenced hit leaves the LRU with ref 1.
  EXPECT_EQ(cache->LookupAndRef(7), a);
  EXPECT_EQ(cache->ref_count(a), 1);
  EXPECT_EQ(cache->stats().cached_free_blocks, 0);
  // b was never registered: releasing it frees it.
  cache->Release(b);
  EXPECT_EQ(cache->stats().cached_free_blocks, 0);
  KvCacheStats s = cache->stats();
  EXPECT_EQ(s.prefix_hit_blocks, 2);
  EXPECT_EQ(s.prefix_miss_blocks, 1);
  EXPECT_EQ(s.used_blocks, 1);
}

TEST(KvCache, LruEvictionOrderAndEvents) {
  auto cache = MakeCache(SmallOptions(4));
  std::vector<BlockId> blocks;
  for (int i = 0; i < 4; ++i) {
    blocks.push_back(*cache->Allocate());
    cache->RegisterFull(blocks[i], 100 + i);
  }
  cache->DrainEvents();
  // Release order 2, 0, 3, 1 -> eviction order 2, 0, 3, 1.
  for (int i : {2, 0, 3, 1}) cache->Release(blocks[i]);
  EXPECT_EQ(cache->stats().cached_free_blocks, 4);
  EXPECT_EQ(cache->NumAvailableBlocks(), 4);
  // A hit on 3 removes it from the LRU; release makes it most recent.
  ASSERT_EQ(cache->LookupAndRef(103), blocks[3]);
  cache->Release(blocks[3]);  // order now 2, 0, 1, 3

  EXPECT_EQ(*cache->Allocate(), blocks[2]);
  EXPECT_EQ(*cache->Allocate(), blocks[0]);
  EXPECT_EQ(*cache->Allocate(), blocks[1]);
  EXPECT_THAT(cache->DrainEvents(),
              ElementsAre(BlockEvent{BlockEvent::Kind::kEvicted, 102},
                          BlockEvent{BlockEvent::Kind::kEvicted, 100},
                          BlockEvent{BlockEvent::Kind::kEvicted, 101}));
  EXPECT_EQ(cache->stats().evictions, 3);
  EXPECT_FALSE(cache->LookupAndRef(102).has_value());
  EXPECT_EQ(cache->LookupAndRef(103), blocks[3]);
  EXPECT_EQ(cache->Allocate().status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(KvCache, FreeBlocksPreferredOverEviction) {
  auto cache = MakeCache(SmallOptions(3));
  BlockId a = *cache->Allocate();
  cache->RegisterFull(a, 1);
  cache->Release(a);
  BlockId b = *cache->Allocate();
  BlockId c = *cache->Allocate();
  EXPECT_NE(b, a);
  EXPECT_NE(c, a);
  EXPECT_EQ(cache->stats().evictions, 0);
  EXPECT_EQ(cache->LookupAndRef(1), a);
}

TEST(KvCache, ExportImportRoundTrip) {
  auto cache = MakeCache(SmallOptions(8));
  const int64_t bb = cache->block_bytes();
  std::vector<BlockId> src = {*cache->Allocate(), *cache->Allocate(),
                              *cache->Allocate()};
  std::mt19937 rng(1);
  for (BlockId b : src) {
    for (int64_t i = 0; i < bb; ++i) {
      cache->BlockData(b)[i] = static_cast<uint8_t>(rng());
    }
  }
  std::vector<uint8_t> wire(src.size() * bb);
  ASSERT_TRUE(cache->ExportBlocks(src, absl::MakeSpan(wire)).ok());

  // A second cache (another node) with other block ids.
  auto other = MakeCache(SmallOptions(8));
  for (int i = 0; i < 4; ++i) (void)*other->Allocate();  // shift ids
  std::vector<BlockId> dst = {*other->Allocate(), *other->Allocate(),
                              *other->Allocate()};
  std::reverse(dst.begin(), dst.end());
  ASSERT_NE(dst, src);
  ASSERT_TRUE(other->ImportBlocks(dst, wire).ok());
  for (size_t i = 0; i < src.size(); ++i) {
    EXPECT_EQ(
        std::memcmp(cache->BlockData(src[i]), other->BlockData(dst[i]), bb), 0)
        << "block " << i;
  }
  std::vector<uint8_t> again(wire.size());
  ASSERT_TRUE(other->ExportBlocks(dst, absl::MakeSpan(again)).ok());
  EXPECT_EQ(again, wire);
}

TEST(KvCache, ExportImportErrors) {
  auto cache = MakeCache(SmallOptions(4));
  const int64_t bb = cache->block_bytes();
  BlockId a = *cache->Allocate();
  std::vector<uint8_t> buf(bb);
  EXPECT_EQ(cache->ExportBlocks({a}, absl::MakeSpan(buf.data(), bb - 1)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache->ExportBlocks({99}, absl::MakeSpan(buf)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache->ExportBlocks({-1}, absl::MakeSpan(buf)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache->ImportBlocks({a, a}, buf).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache->ImportBlocks({3}, buf).code(),  // free block
            absl::StatusCode::kFailedPrecondition);
  cache->RegisterFull(a, 5);
  EXPECT_EQ(cache->ImportBlocks({a}, buf).code(),  // shared, immutable
            absl::StatusCode::kFailedPrecondition);
}

TEST(KvCache, ConcurrentAllocateReleaseLosesNothing) {
  constexpr int64_t kCapacity = 64;
  auto cache = MakeCache(SmallOptions(kCapacity, /*block_size=*/4));
  constexpr int kThreads = 6;
  constexpr int kIters = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&cache, t] {
      std::mt19937 rng(t);
      std::vector<BlockId> held;
      for (int i = 0; i < kIters; ++i) {
        switch (rng() % 4) {
          case 0: {
            absl::StatusOr<BlockId> b = cache->Allocate();
            if (b.ok()) held.push_back(*b);
            break;
          }
          case 1:
            if (!held.empty()) {
              cache->Release(held.back());
              held.pop_back();
            }
            break;
          case 2: {
            // Shared prefixes across threads: hashes from a small space.
            const BlockHash h = rng() % 16;
            std::optional<BlockId> b = cache->LookupAndRef(h);
            if (b.has_value()) {
              held.push_back(*b);
            } else {
              absl::StatusOr<BlockId> fresh = cache->Allocate();
              if (fresh.ok()) {
                cache->RegisterFull(*fresh, h);
                held.push_back(*fresh);
              }
            }
            break;
          }
          case 3: {
            SequenceKv seq(cache.get());
            const std::vector<int32_t> toks =
                Iota(9, static_cast<int32_t>(rng() % 3));
            seq.AttachCachedPrefix(toks);
            if (seq.Reserve(toks.size()).ok()) seq.Commit(toks, toks.size());
            break;
          }
        }
      }
      for (BlockId b : held) cache->Release(b);
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(cache->NumAvailableBlocks(), kCapacity);
  KvCacheStats s = cache->stats();
  EXPECT_EQ(s.used_blocks, 0);
  for (BlockId b = 0; b < kCapacity; ++b) EXPECT_EQ(cache->ref_count(b), 0);
  // Every block can be handed out exactly once more.
  absl::StatusOr<std::vector<BlockId>> all = cache->AllocateBlocks(kCapacity);
  ASSERT_TRUE(all.ok()) << all.status();
  std::sort(all->begin(), all->end());
  EXPECT_EQ(std::unique(all->begin(), all->end()), all->end());
}

TEST(KvCache, ConcurrentSharedBlockRefCounts) {
  auto cache = MakeCache(SmallOptions(4));
  BlockId shared = *cache->Allocate();
  cache->RegisterFull(shared, 77);
  cache->Release(shared);  // cached, ref 0
  constexpr int kThreads = 4;
  constexpr int kIters = 50000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&cache, shared] {
      for (int i = 0; i < kIters; ++i) {
        std::optional<BlockId> b = cache->LookupAndRef(77);
        ASSERT_EQ(b, shared);
        if (i % 2 == 0) {
          cache->AddRef(*b);
          cache->Release(*b);
        }
        cache->Release(*b);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(cache->ref_count(shared), 0);
  KvCacheStats s = cache->stats();
  EXPECT_EQ(s.prefix_hit_blocks, int64_t{kThreads} * kIters);
  EXPECT_EQ(s.cached_free_blocks, 1);
  EXPECT_EQ(s.used_blocks, 0);
  EXPECT_EQ(cache->NumAvailableBlocks(), 4);
}

// ---------------------------------------------------------------------------
// SequenceKv

TEST(SequenceKv, SharedPrefixAttachesFullBlocks) {
  auto cache = MakeCache(SmallOptions(64));
  const std::vector<int32_t> prefix = Iota(200, 1);
  std::vector<int32_t> first = prefix;
  first.push_back(9001);
  std::vector<int32_t> second = prefix;
  for (int32_t t : {7, 8, 9}) second.push_back(t);

  SequenceKv a(cache.get());
  EXPECT_EQ(a.AttachCachedPrefix(first), 0);
  ASSERT_TRUE(a.Reserve(first.size()).ok());
  EXPECT_EQ(a.blocks().size(), 13u);  // ceil(201 / 16)
  a.Commit(first, first.size());
  EXPECT_EQ(a.num_tokens(), 201);
  EXPECT_EQ(a.block_hashes().size(), 12u);
  EXPECT_EQ(cache->DrainEvents().size(), 12u);  // 12 kStored

  SequenceKv b(cache.get());
  EXPECT_EQ(b.AttachCachedPrefix(second), 192);
  EXPECT_EQ(b.num_tokens(), 192);
  ASSERT_EQ(b.blocks().size(), 12u);
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(b.blocks()[i], a.blocks()[i]);
    EXPECT_EQ(cache->ref_count(b.blocks()[i]), 2);
  }
  EXPECT_EQ(b.block_hashes(), a.block_hashes());
  KvCacheStats s = cache->stats();
  EXPECT_EQ(s.prefix_hit_blocks, 12);
  EXPECT_EQ(s.prefix_miss_blocks, 1);  // a's first lookup

  // b extends privately; the attached blocks are not registered again.
  ASSERT_TRUE(b.Reserve(second.size()).ok());
  EXPECT_EQ(b.blocks().size(), 13u);
  EXPECT_NE(b.blocks()[12], a.blocks()[12]);
  b.Commit(second, second.size());
  EXPECT_TRUE(cache->DrainEvents().empty());
  EXPECT_EQ(b.BlockOf(195), b.blocks()[12]);
  EXPECT_EQ(b.SlotOf(195), 3);
}

// A fork shares the full blocks and copies the partial last one, so the two
// sequences write their next tokens into different blocks; with no block
// free for the copy it fails and takes nothing.
TEST(SequenceKv, ForkSharesFullBlocksAndCopiesThePartialOne) {
  auto cache = MakeCache(SmallOptions(4));
  const std::vector<int32_t> prompt = Iota(21, 1);  // 1 full block + 5 tokens
  SequenceKv parent(cache.get());
  ASSERT_TRUE(parent.Reserve(prompt.size()).ok());
  parent.Commit(prompt, prompt.size());
  uint8_t* tail = cache->BlockData(parent.blocks()[1]);
  for (int64_t i = 0; i < cache->block_bytes(); ++i) tail[i] = static_cast<uint8_t>(i * 7);

  SequenceKv child(cache.get());
  ASSERT_TRUE(child.ForkFrom(parent, 21).ok());
  EXPECT_EQ(child.num_tokens(), 21);
  ASSERT_EQ(child.blocks().size(), 2u);
  EXPECT_EQ(child.blocks()[0], parent.blocks()[0]);
  EXPECT_EQ(cache->ref_count(parent.blocks()[0]), 2);
  EXPECT_NE(child.blocks()[1], parent.blocks()[1]);
  EXPECT_EQ(cache->ref_count(child.blocks()[1]), 1);
  EXPECT_EQ(std::memcmp(cache->BlockData(child.blocks()[1]), tail, cache->block_bytes()), 0);
  EXPECT_EQ(child.block_hashes(), parent.block_hashes());

  SequenceKv second(cache.get());
  ASSERT_TRUE(second.ForkFrom(parent, 21).ok());  // the pool's last block
  SequenceKv third(cache.get());
  EXPECT_EQ(third.ForkFrom(parent, 21).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(third.blocks().empty());
  EXPECT_EQ(cache->ref_count(parent.blocks()[0]), 3);
  EXPECT_EQ(third.ForkFrom(parent, 22).code(), absl::StatusCode::kInvalidArgument);
  // A prompt of whole blocks forks without a copy.
  SequenceKv whole(cache.get());
  ASSERT_TRUE(whole.ForkFrom(parent, 16).ok());
  EXPECT_EQ(whole.blocks(), std::vector<BlockId>{parent.blocks()[0]});
  second.Clear();
  child.Clear();
  whole.Clear();
  EXPECT_EQ(cache->ref_count(parent.blocks()[0]), 1);
  parent.Clear();
  EXPECT_EQ(cache->NumAvailableBlocks(), 4);
}

TEST(SequenceKv, NeverAttachesWholePrompt) {
  auto cache = MakeCache(SmallOptions(16));
  const std::vector<int32_t> prompt = Iota(48, 5);  // exactly 3 blocks
  {
    SequenceKv a(cache.get());
    ASSERT_TRUE(a.Reserve(prompt.size()).ok());
    a.Commit(prompt, prompt.size());
    EXPECT_EQ(a.block_hashes().size(), 3u);
  }
  SequenceKv b(cache.get());
  // (48 - 1) / 16 = 2 blocks: the last block is recomputed.
  EXPECT_EQ(b.AttachCachedPrefix(prompt), 32);
  EXPECT_EQ(b.blocks().size(), 2u);
  // Short prompts attach nothing.
  SequenceKv c(cache.get());
  EXPECT_EQ(c.AttachCachedPrefix(Iota(16, 5)), 0);
  SequenceKv d(cache.get());
  EXPECT_EQ(d.AttachCachedPrefix({}), 0);
}

TEST(SequenceKv, AttachStopsAtFirstMiss) {
  auto cache = MakeCache(SmallOptions(16, /*block_size=*/4));
  std::vector<int32_t> p = Iota(13, 0);
  {
    SequenceKv a(cache.get());
    ASSERT_TRUE(a.Reserve(p.size()).ok());
    a.Commit(p, p.size());  // 3 full blocks cached
  }
  // Same second and third blocks after a different first block: no hit.
  std::vector<int32_t> q = p;
  q[0] = 999;
  SequenceKv b(cache.get());
  EXPECT_EQ(b.AttachCachedPrefix(q), 0);
  // Different second block: only the first attaches.
  std::vector<int32_t> r = p;
  r[5] = 999;
  SequenceKv c(cache.get());
  EXPECT_EQ(c.AttachCachedPrefix(r), 4);
}

TEST(SequenceKv, DisabledPrefixCacheNeverShares) {
  KvCacheOptions o = SmallOptions(16);
  o.enable_prefix_cache = false;
  auto cache = MakeCache(o);
  const std::vector<int32_t> p = Iota(40, 0);
  SequenceKv a(cache.get());
  ASSERT_TRUE(a.Reserve(p.size()).ok());
  a.Commit(p, p.size());
  SequenceKv b(cache.get());
  EXPECT_EQ(b.AttachCachedPrefix(p), 0);
  EXPECT_TRUE(cache->DrainEvents().empty());
  a.Clear();
  EXPECT_EQ(cache->stats().cached_free_blocks, 0);
  EXPECT_EQ(cache->NumAvailableBlocks(), 16);
}

TEST(SequenceKv, ReserveFailureKeepsWhatItHad) {
  auto cache = MakeCache(SmallOptions(4));
  SequenceKv a(cache.get());
  ASSERT_TRUE(a.Reserve(20).ok());  // 2 blocks
  EXPECT_EQ(a.blocks().size(), 2u);
  ASSERT_TRUE(a.Reserve(32).ok());  // still 2
  EXPECT_EQ(a.blocks().size(), 2u);
  const std::vector<BlockId> before = a.blocks();
  EXPECT_EQ(a.Reserve(16 * 5).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(a.blocks(), before);
  EXPECT_EQ(cache->NumAvailableBlocks(), 2);
  EXPECT_EQ(a.Reserve(-1).code(), absl::StatusCode::kInvalidArgument);
}

TEST(SequenceKv, DestructorFreesEverything) {
  auto cache = MakeCache(SmallOptions(32));
  const std::vector<int32_t> p = Iota(100, 0);
  {
    SequenceKv a(cache.get());
    ASSERT_TRUE(a.Reserve(p.size()).ok());
    a.Commit(p, p.size());
    SequenceKv b(cache.get());
    EXPECT_EQ(b.AttachCachedPrefix(p), 96);
    ASSERT_TRUE(b.Reserve(p.size() + 50).ok());
    EXPECT_EQ(cache->stats().used_blocks, 7 + 4);
  }
  EXPECT_EQ(cache->stats().used_blocks, 0);
  EXPECT_EQ(cache->NumAvailableBlocks(), 32);
  EXPECT_EQ(cache->stats().cached_free_blocks, 6);  // the 6 full blocks
}

TEST(SequenceKv, ClearEvictsPrefixTailFirst) {
  auto cache = MakeCache(SmallOptions(3, /*block_size=*/4));
  const std::vector<int32_t> p = Iota(12, 0);
  std::vector<BlockId> blocks;
  {
    SequenceKv a(cache.get());
    ASSERT_TRUE(a.Reserve(p.size()).ok());
    a.Commit(p, p.size());
    blocks = a.blocks();
  }
  cache->DrainEvents();
  // Tail first, so the head of the prefix stays attachable longest.
  EXPECT_EQ(*cache->Allocate(), blocks[2]);
  SequenceKv b(cache.get());
  EXPECT_EQ(b.AttachCachedPrefix(p), 8);
}

TEST(SequenceKv, CommitRollbackWithinPartialBlock) {
  auto cache = MakeCache(SmallOptions(4, /*block_size=*/4));
  const std::vector<int32_t> p = Iota(7, 0);
  SequenceKv a(cache.get());
  ASSERT_TRUE(a.Reserve(8).ok());
  a.Commit(p, 7);
  EXPECT_EQ(a.block_hashes().size(), 1u);
  a.Commit(p, 5);  // drop draft tokens inside the partial block
  EXPECT_EQ(a.num_tokens(), 5);
  EXPECT_DEATH(a.Commit(p, 3), "KV_CHECK");  // would un-commit a full block
}

// Key summaries: the per-channel min / max of each layer's keys, ready after
// SummarizeKeys and invalidated when the block is handed out again or
// imported into.
TEST(KvCache, KeySummariesTrackBlockContents) {
  KvCacheOptions o = SmallOptions(2, /*block_size=*/4);
  o.dtype = KvDtype::kF32;
  o.key_summaries = true;
  auto cache = MakeCache(o);
  BlockId b = *cache->Allocate();
  EXPECT_FALSE(cache->KeySummaryReady(b));
  for (int layer = 0; layer < 2; ++layer) {
    for (int slot = 0; slot < 4; ++slot) {
      auto* k = static_cast<float*>(cache->KeyPtr(b, layer, slot));
      auto* v = static_cast<float*>(cache->ValuePtr(b, layer, slot));
      for (int i = 0; i < 8; ++i) {
        k[i] = static_cast<float>((slot * 7 + i * 3 + layer) % 11) - 5.0f;
        v[i] = 100.0f;  // values never enter the summary
      }
    }
  }
  cache->SummarizeKeys(b);
  ASSERT_TRUE(cache->KeySummaryReady(b));
  for (int layer = 0; layer < 2; ++layer) {
    for (int i = 0; i < 8; ++i) {
      float mn = 1e9f, mx = -1e9f;
      for (int slot = 0; slot < 4; ++slot) {
        const float x = static_cast<const float*>(cache->KeyPtr(b, layer, slot))[i];
        mn = std::min(mn, x);
        mx = std::max(mx, x);
      }
      EXPECT_EQ(cache->KeyMins(b, layer)[i], mn) << layer << " " << i;
      EXPECT_EQ(cache->KeyMaxs(b, layer)[i], mx) << layer << " " << i;
    }
  }
  std::vector<uint8_t> bytes(cache->block_bytes());
  ASSERT_TRUE(cache->ImportBlocks({b}, bytes).ok());
  EXPECT_FALSE(cache->KeySummaryReady(b));
  cache->SummarizeKeys(b);
  EXPECT_EQ(cache->KeyMaxs(b, 1)[0], 0.0f);
  cache->Release(b);
  b = *cache->Allocate();  // free list: the same block comes back
  EXPECT_FALSE(cache->KeySummaryReady(b));
}

}  // namespace
}  // namespace triptych::kv
