#include "runtime/model/sparse_attention.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "gtest/gtest.h"
#include "kernels/cpu/fp16.h"
#include "kernels/memory/quest.h"
#include "runtime/gguf/gguf_reader.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/model/model.h"
#include "tools/gen_model/gen_model.h"

namespace triptych::model {
namespace {

TEST(ParseSparseAttention, FullSpec) {
  auto o = ParseSparseAttention("budget=1024,dense_layers=3,sink=2,recent=5");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->budget_tokens, 1024);
  EXPECT_EQ(o->dense_layers, 3);
  EXPECT_EQ(o->sink_blocks, 2);
  EXPECT_EQ(o->recent_blocks, 5);
  EXPECT_TRUE(o->enabled());
}

TEST(ParseSparseAttention, DefaultsAndOff) {
  auto o = ParseSparseAttention(" budget = 512 ");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->budget_tokens, 512);
  EXPECT_EQ(o->dense_layers, 2);
  EXPECT_EQ(o->sink_blocks, 1);
  EXPECT_EQ(o->recent_blocks, 4);
  for (const char* off : {"off", "", "budget=0"}) {
    auto d = ParseSparseAttention(off);
    ASSERT_TRUE(d.ok()) << off;
    EXPECT_FALSE(d->enabled()) << off;
  }
}

TEST(ParseSparseAttention, RejectsBadSyntax) {
  for (const char* bad : {"1024", "budget=", "budget=-1", "budget=1k",
                          "budget=1,budget=2", "budget=1,window=3", "sink=1",
                          "budget=1,,recent=2", "budget=1,recent=99999999999"}) {
    auto o = ParseSparseAttention(bad);
    EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(SelectSparseBlocks, KeepsSinkRecentAndCurrentBlock) {
  // 10 full blocks + the current one (5 tokens); block 5 scores highest.
  std::vector<float> scores = {0, 1, 2, 3, 4, 9, 3, 2, 1, 0};
  SparseAttentionOptions o;
  o.budget_tokens = 16 * 4 + 5;  // sink + 2 recent + current + one more
  o.sink_blocks = 1;
  o.recent_blocks = 2;
  EXPECT_EQ(SelectSparseBlocks(scores, 16, 5, o),
            (std::vector<int32_t>{0, 5, 8, 9, 10}));
  // Sink and recent stay even when they alone exceed the budget.
  o.budget_tokens = 1;
  EXPECT_EQ(SelectSparseBlocks(scores, 16, 5, o),
            (std::vector<int32_t>{0, 8, 9, 10}));
}

// A small random model, a multi-block prompt prefilled densely, then one
// decode step under different sparse settings.
class SparseModelTest : public ::testing::Test {
 protected:
  static constexpr int kBlock = 16;
  static constexpr int kPrompt = 200;  // 12 full blocks + 8 tokens

  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("sparse_attention_test_" + std::to_string(::getpid()) + ".gguf"))
                .string();
    tools::GenModelOptions g;
    g.out = path_;
    g.dim = 128;
    g.layers = 3;
    g.heads = 4;
    g.kv_heads = 2;
    g.ffn = 256;
    g.vocab = 300;
    g.ctx = 1024;
    g.weight_std = 0.2f;  // peaked attention, so block choice matters
    g.num_threads = 2;
    ASSERT_TRUE(tools::WriteRandomLlama(g).ok());
    auto file = gguf::GgufFile::Open(path_);
    ASSERT_TRUE(file.ok()) << file.status();
    file_ = std::move(*file);
    auto model = Model::Load(*file_);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = std::move(*model);
    kv::KvCacheOptions ko = model_->KvOptions(64, kBlock, kv::KvDtype::kF16);
    ko.key_summaries = true;
    auto cache = kv::KvCache::Create(ko);
    ASSERT_TRUE(cache.ok());
    cache_ = std::move(*cache);
    seq_ = std::make_unique<kv::SequenceKv>(cache_.get());
    ASSERT_TRUE(seq_->Reserve(kPrompt + 1).ok());
    std::mt19937 rng(5);
    for (int i = 0; i < kPrompt; ++i) prompt_.push_back(static_cast<int32_t>(rng() % 300));
    SequenceBatch b;
    b.tokens = prompt_;
    b.kv = seq_.get();
    ASSERT_TRUE(model_->Forward({&b, 1}, cache_.get(), &pool_).ok());
  }
  void TearDown() override { std::filesystem::remove(path_); }

  // Logits of one decode step at position kPrompt (rewrites that slot's KV,
  // so steps are independent of each other).
  std::vector<float> Decode(const SparseAttentionOptions& sparse) {
    const int32_t token = 42;
    SequenceBatch b;
    b.tokens = {&token, 1};
    b.start_pos = kPrompt;
    b.kv = seq_.get();
    b.sparse = sparse;
    auto logits = model_->Forward({&b, 1}, cache_.get(), &pool_);
    EXPECT_TRUE(logits.ok()) << logits.status();
    return logits.ok() ? *logits : std::vector<float>();
  }

  static bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() &&
           std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
  }

  std::string path_;
  std::unique_ptr<gguf::GgufFile> file_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<kv::KvCache> cache_;
  std::unique_ptr<kv::SequenceKv> seq_;
  std::vector<int32_t> prompt_;
  ThreadPool pool_{2};
};

