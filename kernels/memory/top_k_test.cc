// TopK against a brute-force sort (ties, NaN, k beyond n) and the
// sparse-attention budget selection.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <set>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/memory/top_k.h"

namespace triptych::kernels::memory {
namespace {

// Brute force: sort every index by (score desc with NaN lowest, index asc).
std::vector<int32_t> BruteForce(const std::vector<float>& s, int k) {
  std::vector<int32_t> idx(s.size());
  std::iota(idx.begin(), idx.end(), 0);
  auto key = [&](int32_t i) { return std::isnan(s[i]) ? -INFINITY : s[i]; };
  std::stable_sort(idx.begin(), idx.end(),
                   [&](int32_t a, int32_t b) { return key(a) > key(b); });
  idx.resize(std::min<size_t>(std::max(k, 0), idx.size()));
  return idx;
}

TEST(TopK, EqualsBruteForceSort) {
  std::mt19937 rng(1);
  for (int trial = 0; trial < 200; ++trial) {
    const int n = std::uniform_int_distribution<int>(0, 300)(rng);
    std::vector<float> s(n);
    const bool ties = trial % 2 == 0;
    for (float& x : s) {
      x = ties ? static_cast<float>(std::uniform_int_distribution<int>(-3, 3)(rng))
               : std::normal_distribution<float>()(rng);
    }
    if (n > 4 && trial % 5 == 0) {
      s[1] = NAN;
      s[n - 1] = -INFINITY;
      s[2] = -0.0f;
      s[3] = 0.0f;
    }
    for (int k : {0, 1, 5, n / 2, n, n + 3}) {
      const std::vector<ScoredIndex> got = TopK(s, k);
      const std::vector<int32_t> want = BruteForce(s, k);
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(got[i].index, want[i]) << "trial " << trial << " k " << k;
        ASSERT_EQ(std::memcmp(&got[i].score, &s[want[i]], 4), 0);
      }
    }
  }
}

TEST(TopK, TiesGoToLowerIndex) {
  const std::vector<float> s = {1, 3, 3, 2, 3};
  const std::vector<ScoredIndex> got = TopK(s, 3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].index, 1);
  EXPECT_EQ(got[1].index, 2);
  EXPECT_EQ(got[2].index, 4);
}

int64_t Tokens(const std::vector<int32_t>& sel, const std::vector<int32_t>& bt) {
  int64_t t = 0;
  for (int32_t b : sel) t += bt[b];
  return t;
}

TEST(SelectBlocksWithinBudget, KeepsSinkAndRecentAndRespectsBudget) {
  std::mt19937 rng(9);
  for (int trial = 0; trial < 300; ++trial) {
    const int n = std::uniform_int_distribution<int>(1, 80)(rng);
    const int bs = 16;
    std::vector<float> s(n);
    for (float& x : s) x = std::normal_distribution<float>()(rng);
    const int sinks = std::uniform_int_distribution<int>(0, 2)(rng);
    const int recent = std::uniform_int_distribution<int>(0, 4)(rng);
    std::vector<int32_t> bt(n, bs);
    // A partial last block, kept out of the middle so that every middle
    // block is full-size and the expected choice is simply the best m.
    if (recent > 0) bt[n - 1] = std::uniform_int_distribution<int>(1, bs)(rng);
    const int64_t budget = std::uniform_int_distribution<int>(0, 1400)(rng);
    const std::vector<int32_t> sel =
        SelectBlocksWithinBudget(s, bt, budget, sinks, recent);
    ASSERT_TRUE(std::is_sorted(sel.begin(), sel.end()));
    const std::set<int32_t> chosen(sel.begin(), sel.end());
    ASSERT_EQ(chosen.size(), sel.size());
    std::vector<int32_t> forced;
    for (int b = 0; b < n; ++b) {
      if (b < sinks || b >= n - recent) {
        ASSERT_TRUE(chosen.count(b)) << "forced block " << b << " dropped";
        forced.push_back(b);
      }
    }
    const int64_t forced_tokens = Tokens(forced, bt);
    const int64_t total = Tokens(sel, bt);
    ASSERT_LE(total, std::max(budget, forced_tokens));
    // The middle blocks are full-size, so exactly the best m fit.
    std::vector<float> middle;
    std::vector<int32_t> middle_idx;
    for (int b = 0; b < n; ++b) {
      if (b >= sinks && b < n - recent) {
        middle.push_back(s[b]);
        middle_idx.push_back(b);
      }
    }
    const int64_t room = std::max<int64_t>(budget - forced_tokens, 0);
    const int m = static_cast<int>(
        std::min<int64_t>(room / bs, static_cast<int64_t>(middle.size())));
    const std::vector<int32_t> best = BruteForce(middle, m);
    std::set<int32_t> want(forced.begin(), forced.end());
    for (int32_t i : best) want.insert(middle_idx[i]);
    ASSERT_EQ(chosen, want) << "trial " << trial;
  }
}

TEST(SelectBlocksWithinBudget, BudgetCoveringEverythingKeepsAll) {
  const std::vector<float> s = {0.1f, -5, 2, 7, 0};
  const std::vector<int32_t> bt = {16, 16, 16, 16, 3};
  EXPECT_EQ(SelectBlocksWithinBudget(s, bt, 67, 1, 1),
            (std::vector<int32_t>{0, 1, 2, 3, 4}));
}

TEST(SelectBlocksWithinBudget, ForcedBlocksSurviveATinyBudget) {
  const std::vector<float> s = {0, 9, 9, 0};
  const std::vector<int32_t> bt = {16, 16, 16, 16};
  EXPECT_EQ(SelectBlocksWithinBudget(s, bt, 8, 1, 1),
            (std::vector<int32_t>{0, 3}));
  EXPECT_EQ(SelectBlocksWithinBudget(s, bt, 48, 1, 1),
            (std::vector<int32_t>{0, 1, 3}));
}

TEST(SelectBlocksWithinBudget, SkipsABlockThatDoesNotFitForASmallerOne) {
  // Block 2 ranks best but has 16 tokens; only 8 are left after the sink,
  // so it is skipped and the 5-token block 3 is taken.
  const std::vector<float> s = {0, 1, 9, 2, 0};
  const std::vector<int32_t> bt = {16, 16, 16, 5, 16};
  EXPECT_EQ(SelectBlocksWithinBudget(s, bt, 40, 1, 1),
            (std::vector<int32_t>{0, 3, 4}));
}

TEST(SelectBlocksWithinBudget, EmptyInput) {
  EXPECT_TRUE(SelectBlocksWithinBudget({}, {}, 100, 1, 2).empty());
}

}  // namespace
}  // namespace triptych::kernels::memory
