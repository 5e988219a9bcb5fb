#include "memory/kv_history_store.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/memory/quest.h"

namespace triptych::memory {
namespace {

using ::testing::ElementsAre;

KvBlockShape SmallShape() {
  KvBlockShape g;
  g.num_layers = 2;
  g.num_kv_heads = 2;
  g.head_dim = 8;
  g.block_tokens = 4;
  g.dtype = kernels::memory::KeyDtype::kF32;
  return g;
}

std::vector<uint8_t> RandomBlock(const KvBlockShape& g, uint32_t seed) {
  std::mt19937 rng(seed);
  const int64_t bytes = kernels::memory::KvBlockBytes(g);
  std::vector<uint8_t> out(bytes);
  if (g.dtype == kernels::memory::KeyDtype::kF32) {
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (int64_t i = 0; i + 4 <= bytes; i += 4) {
      const float f = u(rng);
      std::memcpy(out.data() + i, &f, 4);
    }
  } else {
    // Finite halves: random sign and mantissa, exponent 1..29.
    for (int64_t i = 0; i + 2 <= bytes; i += 2) {
      const uint16_t h = static_cast<uint16_t>(
          ((rng() & 1u) << 15) | ((1 + rng() % 29) << 10) | (rng() & 0x3FFu));
      std::memcpy(out.data() + i, &h, 2);
    }
  }
  return out;
}

// A fresh directory under /tmp, removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/kv_history_test_XXXXXX";
    char* p = ::mkdtemp(tmpl.data());
    EXPECT_NE(p, nullptr);
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::unique_ptr<KvHistoryStore> MakeStore(int64_t ram, const std::string& dir,
                                          int64_t disk,
                                          KvBlockShape g = SmallShape()) {
  KvHistoryStoreOptions o;
  o.geometry = g;
  o.ram_capacity_blocks = ram;
  o.disk_dir = dir;
  o.disk_capacity_blocks = disk;
  auto s = KvHistoryStore::Create(o);
  EXPECT_TRUE(s.ok()) << s.status();
  return *std::move(s);
}

// Chain hashes 1..n (any distinct values serve: the store treats them as
// opaque keys; the parent of block i is block i-1).
BlockHash H(int i) { return 1000 + i; }

TEST(KvHistoryStore, RejectsBadOptions) {
  KvHistoryStoreOptions o;
  o.geometry = SmallShape();
  o.ram_capacity_blocks = 0;
  EXPECT_EQ(KvHistoryStore::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.ram_capacity_blocks = 4;
  o.disk_dir = "/tmp";
  o.disk_capacity_blocks = 0;
  EXPECT_EQ(KvHistoryStore::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.disk_dir = "/nonexistent/dir/for/kv";
  o.disk_capacity_blocks = 4;
  EXPECT_FALSE(KvHistoryStore::Create(o).ok());
}

TEST(KvHistoryStore, PutLookupGetRoundTrip) {
  auto store = MakeStore(8, "", 0);
  EXPECT_EQ(store->block_bytes(), 1024);
  const auto a = RandomBlock(SmallShape(), 1);
  ASSERT_TRUE(store->Put(H(0), 0, a).ok());
  auto got = store->Get(H(0));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, a);
  EXPECT_EQ(store->Get(H(1)).status().code(), absl::StatusCode::kNotFound);
  // Wrong size.
  std::vector<uint8_t> small(10);
  EXPECT_EQ(store->Put(H(1), H(0), small).code(),
            absl::StatusCode::kInvalidArgument);
  // Idempotent: a second Put of the hash keeps the first bytes.
  const auto b = RandomBlock(SmallShape(), 2);
  ASSERT_TRUE(store->Put(H(0), 0, b).ok());
  EXPECT_EQ(*store->Get(H(0)), a);
  EXPECT_EQ(store->stats().ram_blocks, 1);
  EXPECT_THAT(store->DrainEvents(),
              ElementsAre(HistoryEvent{HistoryEvent::Kind::kStored, H(0)}));
  EXPECT_TRUE(store->DrainEvents().empty());
}

TEST(KvHistoryStore, LongestPrefixLookup) {
  auto store = MakeStore(16, "", 0);
  for (int i : {0, 1, 2, 4}) {
    ASSERT_TRUE(
        store->Put(H(i), i ? H(i - 1) : 0, RandomBlock(SmallShape(), i)).ok());
  }
  const std::vector<BlockHash> chain{H(0), H(1), H(2), H(3), H(4)};
  EXPECT_EQ(store->Lookup(chain), 3);
  EXPECT_EQ(store->Lookup(absl::MakeConstSpan(chain).subspan(0, 2)), 2);
  EXPECT_EQ(store->Lookup(std::vector<BlockHash>{H(9), H(0)}), 0);
  EXPECT_EQ(store->Lookup({}), 0);
}

TEST(KvHistoryStore, SpillsToDiskAndReloadsByteIdentical) {
  TempDir dir;
  auto store = MakeStore(4, dir.path(), 64);
  std::vector<std::vector<uint8_t>> blocks;
  for (int i = 0; i < 20; ++i) {
    blocks.push_back(RandomBlock(SmallShape(), 100 + i));
    ASSERT_TRUE(store->Put(H(i), i ? H(i - 1) : 0, blocks.back()).ok());
  }
  KvHistoryStats st = store->stats();
  EXPECT_EQ(st.ram_blocks, 4);
  EXPECT_EQ(st.disk_blocks, 16);
  EXPECT_EQ(st.spills, 16);
  EXPECT_EQ(st.evictions, 0);
  std::vector<BlockHash> chain;
  for (int i = 0; i < 20; ++i) chain.push_back(H(i));
  EXPECT_EQ(store->Lookup(chain), 20);
  for (int i = 0; i < 20; ++i) {
    auto got = store->Get(H(i));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, blocks[i]) << i;
  }
  st = store->stats();
  EXPECT_EQ(st.ram_blocks + st.disk_blocks, 20);
  EXPECT_GE(st.reloads, 16);
  EXPECT_EQ(st.evictions, 0);
  // Spills and reloads are not reported as events, only the 20 stores.
  EXPECT_EQ(store->DrainEvents().size(), 20u);
}

TEST(KvHistoryStore, DiskCapacityEvictsOldest) {
  TempDir dir;
  auto store = MakeStore(2, dir.path(), 3);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(store->Put(H(i), 0, RandomBlock(SmallShape(), i)).ok());
  }
  // RAM holds 8, 9; disk holds 5, 6, 7; 0..4 were dropped oldest first.
  const KvHistoryStats st = store->stats();
  EXPECT_EQ(st.ram_blocks, 2);
  EXPECT_EQ(st.disk_blocks, 3);
  EXPECT_EQ(st.evictions, 5);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(store->Contains(H(i))) << i;
  for (int i = 5; i < 10; ++i) EXPECT_TRUE(store->Contains(H(i))) << i;
  std::vector<BlockHash> evicted;
  for (const HistoryEvent& e : store->DrainEvents()) {
    if (e.kind == HistoryEvent::Kind::kEvicted) evicted.push_back(e.hash);
  }
  EXPECT_THAT(evicted, ElementsAre(H(0), H(1), H(2), H(3), H(4)));
  EXPECT_EQ(*store->Get(H(5)), RandomBlock(SmallShape(), 5));
}

TEST(KvHistoryStore, NoDiskTierDropsLru) {
  auto store = MakeStore(2, "", 0);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(store->Put(H(i), 0, RandomBlock(SmallShape(), i)).ok());
  }
  EXPECT_FALSE(store->Contains(H(0)));
  EXPECT_EQ(store->stats().evictions, 1);
}

