#include "scheduler/dispatcher.h"

#include <atomic>
#include <memory>
#include <numeric>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "gtest/gtest.h"
#include "scheduler/clock.h"

namespace triptych::scheduler {
namespace {

RequestSpec Spec(int n = 8) {
  RequestSpec s;
  s.request_id = "r";
  s.prompt_tokens.resize(n);
  std::iota(s.prompt_tokens.begin(), s.prompt_tokens.end(), 1);
  s.max_tokens = 16;
  return s;
}

class DispatcherTest : public ::testing::Test {
 protected:
  void Build(int max_queue = 4, absl::Duration wait = absl::Seconds(60)) {
    DispatcherOptions o;
    o.router.policy = Policy::kLeastLoaded;
    o.router.max_inflight_factor = 1.0;
    o.max_queue = max_queue;
    o.max_queue_wait = wait;
    o.max_retries = 2;
    d_ = *Dispatcher::Create(o, &clock_);
  }
  void AddDecode(const std::string& id, int max_running = 8) {
    NodeInfo n;
    n.id = id;
    n.role = NodeRole::kDecode;
    n.address = id + ":1";
    n.block_size = 4;
    n.kv_blocks_total = 100;
    n.max_running = max_running;
    ASSERT_TRUE(d_->Register(n).ok());
  }
  std::unique_ptr<RequestLifecycle> Start(int n = 8) {
    return *d_->Start(Spec(n));
  }

