#include "runtime/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <set>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/sampling/penalties.h"

namespace triptych::sampling {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAreArray;

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Deterministic pseudo-random logits in [-8, 8) (a tiny LCG, so the test
// does not depend on the code under test or on std distributions).
std::vector<float> RandomLogits(int n, uint64_t seed) {
  std::vector<float> out(n);
  uint64_t state = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  for (float& v : out) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    v = static_cast<float>((state >> 40) * 0x1.0p-24 * 16.0 - 8.0);
  }
  return out;
}

std::vector<float> LogOf(const std::vector<double>& probs) {
  std::vector<float> out;
  for (double p : probs) out.push_back(static_cast<float>(std::log(p)));
  return out;
}

// Draws `n` tokens with fresh copies of `logits` and returns the histogram.
std::vector<int> Histogram(const SamplingParams& params,
                           const std::vector<float>& logits, int n) {
  Sampler sampler(params);
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < n; ++i) {
    std::vector<float> row = logits;
    ++counts[sampler.Sample(absl::MakeSpan(row), {}).token];
  }
  return counts;
}

std::set<int32_t> Support(const std::vector<int>& counts) {
  std::set<int32_t> out;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] > 0) out.insert(static_cast<int32_t>(i));
  }
  return out;
}

double LogSumExp(const std::vector<float>& logits) {
  const float max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float l : logits) sum += std::exp(double{l} - max);
  return max + std::log(sum);
}

TEST(Sampler, GreedyPicksArgmax) {
  SamplingParams p;
  p.temperature = 0;
  Sampler sampler(p);
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::vector<float> logits = RandomLogits(5000, seed);
    const auto expected =
        std::max_element(logits.begin(), logits.end()) - logits.begin();
    EXPECT_EQ(sampler.Sample(absl::MakeSpan(logits), {}).token, expected);
  }
}

TEST(Sampler, GreedyTiesGoToLowestId) {
  SamplingParams p;
  p.temperature = 0;
  Sampler sampler(p);
  std::vector<float> logits = {1, 3, 2, 3, 3};
  EXPECT_EQ(sampler.Sample(absl::MakeSpan(logits), {}).token, 1);
}

