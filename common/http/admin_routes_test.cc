#include "common/http/admin_routes.h"

#include <atomic>

#include "common/http/testing/test_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace triptych::http {
namespace {

using ::testing::HasSubstr;

TEST(AdminRoutes, ServesMetricsHealthAndProbes) {
  metrics::Registry registry;
  registry.GetCounter("triptych_test_total", "A test counter.")->Increment(3);
  std::atomic<bool> ready{false};
  auto server = Server::Create(ServerOptions());
  ASSERT_TRUE(server.ok());
  AddAdminRoutes(server->get(), &registry, [&ready] { return ready.load(); });
  ASSERT_TRUE((*server)->Start().ok());
  const int port = (*server)->port();

  auto metrics = testing::HttpRequest(port, "GET", "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(metrics->status, 200);
  EXPECT_THAT(metrics->Header("content-type").value_or(""), HasSubstr("version=0.0.4"));
  EXPECT_THAT(metrics->body, HasSubstr("triptych_test_total 3"));

  EXPECT_EQ(testing::HttpRequest(port, "GET", "/health")->status, 200);
  EXPECT_EQ(testing::HttpRequest(port, "GET", "/live")->status, 200);
  EXPECT_EQ(testing::HttpRequest(port, "GET", "/ready")->status, 503);
  ready = true;
  EXPECT_EQ(testing::HttpRequest(port, "GET", "/ready")->status, 200);
  EXPECT_EQ(testing::HttpRequest(port, "POST", "/metrics")->status, 405);
}

// A node's /health names where it computes (members given by the caller).
TEST(AdminRoutes, HealthCarriesExtraFields) {
  metrics::Registry registry;
  auto server = Server::Create(ServerOptions());
  ASSERT_TRUE(server.ok());
  AddAdminRoutes(server->get(), &registry, nullptr, nullptr,
                 R"j("device":"gpu (hip-cpu device 0)","gpu_runtime":"hip-cpu")j");
  ASSERT_TRUE((*server)->Start().ok());
  auto health = testing::HttpRequest((*server)->port(), "GET", "/health");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body,
            R"j({"status":"ok","device":"gpu (hip-cpu device 0)","gpu_runtime":"hip-cpu"})j");
}

}  // namespace
}  // namespace triptych::http