TEST(KvHistoryStore, LookupRefreshesLru) {
  auto store = MakeStore(2, "", 0);
  ASSERT_TRUE(store->Put(H(0), 0, RandomBlock(SmallShape(), 0)).ok());
  ASSERT_TRUE(store->Put(H(1), 0, RandomBlock(SmallShape(), 1)).ok());
  EXPECT_EQ(store->Lookup(std::vector<BlockHash>{H(0)}), 1);
  ASSERT_TRUE(store->Put(H(2), 0, RandomBlock(SmallShape(), 2)).ok());
  EXPECT_TRUE(store->Contains(H(0)));
  EXPECT_FALSE(store->Contains(H(1)));
}

TEST(KvHistoryStore, PinnedBlocksNeverSpillOrMove) {
  TempDir dir;
  auto store = MakeStore(3, dir.path(), 100);
  const auto a = RandomBlock(SmallShape(), 7);
  ASSERT_TRUE(store->Put(H(0), 0, a).ok());
  auto ref = store->Pin(H(0));
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->bytes, store->block_bytes());
  const uint8_t* base = static_cast<const uint8_t*>(store->pool_base());
  for (int i = 1; i < 30; ++i) {
    ASSERT_TRUE(store->Put(H(i), 0, RandomBlock(SmallShape(), i)).ok());
    // Still in RAM at the same place, bytes intact.
    ASSERT_EQ(std::memcmp(base + ref->offset, a.data(), a.size()), 0) << i;
  }
  EXPECT_EQ(store->stats().pinned_blocks, 1);
  auto again = store->Pin(H(0));  // pins nest
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->offset, ref->offset);
  ASSERT_TRUE(store->Unpin(H(0)).ok());
  ASSERT_TRUE(store->Unpin(H(0)).ok());
  EXPECT_EQ(store->Unpin(H(0)).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->stats().pinned_blocks, 0);
  // Pinning a spilled block reloads it.
  auto p1 = store->Pin(H(1));
  ASSERT_TRUE(p1.ok()) << p1.status();
  EXPECT_EQ(std::memcmp(base + p1->offset, RandomBlock(SmallShape(), 1).data(),
                        store->block_bytes()),
            0);
}

