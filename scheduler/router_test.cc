#include "scheduler/router.h"

#include <memory>
#include <numeric>
#include <vector>

#include "gtest/gtest.h"
#include "scheduler/block_index.h"
#include "scheduler/clock.h"
#include "scheduler/dispatcher.h"

namespace triptych::scheduler {
namespace {

constexpr int kBlock = 4;

std::vector<int32_t> Tokens(int n, int32_t start = 1) {
  std::vector<int32_t> t(n);
  std::iota(t.begin(), t.end(), start);
  return t;
}

class RouterTest : public ::testing::Test {
 protected:
  void Build(Policy policy, int threshold = 64) {
    DispatcherOptions o;
    o.router.policy = policy;
    o.router.disagg_threshold_tokens = threshold;
    o.router.ttft_target = absl::Seconds(2);
    o.router.tpot_target = absl::Milliseconds(100);
    o.router.max_inflight_factor = 1.0;
    o.load.default_prefill_tokens_per_second = 1000;
    d_ = *Dispatcher::Create(o, &clock_);
  }
  void AddNode(const std::string& id, NodeRole role, int max_running = 8) {
    NodeInfo n;
    n.id = id;
    n.role = role;
    n.address = id + ":50051";
    n.block_size = kBlock;
    n.kv_blocks_total = 1000;
    n.max_running = max_running;
    ASSERT_TRUE(d_->Register(n).ok());
  }
  void SetLoad(const std::string& id, int running, int waiting,
               int64_t free_blocks = 1000, std::vector<KvEvent> events = {}) {
    NodeLoad l;
    l.running = running;
    l.waiting = waiting;
    l.kv_blocks_free = free_blocks;
    l.kv_blocks_total = 1000;
    ASSERT_TRUE(d_->Heartbeat(id, l, events, false).ok());
  }
  // Tells the index that `id` holds the full blocks of `tokens`.
  void Holds(const std::string& id, const std::vector<int32_t>& tokens) {
    std::vector<KvEvent> events;
    for (BlockHash h : PromptBlockHashes(tokens, kBlock)) {
      events.push_back({KvEvent::Kind::kStored, h});
    }
    SetLoad(id, 0, 0, 1000, events);
  }
  absl::StatusOr<RouteDecision> Route(
      const std::vector<int32_t>& tokens,
      absl::flat_hash_set<std::string> exclude = {}) {
    RouteRequest r;
    r.prompt_tokens = tokens;
    r.exclude = std::move(exclude);
    return d_->router().Route(r);
  }