TEST(Sampler, SameSeedReproducesSequence) {
  auto run = [](uint64_t seed) {
    SamplingParams p;
    p.seed = seed;
    p.temperature = 1.5f;
    Sampler sampler(p);
    std::vector<int32_t> tokens;
    for (int i = 0; i < 64; ++i) {
      std::vector<float> logits = RandomLogits(1000, i);
      tokens.push_back(sampler.Sample(absl::MakeSpan(logits), {}).token);
    }
    return tokens;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
}

TEST(Sampler, SeededSequenceIsPinned) {
  // Pins the RNG -> token mapping so that a change in the uniform draw or
  // the scan order (which would break cross-version reproducibility) shows.
  SamplingParams p;
  p.seed = 1234;
  Sampler sampler(p);
  const std::vector<float> logits = LogOf({0.25, 0.25, 0.25, 0.25});
  std::vector<int32_t> tokens;
  for (int i = 0; i < 8; ++i) {
    std::vector<float> row = logits;
    tokens.push_back(sampler.Sample(absl::MakeSpan(row), {}).token);
  }
  // mt19937_64(1234) outputs, top 53 bits / 2^53, bucketed by quarters.
  std::mt19937_64 rng(1234);
  std::vector<int32_t> expected;
  for (int i = 0; i < 8; ++i) {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
    expected.push_back(static_cast<int32_t>(u * 4));
  }
  EXPECT_EQ(tokens, expected);
}

TEST(Sampler, TemperatureOneMatchesDistribution) {
  const std::vector<double> probs = {0.1, 0.2, 0.3, 0.4};
  SamplingParams p;
  p.seed = 7;
  constexpr int kDraws = 20000;
  const std::vector<int> counts = Histogram(p, LogOf(probs), kDraws);
  for (size_t i = 0; i < probs.size(); ++i) {
    // Standard error is at most 0.0035; allow ~4 sigma.
    EXPECT_NEAR(counts[i] / double{kDraws}, probs[i], 0.015) << i;
  }
}

TEST(Sampler, TemperatureSharpensDistribution) {
  // At T = 0.5, p_i is proportional to p_i^2.
  const std::vector<double> probs = {0.1, 0.2, 0.3, 0.4};
  SamplingParams p;
  p.seed = 11;
  p.temperature = 0.5f;
  constexpr int kDraws = 20000;
  const std::vector<int> counts = Histogram(p, LogOf(probs), kDraws);
  const double norm = 0.01 + 0.04 + 0.09 + 0.16;
  for (size_t i = 0; i < probs.size(); ++i) {
    EXPECT_NEAR(counts[i] / double{kDraws}, probs[i] * probs[i] / norm, 0.015)
        << i;
  }
}

TEST(Sampler, TopKOneEqualsGreedy) {
  SamplingParams greedy;
  greedy.temperature = 0;
  SamplingParams top1;
  top1.top_k = 1;
  top1.seed = 99;
  Sampler a(greedy);
  Sampler b(top1);
  for (uint64_t seed = 0; seed < 50; ++seed) {
    std::vector<float> la = RandomLogits(3000, seed);
    std::vector<float> lb = la;
    EXPECT_EQ(a.Sample(absl::MakeSpan(la), {}).token,
              b.Sample(absl::MakeSpan(lb), {}).token);
  }
}

TEST(Sampler, TopKKeepsKBestWithRenormalisedFrequencies) {
  const std::vector<double> probs = {0.3, 0.05, 0.4, 0.1, 0.15};
  SamplingParams p;
  p.top_k = 2;
  constexpr int kDraws = 20000;
  const std::vector<int> counts = Histogram(p, LogOf(probs), kDraws);
  EXPECT_EQ(Support(counts), (std::set<int32_t>{0, 2}));
  EXPECT_NEAR(counts[2] / double{kDraws}, 0.4 / 0.7, 0.015);
}

TEST(Sampler, TopPKeepsSmallestSetReachingP) {
  // Sorted: id1 0.4, id3 0.3, id2 0.2, id0 0.1.
  const std::vector<float> logits = LogOf({0.1, 0.4, 0.2, 0.3});
  struct Case {
    float top_p;
    std::set<int32_t> expected;
  };
  for (const Case& c : {Case{0.35f, {1}}, Case{0.65f, {1, 3}},
                        Case{0.75f, {1, 2, 3}}, Case{0.95f, {0, 1, 2, 3}}}) {
    SamplingParams p;
    p.top_p = c.top_p;
    EXPECT_EQ(Support(Histogram(p, logits, 4000)), c.expected) << c.top_p;
  }
}

TEST(Sampler, TopPLargeVocabularyMatchesBruteForce) {
  // A peaked row (the 1024-prefix suffices) and a flat row (it does not).
  for (float scale : {4.0f, 0.05f}) {
    std::vector<float> logits = RandomLogits(50000, 5);
    for (float& l : logits) l *= scale;
    const float top_p = 0.5f;
    // Brute force: full sort by (logit desc, id asc), cumulative mass.
    std::vector<int32_t> order(logits.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    const double lse = LogSumExp(logits);
    std::set<int32_t> allowed;
    double acc = 0;
    for (int32_t id : order) {
      if (acc >= top_p) break;
      acc += std::exp(logits[id] - lse);
      allowed.insert(id);
    }
    SamplingParams p;
    p.top_p = top_p;
    const std::set<int32_t> seen = Support(Histogram(p, logits, 200));
    EXPECT_TRUE(
        std::includes(allowed.begin(), allowed.end(), seen.begin(), seen.end()))
        << "scale " << scale << " allowed " << allowed.size();
    EXPECT_GT(seen.size(), 1u);
  }
}

TEST(Sampler, MinPDropsTokensBelowFractionOfBest) {
  // Threshold 0.2 * 0.5 = 0.1 keeps {0, 1, 2}.
  SamplingParams p;
  p.min_p = 0.2f;
  const std::vector<int> counts =
      Histogram(p, LogOf({0.5, 0.3, 0.15, 0.05}), 4000);
  EXPECT_EQ(Support(counts), (std::set<int32_t>{0, 1, 2}));
}

TEST(Sampler, MinPComposesWithTopK) {
  SamplingParams p;
  p.min_p = 0.2f;
  p.top_k = 2;
  EXPECT_EQ(Support(Histogram(p, LogOf({0.5, 0.3, 0.15, 0.05}), 2000)),
            (std::set<int32_t>{0, 1}));
}

TEST(Sampler, MaskedTokensAreNeverSampled) {
  std::vector<float> logits(100, 0.0f);
  for (int i = 0; i < 100; i += 2) logits[i] = kNegInf;
  SamplingParams p;
  for (int32_t id : Support(Histogram(p, logits, 2000))) {
    EXPECT_EQ(id % 2, 1);
  }
  p.top_k = 80;
  p.top_p = 0.9f;
  for (int32_t id : Support(Histogram(p, logits, 2000))) {
    EXPECT_EQ(id % 2, 1);
  }
}

TEST(Sampler, PenaltiesSteerTheSample) {
  SamplingParams p;
  p.temperature = 0;
  p.presence_penalty = 2;
  Sampler sampler(p);
  std::vector<float> logits = {1.0f, 0.5f};
  const std::vector<int32_t> generated = {0};
  EXPECT_EQ(sampler.Sample(absl::MakeSpan(logits), generated).token, 1);
  EXPECT_FLOAT_EQ(logits[0], -1.0f);  // Penalised in place.
}

TEST(Sampler, LogprobsSumToOneOverVocabulary) {
  std::vector<float> logits = RandomLogits(20, 3);
  SamplingParams p;
  p.logprobs = true;
  p.top_logprobs = 20;
  Sampler sampler(p);
  const Sampler::Result r = sampler.Sample(absl::MakeSpan(logits), {});
  ASSERT_EQ(r.top_logprobs.size(), 20u);
  double total = 0;
  for (const auto& [id, lp] : r.top_logprobs) total += std::exp(lp);
  EXPECT_NEAR(total, 1.0, 1e-5);
}

TEST(Sampler, LogprobIsLogSoftmaxOfPenalisedLogitsBeforeTemperature) {
  const std::vector<float> original = RandomLogits(1000, 8);
  SamplingParams p;
  p.logprobs = true;
  p.temperature = 0.3f;
  p.top_k = 5;
  p.frequency_penalty = 1;
  const std::vector<int32_t> generated = {3, 3, 17};
  std::vector<float> expected_logits = original;
  ApplyPenalties(p, absl::MakeSpan(expected_logits), generated);
  const double lse = LogSumExp(expected_logits);

  Sampler sampler(p);
  std::vector<float> logits = original;
  const Sampler::Result r = sampler.Sample(absl::MakeSpan(logits), generated);
  EXPECT_NEAR(r.logprob, expected_logits[r.token] - lse, 1e-4);
  EXPECT_TRUE(r.top_logprobs.empty());
}

TEST(Sampler, TopLogprobsSortedAndConsistent) {
  std::vector<float> logits = RandomLogits(30000, 21);
  logits[100] = logits[200] = 20.0f;  // A tie at the top.
  const double lse = LogSumExp(logits);
  SamplingParams p;
  p.temperature = 0;
  p.logprobs = true;
  p.top_logprobs = 5;
  Sampler sampler(p);
  const Sampler::Result r = sampler.Sample(absl::MakeSpan(logits), {});
  ASSERT_EQ(r.top_logprobs.size(), 5u);
  EXPECT_EQ(r.token, 100);
  EXPECT_EQ(r.top_logprobs[0].first, 100);
  EXPECT_EQ(r.top_logprobs[1].first, 200);
  EXPECT_FLOAT_EQ(r.top_logprobs[0].second, r.logprob);
  for (size_t i = 1; i < r.top_logprobs.size(); ++i) {
    EXPECT_GE(r.top_logprobs[i - 1].second, r.top_logprobs[i].second);
  }
  // They are the true top 5 with the right values.
  std::vector<float> sorted = logits;
  std::sort(sorted.begin(), sorted.end(), std::greater<float>());
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_NEAR(r.top_logprobs[i].second, sorted[i] - lse, 1e-4);
    EXPECT_EQ(logits[r.top_logprobs[i].first], sorted[i]);
  }
}

TEST(Sampler, TopLogprobsLargerThanVocabulary) {
  std::vector<float> logits = {0.0f, 1.0f, 2.0f};
  SamplingParams p;
  p.logprobs = true;
  p.top_logprobs = 10;
  Sampler sampler(p);
  const Sampler::Result r = sampler.Sample(absl::MakeSpan(logits), {});
  ASSERT_EQ(r.top_logprobs.size(), 3u);
  EXPECT_EQ(r.top_logprobs[0].first, 2);
  EXPECT_EQ(r.top_logprobs[2].first, 0);
}

TEST(SamplerDeathTest, AbortsOnBrokenPreconditions) {
  SamplingParams bad;
  bad.top_p = 0;
  EXPECT_DEATH(Sampler{bad}, "Validate");
  Sampler sampler(SamplingParams{});
  std::vector<float> empty;
  EXPECT_DEATH(sampler.Sample(absl::MakeSpan(empty), {}), "empty");
  std::vector<float> masked = {kNegInf, kNegInf};
  EXPECT_DEATH(sampler.Sample(absl::MakeSpan(masked), {}), "-inf");
}

TEST(Sampler, LogitBiasChangesGreedyChoice) {
  SamplingParams params;
  params.temperature = 0.0f;
  params.logit_bias = {{2, 100.0f}, {0, -100.0f}, {99, 50.0f}};  // 99: past the row
  Sampler sampler(params);
  std::vector<float> logits = {5.0f, 4.0f, -3.0f, 1.0f};
  EXPECT_EQ(sampler.Sample(absl::MakeSpan(logits), {}).token, 2);
  EXPECT_FLOAT_EQ(logits[2], 97.0f);
  EXPECT_FLOAT_EQ(logits[0], -95.0f);
}

TEST(Sampler, LogitBiasMinus100BansTokenWhenSampling) {
  SamplingParams params;
  params.temperature = 1.0f;
  params.seed = 7;
  params.logit_bias = {{1, -100.0f}};
  Sampler sampler(params);
  for (int i = 0; i < 200; ++i) {
    std::vector<float> logits = {0.0f, 3.0f, 0.0f};
    EXPECT_NE(sampler.Sample(absl::MakeSpan(logits), {}).token, 1);
  }
}

TEST(SamplingParams, LogitBiasRange) {
  SamplingParams params;
  params.logit_bias = {{3, 100.0f}, {4, -100.0f}};
  EXPECT_TRUE(Validate(params).ok());
  params.logit_bias = {{3, 100.5f}};
  EXPECT_FALSE(Validate(params).ok());
  params.logit_bias = {{-1, 1.0f}};
  EXPECT_FALSE(Validate(params).ok());
  params.logit_bias = {{1, std::numeric_limits<float>::quiet_NaN()}};
  EXPECT_FALSE(Validate(params).ok());
}

}  // namespace
}  // namespace triptych::sampling