  FakeClock clock_;
  std::unique_ptr<Dispatcher> d_;
};

TEST_F(DispatcherTest, CreateRejectsInconsistentOptions) {
  DispatcherOptions o;
  o.registry.suspect_after_missed = 3;
  o.registry.dead_after_missed = 3;
  EXPECT_EQ(Dispatcher::Create(o, &clock_).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = DispatcherOptions();
  o.router.ttft_target = absl::ZeroDuration();
  EXPECT_EQ(Dispatcher::Create(o, &clock_).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Dispatcher::Create(DispatcherOptions(), nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(DispatcherTest, StartValidatesTheRequest) {
  Build();
  EXPECT_EQ(d_->Start(Spec(0)).status().code(),
            absl::StatusCode::kInvalidArgument);
  RequestSpec s = Spec();
  s.ttft_slo_ms = -1;
  EXPECT_EQ(d_->Start(s).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(DispatcherTest, LifecycleHappyPathMeasuresLatencies) {
  Build();
  AddDecode("a");
  auto r = Start();
  EXPECT_EQ(r->state(), RequestState::kQueued);
  clock_.Advance(absl::Milliseconds(5));
  auto d = r->NextAttempt();
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->decode.id, "a");
  EXPECT_EQ(r->state(), RequestState::kRouted);
  EXPECT_EQ(d_->load().InFlight("a"), 1);
  ASSERT_TRUE(r->OnAttemptStarted().ok());
  EXPECT_EQ(r->state(), RequestState::kPrefilling);
  clock_.Advance(absl::Milliseconds(95));
  ASSERT_TRUE(r->OnTokens(0).ok());  // an event without tokens
  EXPECT_EQ(r->state(), RequestState::kPrefilling);
  ASSERT_TRUE(r->OnTokens(1).ok());
  EXPECT_EQ(r->state(), RequestState::kDecoding);
  for (int i = 0; i < 4; ++i) {
    clock_.Advance(absl::Milliseconds(20));
    ASSERT_TRUE(r->OnTokens(1).ok());
  }
  ASSERT_TRUE(r->OnFinished().ok());
  EXPECT_EQ(r->state(), RequestState::kFinished);
  EXPECT_EQ(*r->ttft(), absl::Milliseconds(100));
  EXPECT_EQ(*r->tpot(), absl::Milliseconds(20));
  EXPECT_EQ(*r->e2e(), absl::Milliseconds(180));
  EXPECT_EQ(d_->load().InFlight("a"), 0);
  EXPECT_EQ(*d_->load().TpotEstimate("a"), absl::Milliseconds(20));
}

TEST_F(DispatcherTest, RefusesInvalidTransitions) {
  Build();
  AddDecode("a");
  auto r = Start();
  EXPECT_EQ(r->OnTokens(1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(r->OnAttemptStarted().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(r->NextAttempt().ok());
  EXPECT_EQ(r->NextAttempt().status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(r->OnFinished().code(), absl::StatusCode::kFailedPrecondition);
  r->OnCancelled();
  EXPECT_EQ(r->state(), RequestState::kCancelled);
  EXPECT_EQ(d_->load().InFlight("a"), 0);
  r->OnCancelled();  // terminal: no-op
  EXPECT_FALSE(r->OnAttemptFailed(absl::UnavailableError("x")));
  EXPECT_EQ(r->state(), RequestState::kCancelled);
}

TEST_F(DispatcherTest, RetriesOnOtherNodesBeforeTheFirstToken) {
  Build();
  for (const char* id : {"a", "b", "c", "d"}) AddDecode(id);
  auto r = Start();
  std::vector<std::string> tried;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto d = r->NextAttempt();
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_FALSE(r->excluded().contains(d->decode.id));
    tried.push_back(d->decode.id);
    ASSERT_TRUE(r->OnAttemptStarted().ok());
    const bool retry =
        r->OnAttemptFailed(absl::UnavailableError("connection refused"));
    // Two retries, then the request fails.
    EXPECT_EQ(retry, attempt < 2);
    EXPECT_TRUE(r->excluded().contains(d->decode.id));
    EXPECT_EQ(d_->registry().Get(d->decode.id)->state, NodeState::kDead);
    EXPECT_EQ(d_->load().InFlight(d->decode.id), 0);
  }
  EXPECT_EQ(r->state(), RequestState::kFailed);
  EXPECT_EQ(r->attempts(), 3);
  // Three different nodes (equally idle ones take turns, so which three
  // is the router's business).
  EXPECT_EQ(absl::flat_hash_set<std::string>(tried.begin(), tried.end()).size(), 3u);
}

TEST_F(DispatcherTest, ResourceExhaustedRetriesWithoutKillingTheNode) {
  Build();
  AddDecode("a");
  AddDecode("b");
  auto r = Start();
  auto first = r->NextAttempt();
  ASSERT_TRUE(r->OnAttemptStarted().ok());
  EXPECT_TRUE(r->OnAttemptFailed(absl::ResourceExhaustedError("node full")));
  EXPECT_EQ(d_->registry().Get(first->decode.id)->state, NodeState::kHealthy);
  EXPECT_NE(r->NextAttempt()->decode.id, first->decode.id);
}

TEST_F(DispatcherTest, AfterTheFirstTokenOnlyADeadNodeMigrates) {
  Build();
  AddDecode("a");
  AddDecode("b");
  AddDecode("c");
  auto r = Start();
  ASSERT_TRUE(r->NextAttempt().ok());
  const std::string first = r->decision()->decode.id;
  ASSERT_TRUE(r->OnAttemptStarted().ok());
  clock_.Advance(absl::Milliseconds(40));
  ASSERT_TRUE(r->OnTokens(1).ok());
  const auto ttft = r->ttft();
  // The node died: migrate with the generated token joining the prompt.
  EXPECT_TRUE(r->OnAttemptFailed(absl::UnavailableError("node died")));
  EXPECT_EQ(r->state(), RequestState::kQueued);
  EXPECT_EQ(r->migrations(), 1);
  const size_t prompt = r->spec().prompt_tokens.size();
  const int max_tokens = r->spec().max_tokens;
  r->Continue(std::vector<int32_t>{42});
  EXPECT_EQ(r->spec().prompt_tokens.size(), prompt + 1);
  EXPECT_EQ(r->spec().prompt_tokens.back(), 42);
  EXPECT_EQ(r->spec().max_tokens, max_tokens - 1);
  ASSERT_TRUE(r->NextAttempt().ok());
  EXPECT_NE(r->decision()->decode.id, first);
  ASSERT_TRUE(r->OnAttemptStarted().ok());
  clock_.Advance(absl::Milliseconds(40));
  ASSERT_TRUE(r->OnTokens(1).ok());
  EXPECT_EQ(r->ttft(), ttft);  // the caller's first token came earlier
  // Any other error after the first token is reported, not retried.
  EXPECT_FALSE(r->OnAttemptFailed(absl::InternalError("bad logits")));
  EXPECT_EQ(r->state(), RequestState::kFailed);
  EXPECT_EQ(r->NextAttempt().status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(DispatcherTest, NonRetryableErrorFailsAtOnce) {
  Build();
  AddDecode("a");
  AddDecode("b");
  auto r = Start();
  ASSERT_TRUE(r->NextAttempt().ok());
  ASSERT_TRUE(r->OnAttemptStarted().ok());
  EXPECT_FALSE(r->OnAttemptFailed(absl::InvalidArgumentError("bad sampling")));
  EXPECT_EQ(r->state(), RequestState::kFailed);
}

TEST_F(DispatcherTest, RetryWithNoNodeLeftReportsTheLastError) {
  Build();
  AddDecode("a");
  auto r = Start();
  ASSERT_TRUE(r->NextAttempt().ok());
  ASSERT_TRUE(r->OnAttemptStarted().ok());
  ASSERT_TRUE(r->OnAttemptFailed(absl::UnavailableError("connection refused")));
  auto again = r->NextAttempt();
  EXPECT_EQ(again.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(again.status().message().find("connection refused"),
            absl::string_view::npos);
  EXPECT_EQ(r->state(), RequestState::kFailed);
}

TEST_F(DispatcherTest, QueuesWhileAtCapacityAndAdmitsWhenCapacityFrees) {
  Build();
  AddDecode("a", /*max_running=*/1);
  auto first = Start();
  ASSERT_TRUE(first->NextAttempt().ok());
  ASSERT_TRUE(first->OnAttemptStarted().ok());

  auto second = Start();
  absl::StatusOr<RouteDecision> got;
  std::thread waiter([&] { got = second->NextAttempt(); });
  // Wait (without sleeping) until the second request is in the queue.
  while (d_->queue().size() == 0) std::this_thread::yield();
  EXPECT_EQ(second->state(), RequestState::kQueued);
  ASSERT_TRUE(first->OnTokens(1).ok());
  ASSERT_TRUE(first->OnFinished().ok());  // frees the slot and notifies
  waiter.join();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->decode.id, "a");
  EXPECT_EQ(d_->queue().size(), 0);
}

TEST_F(DispatcherTest, NewcomersDoNotOvertakeQueuedRequests) {
  Build();
  AddDecode("a", 1);
  auto first = Start();
  ASSERT_TRUE(first->NextAttempt().ok());
  auto second = Start();
  absl::StatusOr<RouteDecision> second_got;
  std::thread second_waiter([&] { second_got = second->NextAttempt(); });
  while (d_->queue().size() == 0) std::this_thread::yield();
  // Free the slot behind the queue's back (no wake-up): a newcomer must
  // queue behind `second` instead of taking it.
  d_->load().OnReleased("a", "a", 0, std::nullopt);
  auto third = Start();
  int checks = 0;
  auto got = third->NextAttempt([&] { return ++checks > 1; });  // one pass only
  EXPECT_EQ(got.status().code(), absl::StatusCode::kCancelled);
  d_->NotifyCapacity();
  second_waiter.join();
  ASSERT_TRUE(second_got.ok()) << second_got.status();
  EXPECT_EQ(d_->load().InFlight("a"), 1);
}

TEST_F(DispatcherTest, RejectsWhenTheQueueIsFull) {
  Build(/*max_queue=*/0);
  AddDecode("a", 1);
  auto first = Start();
  ASSERT_TRUE(first->NextAttempt().ok());
  auto second = Start();
  EXPECT_EQ(second->NextAttempt().status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(second->state(), RequestState::kFailed);
}

TEST_F(DispatcherTest, QueueWaitTimesOut) {
  Build(/*max_queue=*/4, /*wait=*/absl::ZeroDuration());
  AddDecode("a", 1);
  auto first = Start();
  ASSERT_TRUE(first->NextAttempt().ok());
  auto second = Start();
  EXPECT_EQ(second->NextAttempt().status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(d_->queue().size(), 0);
}

TEST_F(DispatcherTest, CancelWhileQueued) {
  Build();
  AddDecode("a", 1);
  auto first = Start();
  ASSERT_TRUE(first->NextAttempt().ok());
  auto second = Start();
  std::atomic<bool> cancelled{false};
  absl::StatusOr<RouteDecision> got;
  std::thread waiter(
      [&] { got = second->NextAttempt([&] { return cancelled.load(); }); });
  while (d_->queue().size() == 0) std::this_thread::yield();
  cancelled = true;
  d_->NotifyCapacity();
  waiter.join();
  EXPECT_EQ(got.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(second->state(), RequestState::kCancelled);
  EXPECT_EQ(d_->queue().size(), 0);
}

TEST_F(DispatcherTest, DestroyingAnOpenRequestReleasesItsLoad) {
  Build();
  AddDecode("a");
  {
    auto r = Start();
    ASSERT_TRUE(r->NextAttempt().ok());
    EXPECT_EQ(d_->load().InFlight("a"), 1);
  }
  EXPECT_EQ(d_->load().InFlight("a"), 0);
  EXPECT_EQ(d_->load().TotalPendingPrefillTokens(), 0);
}

TEST_F(DispatcherTest, FirstTokenTeachesPrefillThroughput) {
  Build();
  AddDecode("a");
  auto r = Start(400);
  ASSERT_TRUE(r->NextAttempt().ok());
  EXPECT_EQ(d_->load().PendingPrefillTokens("a"), 400);
  ASSERT_TRUE(r->OnAttemptStarted().ok());
  clock_.Advance(absl::Milliseconds(100));
  ASSERT_TRUE(r->OnTokens(1).ok());
  EXPECT_EQ(d_->load().PendingPrefillTokens("a"), 0);
  // 400 tokens in 100 ms: 4000 tok/s -> 800 tokens take 200 ms.
  EXPECT_EQ(d_->load().EstimateTtft("a", 800), absl::Milliseconds(200));
}

}  // namespace
}  // namespace triptych::scheduler