TEST(KvHistoryStore, AllPinnedIsResourceExhausted) {
  TempDir dir;
  auto store = MakeStore(2, dir.path(), 10);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(store->Put(H(i), 0, RandomBlock(SmallShape(), i)).ok());
  }
  ASSERT_TRUE(store->Pin(H(1)).ok());
  ASSERT_TRUE(store->Pin(H(2)).ok());
  EXPECT_EQ(store->Put(H(5), 0, RandomBlock(SmallShape(), 5)).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(store->Pin(H(0)).status().code(),
            absl::StatusCode::kResourceExhausted);
  // Get still serves the disk block, straight from disk.
  auto got = store->Get(H(0));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, RandomBlock(SmallShape(), 0));
  EXPECT_EQ(store->stats().ram_blocks + store->stats().disk_blocks, 3);
}

TEST(KvHistoryStore, ReservePutCommitForOneSidedWrites) {
  auto store = MakeStore(4, "", 0);
  auto ref = store->ReservePut(H(0), 0);
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(store->ReservePut(H(0), 0).status().code(),
            absl::StatusCode::kAlreadyExists);
  // Invisible until committed.
  EXPECT_EQ(store->Lookup(std::vector<BlockHash>{H(0)}), 0);
  EXPECT_EQ(store->Get(H(0)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->Put(H(0), 0, RandomBlock(SmallShape(), 0)).code(),
            absl::StatusCode::kAlreadyExists);
  // The "remote" writes into the registered pool.
  const auto a = RandomBlock(SmallShape(), 42);
  std::memcpy(static_cast<uint8_t*>(store->pool_base()) + ref->offset, a.data(),
              a.size());
  ASSERT_TRUE(store->Commit(H(0)).ok());
  EXPECT_EQ(store->Commit(H(0)).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*store->Get(H(0)), a);
  EXPECT_EQ(store->Lookup(std::vector<BlockHash>{H(0)}), 1);
  std::vector<float> mins(32), maxs(32);
  kernels::memory::BlockKeySummary(SmallShape(), a.data(), 4, mins.data(),
                                   maxs.data());
  EXPECT_EQ(store->Summary(H(0))->mins, mins);
  // Abort frees the slot; a reserved slot is not Unpin-able.
  ASSERT_TRUE(store->ReservePut(H(1), H(0)).ok());
  EXPECT_EQ(store->Unpin(H(1)).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->Pin(H(1)).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store->AbortPut(H(1)).ok());
  EXPECT_FALSE(store->Contains(H(1)));
  const KvHistoryStats st = store->stats();
  EXPECT_EQ(st.reserved_blocks, 0);
  EXPECT_EQ(st.pinned_blocks, 0);
  EXPECT_EQ(st.ram_blocks, 1);
  EXPECT_THAT(store->DrainEvents(),
              ElementsAre(HistoryEvent{HistoryEvent::Kind::kStored, H(0)}));
}

TEST(KvHistoryStore, SummariesEqualBlockKeySummary) {
  for (const auto dtype :
       {kernels::memory::KeyDtype::kF32, kernels::memory::KeyDtype::kF16}) {
    TempDir dir;
    KvBlockShape g = SmallShape();
    g.dtype = dtype;
    auto store = MakeStore(2, dir.path(), 16, g);
    for (int i = 0; i < 6; ++i) {
      ASSERT_TRUE(store->Put(H(i), 0, RandomBlock(g, 300 + i)).ok());
    }
    for (int i = 0; i < 6; ++i) {  // 4 of them are on disk now
      const auto bytes = RandomBlock(g, 300 + i);
      std::vector<float> mins(32), maxs(32);
      kernels::memory::BlockKeySummary(g, bytes.data(), g.block_tokens,
                                       mins.data(), maxs.data(),
                                       kernels::memory::Isa::kScalar);
      auto s = store->Summary(H(i));
      ASSERT_TRUE(s.ok());
      EXPECT_EQ(s->mins, mins) << i;
      EXPECT_EQ(s->maxs, maxs) << i;
    }
  }
}

TEST(KvHistoryStore, CorruptedDiskTierIsDataLossAndLosesNothingElse) {
  TempDir dir;
  auto store = MakeStore(1, dir.path(), 8);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(store->Put(H(i), 0, RandomBlock(SmallShape(), i)).ok());
  }
  // Disk slot 0 holds block 0; flip a byte in it.
  {
    std::fstream f(dir.path() + "/kv_history.tier",
                   std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.good());
    f.seekg(17);
    const char old = static_cast<char>(f.get());
    f.seekp(17);
    f.put(static_cast<char>(~old));
  }
  auto got = store->Get(H(0));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(store->Contains(H(0)));
  EXPECT_EQ(*store->Get(H(1)), RandomBlock(SmallShape(), 1));
  EXPECT_EQ(*store->Get(H(2)), RandomBlock(SmallShape(), 2));
}