  FakeClock clock_;
  std::unique_ptr<Dispatcher> d_;
};

TEST_F(RouterTest, RoundRobinCyclesThroughDecodeNodes) {
  Build(Policy::kRoundRobin);
  for (const char* id : {"c", "a", "b"}) AddNode(id, NodeRole::kDecode);
  std::vector<std::string> got;
  for (int i = 0; i < 6; ++i) got.push_back(Route(Tokens(8))->decode.id);
  EXPECT_EQ(got, (std::vector<std::string>{"a", "b", "c", "a", "b", "c"}));
  EXPECT_EQ(Route(Tokens(8))->reason, "round_robin/local_no_prefill_node");
}

TEST_F(RouterTest, LeastLoadedPicksFewestActiveThenMostFreeBlocks) {
  Build(Policy::kLeastLoaded);
  for (const char* id : {"a", "b", "c"}) AddNode(id, NodeRole::kDecode, 64);
  SetLoad("a", 3, 2);
  SetLoad("b", 1, 0, /*free_blocks=*/100);
  SetLoad("c", 0, 1, /*free_blocks=*/900);
  // b and c both have 1 active; c has more free KV.
  EXPECT_EQ(Route(Tokens(8))->decode.id, "c");
  // The scheduler's own booking counts: c now has 1 in flight (still 1
  // active, as its heartbeat already said 1), so it is c again only when
  // the heartbeat is not older... here b and c tie at 1 -> c by free blocks.
  SetLoad("c", 5, 0, 900);
  EXPECT_EQ(Route(Tokens(8))->decode.id, "b");
}

TEST_F(RouterTest, KvAwareSendsSamePrefixRequestsToTheNodeHoldingIt) {
  Build(Policy::kKvAware);
  for (const char* id : {"a", "b", "c"}) AddNode(id, NodeRole::kDecode, 64);
  // A shared 32-token system prompt; b computed it for an earlier request.
  const std::vector<int32_t> system = Tokens(32, 1000);
  Holds("b", system);
  for (int user = 0; user < 5; ++user) {
    std::vector<int32_t> prompt = system;
    for (int i = 0; i < 6; ++i) prompt.push_back(user * 10 + i);
    auto d = Route(prompt);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->decode.id, "b") << "request " << user;
    EXPECT_EQ(d->overlap_blocks, 8);
    EXPECT_EQ(d->cached_tokens, 32);
    EXPECT_EQ(d->uncached_tokens, 6);
    EXPECT_EQ(d->reason, "kv_overlap/local_no_prefill_node");
  }
  // A different prompt goes by load: b now has 5 requests in flight.
  auto other = Route(Tokens(40, 5000));
  EXPECT_NE(other->decode.id, "b");
  EXPECT_EQ(other->reason, "kv_miss/local_no_prefill_node");
}

TEST_F(RouterTest, KvAwareFollowsKvEventsOfEarlierRequests) {
  // End to end with events: the first request lands somewhere, that node
  // reports the prefix it stored, and the follow-up lands on the same node.
  Build(Policy::kKvAware);
  for (const char* id : {"a", "b", "c"}) AddNode(id, NodeRole::kDecode, 64);
  SetLoad("a", 2, 0);
  SetLoad("c", 1, 0);
  const std::vector<int32_t> turn1 = Tokens(24, 7);
  const std::string first = Route(turn1)->decode.id;
  EXPECT_EQ(first, "b");  // least loaded on a miss
  Holds(first, turn1);
  std::vector<int32_t> turn2 = turn1;
  for (int i = 0; i < 10; ++i) turn2.push_back(900 + i);
  EXPECT_EQ(Route(turn2)->decode.id, first);
}

TEST_F(RouterTest, KvAwareLoadPenaltyOutweighsSmallOverlap) {
  Build(Policy::kKvAware);
  AddNode("a", NodeRole::kDecode, 64);
  AddNode("b", NodeRole::kDecode, 64);
  const std::vector<int32_t> prompt = Tokens(16);
  Holds("a",
        std::vector<int32_t>(prompt.begin(), prompt.begin() + 4));  // 1 block
  SetLoad("a", 6, 0, 1000, {});  // keeps its index entry
  EXPECT_EQ(d_->index().MatchPrefix("a", PromptBlockHashes(prompt, kBlock)), 1);
  // score a = 1 - 6 = -5, score b = 0 - 0.
  EXPECT_EQ(Route(prompt)->decode.id, "b");
}

TEST_F(RouterTest, KvAwareTieGoesToLeastLoaded) {
  Build(Policy::kKvAware);
  AddNode("a", NodeRole::kDecode, 64);
  AddNode("b", NodeRole::kDecode, 64);
  const std::vector<int32_t> prompt = Tokens(16);
  Holds("a",
        std::vector<int32_t>(prompt.begin(), prompt.begin() + 8));  // 2 blocks
  SetLoad("a", 3, 0);  // score 2 - 3 = -1
  SetLoad("b", 1, 0);  // score 0 - 1 = -1: tie, b has fewer active
  EXPECT_EQ(Route(prompt)->decode.id, "b");
}

// Short requests finish before the next is routed, so the nodes always look
// equally idle: they must take turns, not all go to the first by id (a
// restarted node would never get work).
TEST_F(RouterTest, EquallyIdleNodesTakeTurns) {
  for (Policy policy : {Policy::kKvAware, Policy::kLeastLoaded}) {
    Build(policy);
    for (const char* id : {"a", "b", "c"}) AddNode(id, NodeRole::kDecode);
    std::vector<std::string> got;
    for (int i = 0; i < 6; ++i) {
      auto d = Route(Tokens(8, 100 * i + 1));  // no prefix shared
      ASSERT_TRUE(d.ok());
      got.push_back(d->decode.id);
      d_->load().OnReleased(d->decode.id, d->decode.id, 0, std::nullopt);
    }
    EXPECT_EQ(got, (std::vector<std::string>{"a", "b", "c", "a", "b", "c"}))
        << PolicyName(policy);
    // A prefix held by one node still wins over the turn.
    const std::vector<int32_t> prompt = Tokens(16, 5000);
    Holds("c", std::vector<int32_t>(prompt.begin(), prompt.begin() + 8));
    if (policy == Policy::kKvAware) {
      for (int i = 0; i < 3; ++i) {
        auto d = Route(prompt);
        ASSERT_TRUE(d.ok());
        EXPECT_EQ(d->decode.id, "c");
        d_->load().OnReleased("c", "c", 0, std::nullopt);
      }
    }
  }
}

TEST_F(RouterTest, EquallyIdlePrefillNodesTakeTurns) {
  Build(Policy::kKvAware, /*threshold=*/8);
  AddNode("d", NodeRole::kDecode, 64);
  AddNode("p2", NodeRole::kPrefill);
  AddNode("p1", NodeRole::kPrefill);
  std::vector<std::string> got;
  for (int i = 0; i < 4; ++i) {
    auto d = Route(Tokens(16, 100 * i + 1));
    ASSERT_TRUE(d.ok());
    ASSERT_TRUE(d->prefill.has_value()) << d->reason;
    got.push_back(d->prefill->id);
    d_->load().OnReleased(d->decode.id, d->prefill->id, d->uncached_tokens, std::nullopt);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"p1", "p2", "p1", "p2"}));
}

