#include "services/scheduler/scheduler_core.h"

#include <memory>

#include "gtest/gtest.h"
#include "scheduler/clock.h"

namespace triptych::scheduler_service {
namespace {

scheduler::NodeInfo Node(const std::string& id) {
  scheduler::NodeInfo n;
  n.id = id;
  n.role = scheduler::NodeRole::kDecode;
  n.address = "h:1";
  n.block_size = 16;
  n.kv_blocks_total = 10;
  return n;
}

TEST(SchedulerCore, ClusterTokenGuardsRegistration) {
  scheduler::FakeClock clock;
  metrics::Registry metrics;
  CoreOptions o;
  o.cluster_token = "tok";
  o.dispatcher.registry.heartbeat_interval = absl::Milliseconds(250);
  auto core = *SchedulerCore::Create(o, &clock, &metrics);
  EXPECT_EQ(core->Register(Node("a"), "").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(core->Register(Node("a"), "to").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(core->Register(Node("a"), "tokk").status().code(),
            absl::StatusCode::kPermissionDenied);
  auto interval = core->Register(Node("a"), "tok");
  ASSERT_TRUE(interval.ok());
  EXPECT_EQ(*interval, absl::Milliseconds(250));
}

TEST(SchedulerCore, SweepUpdatesNodeGauges) {
  scheduler::FakeClock clock;
  metrics::Registry metrics;
  auto core = *SchedulerCore::Create(CoreOptions(), &clock, &metrics);
  ASSERT_TRUE(core->Register(Node("a"), "").ok());
  const std::string healthy =
      "triptych_scheduler_nodes{role=\"decode\",state=\"healthy\"} 1";
  EXPECT_NE(metrics.Render().find(healthy), std::string::npos);
  clock.Advance(absl::Seconds(10));
  core->Sweep();
  const std::string m = metrics.Render();
  EXPECT_NE(
      m.find("triptych_scheduler_nodes{role=\"decode\",state=\"dead\"} 1"),
      std::string::npos)
      << m;
  EXPECT_EQ(m.find(healthy), std::string::npos);
}

}  // namespace
}  // namespace triptych::scheduler_service
