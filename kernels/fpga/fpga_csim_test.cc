// The FPGA kernels' C simulation against the CPU reference: scores bit for
// bit, top-k identical, both called directly and through FpgaBackend's host
// path (CreateCsim).

#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/fpga/bm25_kernel.h"
#include "kernels/fpga/fpga_backend.h"
#include "kernels/fpga/kernel_limits.h"
#include "kernels/fpga/quest_score_kernel.h"
#include "kernels/memory/cpu_backend.h"
#include "kernels/memory/memory_ops.h"

namespace triptych::kernels::fpga {
namespace {

using memory::ScoredIndex;

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Equal bits, or both NaN (payload propagation is not part of the contract).
void ExpectSameFloats(const std::vector<float>& want,
                      const std::vector<float>& got, const char* what) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::isnan(want[i]) && std::isnan(got[i])) continue;
    ASSERT_EQ(Bits(want[i]), Bits(got[i]))
        << what << " [" << i << "]: " << want[i] << " vs " << got[i];
  }
}

std::vector<float> Normal(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> dist;
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

struct Summaries {
  std::vector<float> q, mins, maxs;
};

Summaries RandomSummaries(int heads, int head_dim, int blocks,
                          std::mt19937& rng, bool ties) {
  Summaries s{Normal(int64_t{heads} * head_dim, rng),
              Normal(int64_t{blocks} * head_dim, rng), {}};
  s.maxs = s.mins;
  for (float& x : s.maxs) x += std::fabs(x) + 0.1f;
  if (ties && blocks > 4) {
    // Duplicate blocks give exactly equal scores: ties by index.
    for (int i = 0; i < head_dim; ++i) {
      s.mins[3 * head_dim + i] = s.mins[1 * head_dim + i];
      s.maxs[3 * head_dim + i] = s.maxs[1 * head_dim + i];
    }
  }
  return s;
}

TEST(QuestScoreTopKCsim, BitExactWithCpuReference) {
  std::mt19937 rng(17);
  for (int head_dim : {1, 13, 16, 64, 100, 128, 256}) {
    for (int heads : {1, 4, 16}) {
      for (int blocks : {0, 1, 7, 300}) {
        const Summaries s = RandomSummaries(heads, head_dim, blocks, rng, true);
        std::vector<float> want(blocks);
        memory::QuestScores(s.q.data(), heads, head_dim, s.mins.data(),
                            s.maxs.data(), blocks, want.data(),
                            memory::Isa::kScalar);
        for (int k : {0, 1, 10, kMaxTopK}) {
          std::vector<float> got(blocks, -7.0f);
          std::vector<int32_t> idx(k, -1);
          std::vector<float> top(k);
          quest_score_topk(s.q.data(), s.mins.data(), s.maxs.data(), got.data(),
                           idx.data(), top.data(), heads, head_dim, blocks, k);
          ExpectSameFloats(want, got, "quest scores");
          const std::vector<ScoredIndex> ref = memory::TopK(want, k);
          for (size_t i = 0; i < ref.size(); ++i) {
            ASSERT_EQ(idx[i], ref[i].index)
                << "head_dim " << head_dim << " heads " << heads << " k " << k
                << " rank " << i;
            ASSERT_EQ(Bits(top[i]), Bits(ref[i].score));
          }
        }
      }
    }
  }
}

TEST(QuestScoreTopKCsim, NanScoresRankLast) {
  std::mt19937 rng(2);
  const int head_dim = 32, blocks = 40;
  Summaries s = RandomSummaries(1, head_dim, blocks, rng, false);
  s.mins[5 * head_dim] = NAN;
  s.maxs[5 * head_dim] = NAN;
  std::vector<float> want(blocks), got(blocks);
  memory::QuestScores(s.q.data(), 1, head_dim, s.mins.data(), s.maxs.data(),
                      blocks, want.data(), memory::Isa::kScalar);
  ASSERT_TRUE(std::isnan(want[5]));
  std::vector<int32_t> idx(blocks);
  std::vector<float> top(blocks);
  quest_score_topk(s.q.data(), s.mins.data(), s.maxs.data(), got.data(),
                   idx.data(), top.data(), 1, head_dim, blocks, blocks);
  ExpectSameFloats(want, got, "quest scores");
  EXPECT_EQ(idx[blocks - 1], 5);
}

struct Corpus {
  std::vector<int32_t> lengths;
  std::map<int, std::vector<std::pair<int32_t, uint32_t>>> index;
  float avgdl = 0;
};

Corpus MakeCorpus(int docs, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<double> w(vocab);
  for (int t = 0; t < vocab; ++t) w[t] = 1.0 / (t + 1);
  std::discrete_distribution<int> term(w.begin(), w.end());
  std::uniform_int_distribution<int> len(1, 60);
  Corpus c;
  double total = 0;
  for (int d = 0; d < docs; ++d) {
    const int n = len(rng);
    std::map<int, uint32_t> tf;
    for (int i = 0; i < n; ++i) ++tf[term(rng)];
    for (auto [t, f] : tf) c.index[t].push_back({d, f});
    c.lengths.push_back(n);
    total += n;
  }
  c.avgdl = static_cast<float>(total / docs);
  return c;
}

struct Csr {
  std::vector<int64_t> offsets{0};
  std::vector<int32_t> docs;
  std::vector<uint32_t> tfs;
  memory::Bm25Postings View() const { return {offsets, docs, tfs}; }
};

Csr Postings(const Corpus& c, const std::vector<int>& query) {
  Csr p;
  for (int t : query) {
    if (auto it = c.index.find(t); it != c.index.end()) {
      for (auto [d, f] : it->second) {
        p.docs.push_back(d);
        p.tfs.push_back(f);
      }
    }
    p.offsets.push_back(static_cast<int64_t>(p.docs.size()));
  }
  return p;
}

TEST(Bm25ScoreTopKCsim, BitExactWithCpuReference) {
  // More docs than one on-chip tile, so cursors carry across tiles.
  const Corpus c = MakeCorpus(3 * kTileDocs + 123, 800, 5);
  const int num_docs = static_cast<int>(c.lengths.size());
  std::mt19937 rng(8);
  std::uniform_int_distribution<int> term(0, 820);
  for (int trial = 0; trial < 12; ++trial) {
    std::vector<int> query(1 + trial % 8);
    for (int& t : query) t = term(rng);
    if (trial == 0) query = {0, 1, 0};
    const Csr p = Postings(c, query);
    std::vector<float> want(num_docs);
    memory::Bm25Scores(p.View(), c.lengths, c.avgdl, absl::MakeSpan(want));
    std::vector<float> idf;
    for (size_t t = 0; t + 1 < p.offsets.size(); ++t) {
      idf.push_back(memory::Bm25Idf(num_docs, p.offsets[t + 1] - p.offsets[t]));
    }
    const int k = 1 + trial * 10;
    std::vector<float> got(num_docs, -1.0f), top(k);
    std::vector<int32_t> idx(k);
    bm25_score_topk(p.offsets.data(), p.docs.data(), p.tfs.data(), idf.data(),
                    c.lengths.data(), got.data(), idx.data(), top.data(),
                    static_cast<int>(query.size()), num_docs, c.avgdl, 1.5f,
                    0.75f, k);
    ExpectSameFloats(want, got, "bm25 scores");
    const std::vector<ScoredIndex> ref = memory::TopK(want, k);
    for (size_t i = 0; i < ref.size(); ++i) {
      ASSERT_EQ(idx[i], ref[i].index) << "trial " << trial << " rank " << i;
      ASSERT_EQ(Bits(top[i]), Bits(ref[i].score));
    }
  }
}

// The full host path (argument packing, limits, top-k fallback) on C sim
// against the CPU backend.
TEST(FpgaBackendCsim, EqualsCpuBackend) {
  auto fpga = FpgaBackend::CreateCsim();
  auto cpu = memory::CpuMemoryBackend::Create(memory::Isa::kScalar);
  ASSERT_TRUE(cpu.ok());
  std::mt19937 rng(23);
  const Summaries s = RandomSummaries(4, 128, 1000, rng, true);
  const memory::QuestInput quest{s.q, 4, 128, s.mins, s.maxs};
  for (int k : {1, 64, kMaxTopK, kMaxTopK + 1, 5000}) {
    auto a = fpga->QuestTopK(quest, k);
    auto b = (*cpu)->QuestTopK(quest, k);
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(*a, *b) << "k " << k;
  }
  std::vector<float> fs(1000), cs(1000);
  ASSERT_TRUE(fpga->QuestScores(quest, absl::MakeSpan(fs)).ok());
  ASSERT_TRUE((*cpu)->QuestScores(quest, absl::MakeSpan(cs)).ok());
  ExpectSameFloats(cs, fs, "backend quest scores");

  const Corpus c = MakeCorpus(5000, 300, 9);
  const Csr p = Postings(c, {2, 5, 11, 400});
  const memory::Bm25Input bm25{p.View(), c.lengths, c.avgdl, {}};
  for (int k : {1, 20, 200}) {
    auto a = fpga->Bm25TopK(bm25, k);
    auto b = (*cpu)->Bm25TopK(bm25, k);
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(*a, *b) << "k " << k;
  }
  // An empty query scores every document 0.
  const memory::Bm25Input empty{{}, c.lengths, c.avgdl, {}};
  std::vector<float> zeros(c.lengths.size(), 1.0f);
  ASSERT_TRUE(fpga->Bm25Scores(empty, absl::MakeSpan(zeros)).ok());
  EXPECT_EQ(zeros, std::vector<float>(c.lengths.size(), 0.0f));
}

TEST(FpgaBackendCsim, RejectsRequestsBeyondKernelLimits) {
  auto fpga = FpgaBackend::CreateCsim();
  const std::vector<float> q(kMaxHeadDim + 1), s(kMaxHeadDim + 1);
  auto r = fpga->QuestTopK({q, 1, kMaxHeadDim + 1, s, s}, 1);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<int64_t> offsets(kMaxTerms + 2, 0);
  const std::vector<int32_t> lengths = {1};
  auto b = fpga->Bm25TopK({{offsets, {}, {}}, lengths, 1.0f, {}}, 1);
  EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(fpga->kind(), memory::MemoryBackendKind::kFpga);
}

}  // namespace
}  // namespace triptych::kernels::fpga
