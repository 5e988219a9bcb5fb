#include "services/gateway/key_limiter.h"

#include "gtest/gtest.h"

namespace triptych::gateway {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1000);

TEST(KeyLimiter, DisabledAdmitsEverything) {
  KeyLimiter l({}, {});
  EXPECT_FALSE(l.enabled());
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(l.Acquire("k", 1000, 1000, kT0).ok());
}

TEST(KeyLimiter, ConcurrencyPerKey) {
  KeyLimiter l({/*max_concurrency=*/2, 0}, {{"vip", {5, 0}}});
  auto a = l.Acquire("k", 10, 10, kT0);
  auto b = l.Acquire("k", 10, 10, kT0);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(l.Acquire("k", 10, 10, kT0).status()));
  // Another key has its own slots; a configured key its own limit.
  EXPECT_TRUE(l.Acquire("other", 10, 10, kT0).ok());
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(l.Acquire("vip", 1, 1, kT0).ok());
  EXPECT_FALSE(l.Acquire("vip", 1, 1, kT0).ok());
  l.Release(*a, 10, kT0);
  EXPECT_EQ(l.in_flight("k"), 1);
  EXPECT_TRUE(l.Acquire("k", 10, 10, kT0).ok());
}

TEST(KeyLimiter, TokensPerMinuteRefillAndRefund) {
  KeyLimiter l({0, /*tokens_per_minute=*/600}, {});
  // 400 + 200 = the whole minute's budget.
  auto a = l.Acquire("k", 400, 200, kT0);
  ASSERT_TRUE(a.ok());
  auto denied = l.Acquire("k", 10, 10, kT0);
  ASSERT_TRUE(absl::IsResourceExhausted(denied.status()));
  EXPECT_NE(denied.status().message().find("Retry in 2 s"), std::string::npos)
      << denied.status();
  // 10 tokens per second come back.
  EXPECT_TRUE(l.Acquire("k", 10, 10, kT0 + absl::Seconds(2)).ok());
  // Finishing after 50 of 200 completion tokens refunds 150.
  l.Release(*a, 50, kT0 + absl::Seconds(2));
  EXPECT_TRUE(l.Acquire("k", 100, 50, kT0 + absl::Seconds(2)).ok());
  EXPECT_FALSE(l.Acquire("k", 1, 1, kT0 + absl::Seconds(2)).ok());
  // Never more than the minute's budget, however long idle.
  EXPECT_FALSE(l.Acquire("k", 601, 0, kT0 + absl::Hours(1)).ok());
  EXPECT_TRUE(l.Acquire("k", 600, 0, kT0 + absl::Hours(1)).ok());
}

TEST(KeyLimiter, ParseSpec) {
  auto s = KeyLimiter::ParseSpec("sk-abc:4:90000");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->first, "sk-abc");
  EXPECT_EQ(s->second.max_concurrency, 4);
  EXPECT_EQ(s->second.tokens_per_minute, 90000);
  auto colon = KeyLimiter::ParseSpec("a:b:0:10");
  ASSERT_TRUE(colon.ok());
  EXPECT_EQ(colon->first, "a:b");
  for (const char* bad : {"", "k", "k:1", ":1:2", "k:x:2", "k:1:-2", "k:1:2x"}) {
    EXPECT_FALSE(KeyLimiter::ParseSpec(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace triptych::gateway