TEST_F(SparseModelTest, PrefillSummarisesEveryFullBlock) {
  for (int b = 0; b < kPrompt / kBlock; ++b) {
    EXPECT_TRUE(cache_->KeySummaryReady(seq_->blocks()[b])) << b;
  }
  EXPECT_FALSE(cache_->KeySummaryReady(seq_->blocks()[kPrompt / kBlock]));
}

// The Quest bound from the cache's summaries bounds q . k for every key of
// the block (the property sparse selection relies on).
TEST_F(SparseModelTest, SummaryBoundsEveryKey) {
  const int hd = static_cast<int>(model_->config().head_dim);
  std::mt19937 rng(9);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> q(hd);
  for (int layer = 0; layer < 3; ++layer) {
    for (int b = 0; b < kPrompt / kBlock; ++b) {
      for (float& x : q) x = dist(rng);
      const kv::BlockId blk = seq_->blocks()[b];
      for (int h = 0; h < 2; ++h) {
        float score = 0.0f;
        kernels::memory::QuestScores(q.data(), 1, hd, cache_->KeyMins(blk, layer) + h * hd,
                                     cache_->KeyMaxs(blk, layer) + h * hd, 1, &score);
        for (int slot = 0; slot < kBlock; ++slot) {
          const auto* k = static_cast<const uint16_t*>(cache_->KeyPtr(blk, layer, slot)) + h * hd;
          float dot = 0.0f;
          for (int d = 0; d < hd; ++d) dot += q[d] * kernels::cpu::Fp16ToFp32(k[d]);
          EXPECT_GE(score + 1e-4f * std::fabs(score), dot);
        }
      }
    }
  }
}

TEST_F(SparseModelTest, BudgetCoveringContextEqualsDenseBitwise) {
  const std::vector<float> dense = Decode({});
  SparseAttentionOptions o;
  o.budget_tokens = kPrompt + 1;  // the whole context fits
  o.dense_layers = 0;
  EXPECT_TRUE(SameBits(dense, Decode(o)));
  o.budget_tokens = 4096;
  EXPECT_TRUE(SameBits(dense, Decode(o)));
}

// Budget below the context, but sink + recent cover every block: the
// sparse path (scoring, selection, block runs) runs and must select all
// blocks in order, which gives dense's exact bits.
TEST_F(SparseModelTest, SparsePathSelectingAllBlocksEqualsDenseBitwise) {
  const std::vector<float> dense = Decode({});
  SparseAttentionOptions o;
  o.budget_tokens = 32;
  o.dense_layers = 0;
  o.sink_blocks = 1;
  o.recent_blocks = kPrompt / kBlock;
  EXPECT_TRUE(SameBits(dense, Decode(o)));
}

TEST_F(SparseModelTest, SmallBudgetChangesAttendedBlocks) {
  const std::vector<float> dense = Decode({});
  SparseAttentionOptions o;
  o.budget_tokens = 64;
  o.dense_layers = 1;
  o.sink_blocks = 1;
  o.recent_blocks = 1;
  const std::vector<float> sparse = Decode(o);
  ASSERT_EQ(dense.size(), sparse.size());
  double diff = 0.0;
  for (size_t i = 0; i < dense.size(); ++i) diff += std::fabs(dense[i] - sparse[i]);
  EXPECT_GT(diff / dense.size(), 1e-6);
  // Every layer dense: back to dense bits.
  o.dense_layers = 3;
  EXPECT_TRUE(SameBits(dense, Decode(o)));
}

// Without key summaries in the cache a sparse request runs dense.
TEST_F(SparseModelTest, CacheWithoutSummariesRunsDense) {
  kv::KvCacheOptions ko = model_->KvOptions(64, kBlock, kv::KvDtype::kF16);
  auto cache = kv::KvCache::Create(ko);
  ASSERT_TRUE(cache.ok());
  kv::SequenceKv seq(cache->get());
  ASSERT_TRUE(seq.Reserve(kPrompt + 1).ok());
  std::vector<int32_t> all = prompt_;
  all.push_back(42);
  SequenceBatch b;
  b.tokens = prompt_;
  b.kv = &seq;
  ASSERT_TRUE(model_->Forward({&b, 1}, cache->get(), &pool_).ok());
  b.tokens = absl::MakeConstSpan(all).subspan(kPrompt);
  b.start_pos = kPrompt;
  b.sparse.budget_tokens = 32;
  auto logits = model_->Forward({&b, 1}, cache->get(), &pool_);
  ASSERT_TRUE(logits.ok());
  EXPECT_TRUE(SameBits(*logits, Decode({})));
}

}  // namespace
}  // namespace triptych::model
