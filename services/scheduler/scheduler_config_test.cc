#include "services/scheduler/scheduler_config.h"

#include "gtest/gtest.h"

namespace triptych::scheduler_service {
namespace {

TEST(SchedulerConfig, MapsEveryKeyOntoOptions) {
  SchedulerServer::Options o;
  ASSERT_TRUE(ApplyYamlConfig(R"(
host: 127.0.0.1
port: 50050
admin_port: -1
cluster_token: abc
heartbeat_ms: 500
node_timeout_ms: 2600
max_retries: 1
router:
  policy: least-loaded
  disagg_threshold: 128
  kv_overlap_weight: 2.5
  load_weight: 0.5
  max_inflight_factor: 1.5
slo:
  ttft_ms: 800
  tpot_ms: 40
queue:
  max_size: 10
  max_wait_ms: 1500
)",
                              &o)
                  .ok());
  const auto& d = o.core.dispatcher;
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, 50050);
  EXPECT_EQ(o.admin_port, -1);
  EXPECT_EQ(o.core.cluster_token, "abc");
  EXPECT_EQ(d.registry.heartbeat_interval, absl::Milliseconds(500));
  EXPECT_EQ(d.registry.suspect_after_missed, 2);
  EXPECT_EQ(d.registry.dead_after_missed, 6);  // ceil(2600 / 500)
  EXPECT_EQ(d.max_retries, 1);
  EXPECT_EQ(d.router.policy, scheduler::Policy::kLeastLoaded);
  EXPECT_EQ(d.router.disagg_threshold_tokens, 128);
  EXPECT_DOUBLE_EQ(d.router.kv_overlap_weight, 2.5);
  EXPECT_DOUBLE_EQ(d.router.load_weight, 0.5);
  EXPECT_DOUBLE_EQ(d.router.max_inflight_factor, 1.5);
  EXPECT_EQ(d.router.ttft_target, absl::Milliseconds(800));
  EXPECT_EQ(d.router.tpot_target, absl::Milliseconds(40));
  EXPECT_EQ(d.max_queue, 10);
  EXPECT_EQ(d.max_queue_wait, absl::Milliseconds(1500));
}

TEST(SchedulerConfig, EmptyFileKeepsDefaults) {
  SchedulerServer::Options o;
  ASSERT_TRUE(ApplyYamlConfig("", &o).ok());
  EXPECT_EQ(o.port, 0);
}

TEST(SchedulerConfig, RejectsBadInput) {
  for (const char* yaml : {"port: [1, 2]", "port: eighty", "unknown_key: 1",
                           "router: {policy: random}", "router: {nope: 1}",
                           "router: 3", "slo: {ttft_ms: -5}", "- a\n- b",
                           "heartbeat_ms: 0", "port: {", "\"unterminated"}) {
    SchedulerServer::Options o;
    EXPECT_EQ(ApplyYamlConfig(yaml, &o).code(),
              absl::StatusCode::kInvalidArgument)
        << yaml;
  }
  SchedulerServer::Options o;
  EXPECT_EQ(ApplyYamlConfigFile("/nonexistent/scheduler.yaml", &o).code(),
            absl::StatusCode::kNotFound);
}

TEST(SchedulerConfig, HealthTimeoutsKeepDeadAfterSuspect) {
  scheduler::DispatcherOptions d;
  ASSERT_TRUE(
      SetHealthTimeouts(absl::Seconds(1), absl::Milliseconds(100), &d).ok());
  EXPECT_EQ(d.registry.dead_after_missed, 3);
  EXPECT_FALSE(
      SetHealthTimeouts(absl::ZeroDuration(), absl::Seconds(1), &d).ok());
}

}  // namespace
}  // namespace triptych::scheduler_service
