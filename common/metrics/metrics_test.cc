#include "common/metrics/metrics.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace triptych::metrics {
namespace {

TEST(Registry, RendersPrometheusTextFormat) {
  Registry r;
  r.GetCounter("requests_total", "Requests.", {{"code", "200"}})->Increment(3);
  r.GetGauge("queue_depth", "Queue.")->Set(2);
  Histogram* h = r.GetHistogram("ttft_seconds", "TTFT.", {0.1, 1.0});
  h->Observe(0.05);
  h->Observe(0.5);
  h->Observe(5);
  const std::string text = r.Render();
  EXPECT_NE(text.find("# TYPE requests_total counter\nrequests_total{code=\"200\"} 3\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("queue_depth 2\n"), std::string::npos);
  EXPECT_NE(text.find("ttft_seconds_bucket{le=\"0.10000000000000001\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ttft_seconds_bucket{le=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("ttft_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("ttft_seconds_count 3\n"), std::string::npos);
}

TEST(Registry, SameNameAndLabelsGiveSameMetric) {
  Registry r;
  EXPECT_EQ(r.GetCounter("a", "h", {{"x", "1"}}), r.GetCounter("a", "h", {{"x", "1"}}));
  EXPECT_NE(r.GetCounter("a", "h", {{"x", "1"}}), r.GetCounter("a", "h", {{"x", "2"}}));
}

TEST(Counter, ConcurrentIncrementsAreNotLost) {
  Registry r;
  Counter* c = r.GetCounter("c", "h");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([c] {
      for (int i = 0; i < 10000; ++i) c->Increment();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c->value(), 40000);
}

}  // namespace
}  // namespace triptych::metrics