TEST_F(RouterTest, SkipsDrainingDeadExcludedAndPrefersHealthyOverSuspect) {
  Build(Policy::kLeastLoaded);
  for (const char* id : {"a", "b", "c", "d"}) AddNode(id, NodeRole::kDecode);
  ASSERT_TRUE(d_->Heartbeat("a", NodeLoad{}, {}, /*draining=*/true).ok());
  d_->ReportFailure("b");
  EXPECT_EQ(Route(Tokens(8), {"c"})->decode.id, "d");
  // d goes quiet (suspect) while c keeps beating: c is preferred.
  clock_.Advance(absl::Seconds(2));
  SetLoad("c", 5, 5);
  EXPECT_EQ(Route(Tokens(8))->decode.id, "c");
  // With c excluded only the suspect d is left: used as a fallback.
  EXPECT_EQ(Route(Tokens(8), {"c"})->decode.id, "d");
}

TEST_F(RouterTest, ErrorsSayWhetherToRetryOrBackOff) {
  Build(Policy::kKvAware);
  EXPECT_EQ(Route(Tokens(8)).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Route({}).status().code(), absl::StatusCode::kInvalidArgument);
  AddNode("p", NodeRole::kPrefill);
  EXPECT_EQ(Route(Tokens(8)).status().code(), absl::StatusCode::kUnavailable);
  AddNode("a", NodeRole::kDecode, /*max_running=*/1);
  ASSERT_TRUE(Route(Tokens(8)).ok());
  EXPECT_EQ(Route(Tokens(8)).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(d_->load().InFlight("a"), 1);
}

TEST_F(RouterTest, SkipsNodesWithoutFreeBlocksForThePrompt) {
  Build(Policy::kLeastLoaded);
  AddNode("a", NodeRole::kDecode);
  AddNode("b", NodeRole::kDecode);
  SetLoad("a", 0, 0, /*free_blocks=*/2);
  SetLoad("b", 4, 0, /*free_blocks=*/500);
  EXPECT_EQ(Route(Tokens(40))->decode.id, "b");  // needs 10 blocks
}

TEST_F(RouterTest, ConditionalDisaggregation) {
  Build(Policy::kKvAware, /*threshold=*/64);
  AddNode("d1", NodeRole::kDecode, 64);
  // No prefill node: always local.
  EXPECT_EQ(Route(Tokens(200))->reason, "kv_miss/local_no_prefill_node");
  AddNode("p1", NodeRole::kPrefill);
  AddNode("p2", NodeRole::kPrefill);
  // Short prompt: local.
  auto short_prompt = Route(Tokens(63));
  EXPECT_FALSE(short_prompt->prefill.has_value());
  EXPECT_EQ(short_prompt->reason, "kv_miss/local_short");
  // Long uncached prompt: remote, on the prefill node with the shorter queue.
  d_->load().OnAssigned("d1", "p1", 500);
  auto long_prompt = Route(Tokens(64));
  ASSERT_TRUE(long_prompt->prefill.has_value());
  EXPECT_EQ(long_prompt->prefill->id, "p2");
  EXPECT_EQ(long_prompt->prefill->address, "p2:50051");
  EXPECT_EQ(long_prompt->reason, "kv_miss/remote_prefill");
  EXPECT_EQ(d_->load().PendingPrefillTokens("p2"), 64);
  // Long prompt mostly cached on the decode node: local.
  const std::vector<int32_t> doc = Tokens(200, 3000);
  Holds("d1", std::vector<int32_t>(doc.begin(), doc.begin() + 160));
  auto cached = Route(doc);
  EXPECT_EQ(cached->uncached_tokens, 40);
  EXPECT_EQ(cached->reason, "kv_overlap/local_cached");
}

// A prefix held by the memory node's KV history is fetched, not computed,
// by whichever node serves the request: the prompt counts as cached for
// the disaggregation decision even on a decode node that never saw it.
TEST_F(RouterTest, MemoryNodeHistoryCountsAsCachedOnEveryNode) {
  Build(Policy::kKvAware, /*threshold=*/64);
  AddNode("d1", NodeRole::kDecode, 64);
  AddNode("p1", NodeRole::kPrefill);
  AddNode("m1", NodeRole::kMemory);
  const std::vector<int32_t> doc = Tokens(200, 5000);
  EXPECT_EQ(Route(doc)->reason, "kv_miss/remote_prefill");
  Holds("m1", std::vector<int32_t>(doc.begin(), doc.begin() + 160));
  auto d = Route(doc);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->decode.id, "d1");  // never routed to the memory node itself
  EXPECT_EQ(d->cached_tokens, 160);
  EXPECT_EQ(d->uncached_tokens, 40);
  EXPECT_EQ(d->reason, "kv_history/local_cached");
  // A decode node's own cache still wins the kv_aware choice.
  AddNode("d2", NodeRole::kDecode, 64);
  Holds("d2", std::vector<int32_t>(doc.begin(), doc.begin() + 32));
  EXPECT_EQ(Route(doc)->decode.id, "d2");
  EXPECT_EQ(Route(doc)->cached_tokens, 160);
}

