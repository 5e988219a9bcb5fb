#include "tools/loadgen/stats.h"

#include <vector>

#include "gtest/gtest.h"

namespace triptych::loadgen {
namespace {

// Expected values are numpy's: np.percentile(x, p) (method="linear") and
// np.std(x) (ddof=0).
TEST(Percentile, MatchesNumpyLinear) {
  const std::vector<double> x = {4, 1, 3, 2};
  EXPECT_DOUBLE_EQ(Percentile(x, 0), 1);
  EXPECT_DOUBLE_EQ(Percentile(x, 50), 2.5);
  EXPECT_DOUBLE_EQ(Percentile(x, 90), 3.7);
  EXPECT_DOUBLE_EQ(Percentile(x, 100), 4);
  EXPECT_DOUBLE_EQ(Percentile(std::vector<double>{15, 20, 35, 40, 50}, 40), 29);
  std::vector<double> hundred;
  for (int i = 1; i <= 100; ++i) hundred.push_back(i);
  EXPECT_NEAR(Percentile(hundred, 99), 99.01, 1e-9);
  EXPECT_NEAR(Percentile(hundred, 90), 90.1, 1e-9);
}

TEST(Percentile, EdgeCases) {
  EXPECT_EQ(Percentile({}, 50), 0);
  EXPECT_EQ(Percentile(std::vector<double>{7}, 99), 7);
  EXPECT_EQ(Percentile(std::vector<double>{1, 2}, 150), 2);  // clamped
  EXPECT_EQ(Percentile(std::vector<double>{1, 2}, -5), 1);
}

TEST(Summarize, MeanMedianStdPercentiles) {
  const std::vector<double> x = {1, 2, 3, 4};
  const std::vector<double> ps = {90, 99};
  Distribution d = Summarize(x, ps);
  EXPECT_EQ(d.count, 4u);
  EXPECT_DOUBLE_EQ(d.mean, 2.5);
  EXPECT_DOUBLE_EQ(d.median, 2.5);
  EXPECT_NEAR(d.std, 1.118033988749895, 1e-12);
  EXPECT_DOUBLE_EQ(d.At(90), 3.7);
  EXPECT_NEAR(d.At(99), 3.97, 1e-12);
  EXPECT_EQ(d.min, 1);
  EXPECT_EQ(d.max, 4);
  EXPECT_EQ(d.At(50), 0);  // not requested
}

TEST(Summarize, EmptyIsZero) {
  const std::vector<double> ps = {99};
  Distribution d = Summarize({}, ps);
  EXPECT_EQ(d.count, 0u);
  EXPECT_EQ(d.mean, 0);
  EXPECT_EQ(d.At(99), 0);
}

TEST(MeanAndCv, KnownValues) {
  auto [mean, cv] = MeanAndCv(std::vector<double>{2, 2, 2});
  EXPECT_EQ(mean, 2);
  EXPECT_EQ(cv, 0);
  std::tie(mean, cv) = MeanAndCv(std::vector<double>{1, 3});
  EXPECT_EQ(mean, 2);
  EXPECT_DOUBLE_EQ(cv, 0.5);
}

}  // namespace
}  // namespace triptych::loadgen
