#include "scheduler/node_registry.h"

#include <vector>

#include "gtest/gtest.h"
#include "scheduler/block_index.h"
#include "scheduler/clock.h"

namespace triptych::scheduler {
namespace {

NodeInfo Decode(const std::string& id) {
  NodeInfo n;
  n.id = id;
  n.role = NodeRole::kDecode;
  n.address = id + ":1";
  n.block_size = 4;
  n.kv_blocks_total = 100;
  n.max_running = 8;
  return n;
}

class NodeRegistryTest : public ::testing::Test {
 protected:
  NodeRegistry::Options Opts() {
    NodeRegistry::Options o;
    o.heartbeat_interval = absl::Seconds(1);
    o.suspect_after_missed = 2;
    o.dead_after_missed = 5;
    o.forget_dead_after = absl::Seconds(60);
    o.max_nodes = 3;
    return o;
  }
  NodeState StateOf(NodeRegistry& r, const std::string& id) {
    auto v = r.Get(id);
    EXPECT_TRUE(v.has_value());
    return v.has_value() ? v->state : NodeState::kDead;
  }

  FakeClock clock_;
  GlobalBlockIndex index_;
};

TEST_F(NodeRegistryTest, RegisterValidatesInfo) {
  NodeRegistry r(Opts(), &clock_, &index_);
  NodeInfo bad = Decode("");
  EXPECT_EQ(r.Register(bad).code(), absl::StatusCode::kInvalidArgument);
  bad = Decode("a");
  bad.address = "";
  EXPECT_EQ(r.Register(bad).code(), absl::StatusCode::kInvalidArgument);
  bad = Decode("a");
  bad.block_size = 0;
  EXPECT_EQ(r.Register(bad).code(), absl::StatusCode::kInvalidArgument);
  bad = Decode("a");
  bad.kv_blocks_total = -1;
  EXPECT_EQ(r.Register(bad).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(r.Snapshot().empty());
}

TEST_F(NodeRegistryTest, RefusesBeyondMaxNodesButAcceptsReRegistration) {
  NodeRegistry r(Opts(), &clock_, &index_);
  for (const char* id : {"a", "b", "c"})
    ASSERT_TRUE(r.Register(Decode(id)).ok());
  EXPECT_EQ(r.Register(Decode("d")).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(r.Register(Decode("a")).ok());
}

TEST_F(NodeRegistryTest, MissedHeartbeatsMakeNodeSuspectThenDead) {
  NodeRegistry r(Opts(), &clock_, &index_);
  ASSERT_TRUE(r.Register(Decode("a")).ok());
  clock_.Advance(absl::Milliseconds(1900));
  EXPECT_EQ(StateOf(r, "a"), NodeState::kHealthy);
  clock_.Advance(absl::Milliseconds(100));  // 2 intervals missed
  EXPECT_EQ(StateOf(r, "a"), NodeState::kSuspect);
  ASSERT_TRUE(r.Heartbeat("a", NodeLoad{}, {}, false).ok());
  EXPECT_EQ(StateOf(r, "a"), NodeState::kHealthy);
  clock_.Advance(absl::Seconds(4));
  EXPECT_TRUE(r.Sweep().empty());
  EXPECT_EQ(StateOf(r, "a"), NodeState::kSuspect);
  clock_.Advance(absl::Seconds(1));  // 5 intervals missed
  EXPECT_EQ(r.Sweep(), std::vector<std::string>{"a"});
  EXPECT_EQ(StateOf(r, "a"), NodeState::kDead);
  // A dead node's heartbeat is refused; it must register again.
  EXPECT_EQ(r.Heartbeat("a", NodeLoad{}, {}, false).code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(r.Register(Decode("a")).ok());
  EXPECT_EQ(StateOf(r, "a"), NodeState::kHealthy);
}

TEST_F(NodeRegistryTest, DeadNodeLeavesTheBlockIndex) {
  NodeRegistry r(Opts(), &clock_, &index_);
  ASSERT_TRUE(r.Register(Decode("a")).ok());
  std::vector<KvEvent> events = {{KvEvent::Kind::kStored, 11},
                                 {KvEvent::Kind::kStored, 12}};
  ASSERT_TRUE(r.Heartbeat("a", NodeLoad{}, events, false).ok());
  EXPECT_EQ(index_.NumBlocks("a"), 2);
  EXPECT_EQ(r.Get("a")->cached_blocks, 2);
  clock_.Advance(absl::Seconds(5));
  r.Sweep();
  EXPECT_EQ(index_.NumBlocks("a"), 0);
  EXPECT_EQ(index_.NumHashes(), 0);
}

TEST_F(NodeRegistryTest, ReportFailureMarksDeadAtOnce) {
  NodeRegistry r(Opts(), &clock_, &index_);
  ASSERT_TRUE(r.Register(Decode("a")).ok());
  ASSERT_TRUE(r.Heartbeat("a", NodeLoad{},
                          std::vector<KvEvent>{{KvEvent::Kind::kStored, 5}},
                          false)
                  .ok());
  r.ReportFailure("a");
  r.ReportFailure("unknown");  // ignored
  EXPECT_EQ(StateOf(r, "a"), NodeState::kDead);
  EXPECT_EQ(index_.NumBlocks("a"), 0);
}

TEST_F(NodeRegistryTest, DrainingFollowsHeartbeatsAndStillTimesOut) {
  NodeRegistry r(Opts(), &clock_, &index_);
  ASSERT_TRUE(r.Register(Decode("a")).ok());
  ASSERT_TRUE(r.Heartbeat("a", NodeLoad{}, {}, true).ok());
  EXPECT_EQ(StateOf(r, "a"), NodeState::kDraining);
  clock_.Advance(absl::Seconds(2));
  EXPECT_EQ(StateOf(r, "a"), NodeState::kDraining);  // not "suspect"
  ASSERT_TRUE(r.Heartbeat("a", NodeLoad{}, {}, false).ok());
  EXPECT_EQ(StateOf(r, "a"), NodeState::kHealthy);
  ASSERT_TRUE(r.Heartbeat("a", NodeLoad{}, {}, true).ok());
  clock_.Advance(absl::Seconds(5));
  EXPECT_EQ(StateOf(r, "a"), NodeState::kDead);
}

TEST_F(NodeRegistryTest, ReRegistrationForgetsCachedBlocks) {
  NodeRegistry r(Opts(), &clock_, &index_);
  ASSERT_TRUE(r.Register(Decode("a")).ok());
  ASSERT_TRUE(r.Heartbeat("a", NodeLoad{},
                          std::vector<KvEvent>{{KvEvent::Kind::kStored, 5}},
                          false)
                  .ok());
  ASSERT_TRUE(r.Register(Decode("a")).ok());
  EXPECT_EQ(index_.NumBlocks("a"), 0);
}

TEST_F(NodeRegistryTest, HeartbeatClampsNegativeLoadAndUnknownIsNotFound) {
  NodeRegistry r(Opts(), &clock_, &index_);
  EXPECT_EQ(r.Heartbeat("x", NodeLoad{}, {}, false).code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(r.Register(Decode("a")).ok());
  NodeLoad load;
  load.running = -5;
  load.waiting = -1;
  load.kv_blocks_free = -9;
  ASSERT_TRUE(r.Heartbeat("a", load, {}, false).ok());
  const NodeView v = *r.Get("a");
  EXPECT_EQ(v.load.running, 0);
  EXPECT_EQ(v.load.waiting, 0);
  EXPECT_EQ(v.load.kv_blocks_free, 0);
  EXPECT_EQ(v.load.kv_blocks_total, 100);  // from the registration
}

TEST_F(NodeRegistryTest, DeadNodesAreForgottenEventually) {
  NodeRegistry r(Opts(), &clock_, &index_);
  ASSERT_TRUE(r.Register(Decode("a")).ok());
  r.ReportFailure("a");
  clock_.Advance(absl::Seconds(59));
  EXPECT_EQ(r.Snapshot().size(), 1u);
  clock_.Advance(absl::Seconds(1));
  EXPECT_TRUE(r.Snapshot().empty());
}

}  // namespace
}  // namespace triptych::scheduler