TEST_F(RouterTest, PrefillQueueOverTtftTargetKeepsPrefillLocal) {
  Build(Policy::kKvAware, /*threshold=*/64);
  AddNode("d1", NodeRole::kDecode, 64);
  AddNode("p1", NodeRole::kPrefill);
  // 1000 tok/s assumed: 1900 pending + 200 new = 2.1 s > 2 s target.
  d_->load().OnAssigned("dx", "p1", 1900);
  auto d = Route(Tokens(200));
  EXPECT_FALSE(d->prefill.has_value());
  EXPECT_EQ(d->reason, "kv_miss/local_prefill_over_ttft");
  // A request with a looser TTFT target of its own still disaggregates.
  RouteRequest r;
  const std::vector<int32_t> prompt = Tokens(200);
  r.prompt_tokens = prompt;
  r.ttft_target = absl::Seconds(10);
  EXPECT_EQ(d_->router().Route(r)->reason, "kv_miss/remote_prefill");
}

TEST_F(RouterTest, PrefersDecodeNodesMeetingTpotTarget) {
  Build(Policy::kLeastLoaded);
  AddNode("a", NodeRole::kDecode, 64);
  AddNode("b", NodeRole::kDecode, 64);
  SetLoad("b", 4, 0);
  d_->load().OnAssigned("a", "a", 0);
  d_->load().OnReleased("a", "a", 0, absl::Milliseconds(250));  // slow TPOT
  auto d = Route(Tokens(8));
  EXPECT_EQ(d->decode.id, "b");
  EXPECT_EQ(d->reason, "least_loaded/local_no_prefill_node");
}

TEST_F(RouterTest, CountsDecisionsByPolicyAndReason) {
  Build(Policy::kRoundRobin);
  AddNode("a", NodeRole::kDecode, 64);
  ASSERT_TRUE(Route(Tokens(8)).ok());
  ASSERT_TRUE(Route(Tokens(8)).ok());
  d_->router().set_policy(Policy::kLeastLoaded);
  ASSERT_TRUE(Route(Tokens(8)).ok());
  const auto counts = d_->router().DecisionCounts();
  EXPECT_EQ((counts.at({"round_robin", "round_robin/local_no_prefill_node"})),
            2);
  EXPECT_EQ((counts.at({"least_loaded", "least_loaded/local_no_prefill_node"})),
            1);
}

TEST(PolicyNames, RoundTrip) {
  for (Policy p :
       {Policy::kRoundRobin, Policy::kLeastLoaded, Policy::kKvAware}) {
    EXPECT_EQ(*ParsePolicy(PolicyName(p)), p);
  }
  EXPECT_EQ(*ParsePolicy("kv-aware"), Policy::kKvAware);
  EXPECT_EQ(ParsePolicy("random").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace triptych::scheduler