TEST(KvHistoryStore, ConcurrentPutGetLookup) {
  TempDir dir;
  auto store = MakeStore(8, dir.path(), 1000);
  constexpr int kThreads = 4, kPerThread = 60;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int id = t * kPerThread + i;
        const auto block = RandomBlock(SmallShape(), id);
        if (!store->Put(H(id), 0, block).ok()) ++failures;
        auto got = store->Get(H(id));
        if (!got.ok() || *got != block) ++failures;
        // Read another thread's earlier block when it exists.
        const int other = ((t + 1) % kThreads) * kPerThread + i / 2;
        auto o = store->Get(H(other));
        if (o.ok() && *o != RandomBlock(SmallShape(), other)) ++failures;
        store->Lookup(std::vector<BlockHash>{H(id), H(other)});
        auto pin = store->Pin(H(id));
        if (pin.ok() && !store->Unpin(H(id)).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  const KvHistoryStats st = store->stats();
  EXPECT_EQ(st.ram_blocks + st.disk_blocks, kThreads * kPerThread);
  EXPECT_EQ(st.pinned_blocks, 0);
  for (int id = 0; id < kThreads * kPerThread; ++id) {
    ASSERT_EQ(*store->Get(H(id)), RandomBlock(SmallShape(), id)) << id;
  }
}

// ---- SelectRelevant -------------------------------------------------------

// Brute-force block score: for every scored layer, KV head and query head of
// its group, the Quest bound from min/max taken directly over the keys.
std::vector<double> BruteScores(const KvBlockShape& g,
                                const std::vector<std::vector<uint8_t>>& blocks,
                                const RelevanceQuery& q) {
  const int group = q.num_heads / g.num_kv_heads;
  std::vector<double> out;
  for (const auto& blk : blocks) {
    const float* f = reinterpret_cast<const float*>(blk.data());
    double best = -1e300;
    for (int l = 0; l < g.num_layers; ++l) {
      for (int h = 0; h < g.num_kv_heads; ++h) {
        for (int qh = h * group; qh < (h + 1) * group; ++qh) {
          double s = 0;
          for (int c = 0; c < g.head_dim; ++c) {
            float mn = 1e30f, mx = -1e30f;
            for (int t = 0; t < g.block_tokens; ++t) {
              // [layer][K=0][slot][kv_head][dim]
              const float k = f[(((int64_t{l} * 2 + 0) * g.block_tokens + t) *
                                     g.num_kv_heads +
                                 h) *
                                    g.head_dim +
                                c];
              mn = std::min(mn, k);
              mx = std::max(mx, k);
            }
            const double qi =
                q.q[(int64_t{l} * q.num_heads + qh) * g.head_dim + c];
            s += std::max(qi * mn, qi * mx);
          }
          best = std::max(best, s);
        }
      }
    }
    out.push_back(best);
  }
  return out;
}

std::vector<int> BruteSelect(const std::vector<double>& scores, int tokens,
                             int64_t budget, int sink, int recent) {
  const int n = static_cast<int>(scores.size());
  std::vector<bool> keep(n, false);
  int64_t used = 0;
  for (int b = 0; b < n; ++b) {
    if (b < sink || b >= n - recent) {
      keep[b] = true;
      used += tokens;
    }
  }
  std::vector<int> order(n);
  for (int i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return scores[a] > scores[b]; });
  for (const int b : order) {
    if (keep[b]) continue;
    if (used + tokens <= budget) {
      keep[b] = true;
      used += tokens;
    }
  }
  std::vector<int> out;
  for (int b = 0; b < n; ++b) {
    if (keep[b]) out.push_back(b);
  }
  return out;
}

