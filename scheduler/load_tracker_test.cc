#include "scheduler/load_tracker.h"

#include "gtest/gtest.h"

namespace triptych::scheduler {
namespace {

// A node that prefills FIFO at exactly `kRate` tokens/s: four 250-token
// prompts routed together see their first tokens at 0.25, 0.5, 0.75, 1 s.
constexpr double kRate = 1000.0;

LoadTracker::Options Opts() {
  LoadTracker::Options o;
  o.default_prefill_tokens_per_second = 50.0;  // far from kRate on purpose
  return o;
}

void RunFifoQueue(LoadTracker* t) {
  int64_t ahead[4];
  for (int i = 0; i < 4; ++i) ahead[i] = t->OnAssigned("d", "p", 250);
  for (int i = 0; i < 4; ++i) {
    const double done_s = (static_cast<double>(ahead[i]) + 250.0) / kRate;
    t->OnFirstToken("p", 250, ahead[i], absl::Seconds(done_s));
    t->OnReleased("d", "p", 0, std::nullopt);
  }
}

TEST(LoadTracker, OnAssignedReturnsTokensAlreadyPending) {
  LoadTracker t(Opts());
  EXPECT_EQ(t.OnAssigned("d", "p", 100), 0);
  EXPECT_EQ(t.OnAssigned("d", "p", 30), 100);
  EXPECT_EQ(t.OnAssigned("d", "other", 7), 0);
  EXPECT_EQ(t.PendingPrefillTokens("p"), 130);
}

TEST(LoadTracker, QueueingIsNotLearnedAsSlowThroughput) {
  LoadTracker t(Opts());
  RunFifoQueue(&t);
  // Every observation says 1000 tok/s although the later requests waited
  // up to 4x their own work.
  EXPECT_NEAR(absl::ToDoubleSeconds(t.EstimateTtft("p", 100)), 0.1, 1e-6);
}

TEST(LoadTracker, EstimateCountsPendingTokensOnce) {
  LoadTracker t(Opts());
  RunFifoQueue(&t);
  ASSERT_EQ(t.PendingPrefillTokens("p"), 0);
  t.OnAssigned("d", "p", 500);
  // 500 queued + 100 new at 1000 tok/s.
  EXPECT_NEAR(absl::ToDoubleSeconds(t.EstimateTtft("p", 100)), 0.6, 1e-6);
}

TEST(LoadTracker, UnobservedNodeUsesDefaultThroughput) {
  LoadTracker t(Opts());
  EXPECT_NEAR(absl::ToDoubleSeconds(t.EstimateTtft("p", 100)), 2.0, 1e-9);
}

}  // namespace
TEST(LoadTracker, ForgetClearsANodesInFlightAndHistory) {
  LoadTracker t(Opts());
  t.OnAssigned("d1", "p1", 0);
  t.OnAssigned("d1", "p1", 0);
  t.OnAssigned("d2", "p1", 0);
  ASSERT_EQ(t.InFlight("d1"), 2);
  t.Forget("d1");  // d1 died and registered again: none of its requests survive
  EXPECT_EQ(t.InFlight("d1"), 0);
  EXPECT_EQ(t.InFlight("d2"), 1);
  EXPECT_EQ(t.TotalInFlight(), 1);
  t.OnReleased("d1", "p1", 0, std::nullopt);  // a late release stays at 0
  EXPECT_EQ(t.InFlight("d1"), 0);
}

}  // namespace triptych::scheduler
