#include "tools/loadgen/arrival.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gtest/gtest.h"
#include "tools/loadgen/stats.h"

namespace triptych::loadgen {
namespace {

constexpr int kSamples = 40000;

std::vector<double> Gaps(const ArrivalOptions& o, int n = kSamples) {
  auto gen = ArrivalGenerator::Create(o);
  EXPECT_TRUE(gen.ok()) << gen.status();
  std::vector<double> gaps;
  double last = (*gen)->Next();
  for (int i = 0; i < n; ++i) {
    const double t = (*gen)->Next();
    EXPECT_GE(t, last);
    gaps.push_back(t - last);
    last = t;
  }
  return gaps;
}

ArrivalOptions Options(ArrivalProcess p, double rate, double burstiness = 1,
                       uint64_t seed = 7) {
  ArrivalOptions o;
  o.process = p;
  o.rate = rate;
  o.burstiness = burstiness;
  o.seed = seed;
  return o;
}

// Over 40k samples the standard error of the mean gap is CV/200 of it, so
// 3% bounds are > 5 sigma for CV <= 2.
TEST(Arrival, PoissonMeanRateAndUnitCv) {
  auto [mean, cv] = MeanAndCv(Gaps(Options(ArrivalProcess::kPoisson, 20)));
  EXPECT_NEAR(mean, 1.0 / 20, 0.03 / 20);
  EXPECT_NEAR(cv, 1.0, 0.03);
}

TEST(Arrival, GammaBurstinessSetsCv) {
  for (double k : {0.25, 0.5, 1.0, 4.0}) {
    auto [mean, cv] = MeanAndCv(Gaps(Options(ArrivalProcess::kGamma, 10, k)));
    EXPECT_NEAR(mean, 0.1, 0.1 * 0.03 * std::max(1.0, 1 / std::sqrt(k)))
        << "burstiness " << k;
    EXPECT_NEAR(cv, 1 / std::sqrt(k), 0.06 / std::sqrt(k))
        << "burstiness " << k;
  }
}

TEST(Arrival, ConstantIsEvenlySpaced) {
  auto gen = ArrivalGenerator::Create(Options(ArrivalProcess::kConstant, 4));
  ASSERT_TRUE(gen.ok());
  EXPECT_DOUBLE_EQ((*gen)->Next(), 0);
  EXPECT_DOUBLE_EQ((*gen)->Next(), 0.25);
  EXPECT_DOUBLE_EQ((*gen)->Next(), 0.5);
  auto [mean, cv] = MeanAndCv(Gaps(Options(ArrivalProcess::kConstant, 4)));
  EXPECT_NEAR(mean, 0.25, 1e-12);
  EXPECT_NEAR(cv, 0, 1e-9);
}

TEST(Arrival, AllAtOnceAndInfiniteRate) {
  auto gen = ArrivalGenerator::Create(Options(ArrivalProcess::kAllAtOnce, 0));
  ASSERT_TRUE(gen.ok());
  for (int i = 0; i < 10; ++i) EXPECT_EQ((*gen)->Next(), 0);
  gen = ArrivalGenerator::Create(Options(
      ArrivalProcess::kPoisson, std::numeric_limits<double>::infinity()));
  ASSERT_TRUE(gen.ok());
  for (int i = 0; i < 10; ++i) EXPECT_EQ((*gen)->Next(), 0);
}

TEST(Arrival, SeedMakesItReproducible) {
  const auto a = Gaps(Options(ArrivalProcess::kPoisson, 5, 1, 1), 100);
  const auto b = Gaps(Options(ArrivalProcess::kPoisson, 5, 1, 1), 100);
  const auto c = Gaps(Options(ArrivalProcess::kPoisson, 5, 1, 2), 100);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

// With a 10 s ramp to 100 req/s, about 500 requests arrive during the ramp
// (half the rate on average) and 1000 in each second after it; the first
// two seconds see 1/25 of the ramp's arrivals.
TEST(Arrival, RampUpGrowsTheRateLinearly) {
  for (ArrivalProcess p :
       {ArrivalProcess::kPoisson, ArrivalProcess::kConstant}) {
    ArrivalOptions o = Options(p, 100);
    o.ramp_up_s = 10;
    auto gen = ArrivalGenerator::Create(o);
    ASSERT_TRUE(gen.ok());
    int first2 = 0, ramp = 0, after = 0;
    for (;;) {
      const double t = (*gen)->Next();
      if (t >= 20) break;
      if (t < 2) ++first2;
      if (t < 10) {
        ++ramp;
      } else {
        ++after;
      }
    }
    EXPECT_NEAR(ramp, 500, 60);
    EXPECT_NEAR(after, 1000, 100);
    EXPECT_NEAR(first2, 20, 12);
  }
}

TEST(Arrival, RejectsBadOptions) {
  EXPECT_FALSE(
      ArrivalGenerator::Create(Options(ArrivalProcess::kPoisson, 0)).ok());
  EXPECT_FALSE(
      ArrivalGenerator::Create(Options(ArrivalProcess::kPoisson, -1)).ok());
  EXPECT_FALSE(
      ArrivalGenerator::Create(Options(ArrivalProcess::kPoisson, NAN)).ok());
  EXPECT_FALSE(
      ArrivalGenerator::Create(Options(ArrivalProcess::kGamma, 1, 0)).ok());
  ArrivalOptions o = Options(ArrivalProcess::kPoisson, 1);
  o.ramp_up_s = -1;
  EXPECT_FALSE(ArrivalGenerator::Create(o).ok());
  EXPECT_FALSE(ParseArrivalProcess("weibull").ok());
  EXPECT_EQ(*ParseArrivalProcess("gamma"), ArrivalProcess::kGamma);
}

}  // namespace
}  // namespace triptych::loadgen