TEST(KvHistoryStore, SelectRelevantMatchesBruteForce) {
  const KvBlockShape g = SmallShape();
  TempDir dir;
  auto store = MakeStore(4, dir.path(), 64);  // most summaries' blocks spill
  constexpr int kBlocks = 24;
  std::vector<std::vector<uint8_t>> blocks;
  std::vector<BlockHash> chain;
  for (int i = 0; i < kBlocks; ++i) {
    blocks.push_back(RandomBlock(g, 900 + i));
    chain.push_back(H(i));
    ASSERT_TRUE(store->Put(H(i), i ? H(i - 1) : 0, blocks.back()).ok());
  }
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int trial = 0; trial < 20; ++trial) {
    RelevanceQuery q;
    q.num_heads = 4;  // GQA group of 2
    q.q.resize(int64_t{g.num_layers} * q.num_heads * g.head_dim);
    for (float& x : q.q) x = u(rng);
    const int64_t budget = 4 * (trial % 12);
    const int sink = trial % 3, recent = (trial / 3) % 3;
    auto got = store->SelectRelevant(chain, q, budget, sink, recent);
    ASSERT_TRUE(got.ok()) << got.status();
    const std::vector<int> want = BruteSelect(
        BruteScores(g, blocks, q), g.block_tokens, budget, sink, recent);
    std::vector<BlockHash> want_hashes;
    for (int b : want) want_hashes.push_back(chain[b]);
    EXPECT_EQ(*got, want_hashes) << "trial " << trial;
    // Sink and recent are kept; the budget holds beyond them.
    for (int b = 0; b < sink; ++b) {
      EXPECT_NE(std::find(got->begin(), got->end(), chain[b]), got->end());
    }
    for (int b = kBlocks - recent; b < kBlocks; ++b) {
      EXPECT_NE(std::find(got->begin(), got->end(), chain[b]), got->end());
    }
    EXPECT_LE(
        static_cast<int64_t>(got->size()) * g.block_tokens,
        std::max<int64_t>(budget, int64_t{sink + recent} * g.block_tokens));
    EXPECT_TRUE(std::is_sorted(got->begin(), got->end()));  // chain order
  }
  const KvHistoryStats st = store->stats();
  EXPECT_EQ(st.relevance_queries, 20);
  EXPECT_EQ(st.relevance_blocks_scored, 20 * kBlocks);
  EXPECT_EQ(st.relevance_summary_bytes,
            20 * kBlocks * g.num_layers * g.num_kv_heads * g.head_dim * 8);
  // Budget = whole context keeps everything.
  RelevanceQuery q;
  q.num_heads = 2;
  q.layers = {1};
  q.q.assign(2 * g.head_dim, 0.5f);
  auto all = store->SelectRelevant(chain, q, kBlocks * g.block_tokens, 1, 1);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, chain);
}

TEST(KvHistoryStore, SelectRelevantErrors) {
  auto store = MakeStore(4, "", 0);
  ASSERT_TRUE(store->Put(H(0), 0, RandomBlock(SmallShape(), 0)).ok());
  RelevanceQuery q;
  q.num_heads = 2;
  q.q.assign(2 * 2 * 8, 1.0f);
  const std::vector<BlockHash> chain{H(0), H(1)};
  EXPECT_EQ(store->SelectRelevant(chain, q, 8, 1, 1).status().code(),
            absl::StatusCode::kNotFound);
  RelevanceQuery bad = q;
  bad.q.pop_back();
  EXPECT_EQ(store->SelectRelevant({H(0)}, bad, 8, 1, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  bad = q;
  bad.num_heads = 3;
  EXPECT_EQ(store->SelectRelevant({H(0)}, bad, 8, 1, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  bad = q;
  bad.layers = {5};
  EXPECT_EQ(store->SelectRelevant({H(0)}, bad, 8, 1, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->SelectRelevant({H(0)}, q, -1, 1, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace triptych::memory
