#include "tools/loadgen/metrics.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace triptych::loadgen {
namespace {

RequestResult Streamed(double start, std::vector<double> chunks,
                       int64_t output_tokens) {
  RequestResult r;
  r.success = true;
  r.streamed = true;
  r.start_s = start;
  r.end_s = chunks.back();
  r.chunk_tokens.assign(chunks.size(),
                        static_cast<double>(output_tokens) / chunks.size());
  r.chunk_times_s = std::move(chunks);
  r.output_tokens = output_tokens;
  r.output_source = TokenSource::kUsage;
  r.prompt_tokens = 10;
  r.prompt_source = TokenSource::kUsage;
  return r;
}

// Two requests with the same TPOT (100 ms) but different chunking: A streams
// one token per chunk, B sends 5 tokens in 2 chunks. TPOT weighs requests;
// ITL pools chunk gaps, so B's one 400 ms gap pulls the ITL mean up.
std::vector<RequestResult> TwoRequests() {
  return {Streamed(0, {0.1, 0.2, 0.3}, 3), Streamed(0, {0.05, 0.45}, 5)};
}

TEST(ComputeMetrics, TpotDiffersFromItl) {
  const std::vector<double> ps = {50, 99};
  BenchmarkMetrics m = ComputeMetrics(TwoRequests(), Slo{}, ps);
  EXPECT_EQ(m.completed, 2);
  EXPECT_EQ(m.failed, 0);
  EXPECT_EQ(m.total_output_tokens, 8);
  EXPECT_EQ(m.total_input_tokens, 20);
  EXPECT_EQ(m.tpot_ms.count, 2u);
  EXPECT_NEAR(m.tpot_ms.mean, 100, 1e-9);
  EXPECT_NEAR(m.tpot_ms.std, 0, 1e-9);
  EXPECT_EQ(m.itl_ms.count, 3u);
  EXPECT_NEAR(m.itl_ms.mean, 200, 1e-9);
  EXPECT_NEAR(m.itl_ms.median, 100, 1e-9);
  EXPECT_NEAR(m.ttft_ms.mean, 75, 1e-9);
  EXPECT_NEAR(m.e2el_ms.mean, 375, 1e-9);
  EXPECT_NEAR(m.duration_s, 0.45, 1e-12);
  EXPECT_NEAR(m.request_throughput, 2 / 0.45, 1e-9);
  EXPECT_NEAR(m.output_throughput, 8 / 0.45, 1e-9);
  EXPECT_NEAR(m.total_token_throughput, 28 / 0.45, 1e-9);
  EXPECT_FALSE(m.request_goodput.has_value());
  EXPECT_EQ(m.max_concurrent_requests, 2);
  EXPECT_EQ(m.output_token_sources.at("usage"), 2);
}

TEST(ComputeMetrics, GoodputCountsRequestsMeetingEverySlo) {
  auto slo = ParseSlo({"ttft:80"});
  ASSERT_TRUE(slo.ok());
  BenchmarkMetrics m = ComputeMetrics(TwoRequests(), *slo, {});
  EXPECT_EQ(m.good_requests, 1);  // only B (TTFT 50 ms)
  ASSERT_TRUE(m.request_goodput.has_value());
  EXPECT_NEAR(*m.request_goodput, 1 / 0.45, 1e-9);

  slo = ParseSlo({"ttft:500", "tpot:100", "e2el:300"});
  ASSERT_TRUE(slo.ok());
  m = ComputeMetrics(TwoRequests(), *slo, {});
  EXPECT_EQ(m.good_requests, 1);  // B's E2E is 450 ms

  slo = ParseSlo({"tpot:99"});
  ASSERT_TRUE(slo.ok());
  m = ComputeMetrics(TwoRequests(), *slo, {});
  EXPECT_EQ(m.good_requests, 0);
  EXPECT_EQ(*m.request_goodput, 0);
}

TEST(ComputeMetrics, FailuresAndWarmupAreSeparated) {
  std::vector<RequestResult> rs = TwoRequests();
  RequestResult failed;
  failed.start_s = 0.1;
  failed.end_s = 0.2;
  failed.error_kind = "http_500";
  rs.push_back(failed);
  failed.error_kind = "connection_refused";
  rs.push_back(failed);
  rs.push_back(failed);
  RequestResult warm = Streamed(-5, {-4.9, -4.0}, 100);
  warm.warmup = true;
  rs.push_back(warm);
  BenchmarkMetrics m = ComputeMetrics(rs, Slo{}, {});
  EXPECT_EQ(m.completed, 2);
  EXPECT_EQ(m.failed, 3);
  EXPECT_EQ(m.errors.at("http_500"), 1);
  EXPECT_EQ(m.errors.at("connection_refused"), 2);
  EXPECT_EQ(m.total_output_tokens, 8);  // warm-up excluded
  EXPECT_NEAR(m.duration_s, 0.45, 1e-12);
}

TEST(ComputeMetrics, NonStreamedHasNoTpotOrItl) {
  RequestResult r;
  r.success = true;
  r.streamed = false;
  r.start_s = 0;
  r.end_s = 1;
  r.chunk_times_s = {1};
  r.chunk_tokens = {10};
  r.output_tokens = 10;
  BenchmarkMetrics m = ComputeMetrics({r}, Slo{}, {});
  EXPECT_EQ(m.tpot_ms.count, 0u);
  EXPECT_EQ(m.itl_ms.count, 0u);
  EXPECT_NEAR(m.ttft_ms.mean, 1000, 1e-9);
  EXPECT_NEAR(m.e2el_ms.mean, 1000, 1e-9);
}

TEST(ComputeMetrics, TimelineCountsTokensPerSecond) {
  std::vector<RequestResult> rs;
  for (int i = 0; i < 4; ++i) {
    rs.push_back(Streamed(0, {0.5 + i, 0.6 + i}, 10));  // 10 tokens in [i, i+1)
  }
  BenchmarkMetrics m = ComputeMetrics(rs, Slo{}, {});
  // 3.6 s run: 50 ms buckets; chunks at 0.5, 0.6, 1.5, 1.6, ...
  EXPECT_DOUBLE_EQ(m.timeline_bucket_s, 0.05);
  ASSERT_EQ(m.timeline.size(), 72u);
  EXPECT_NEAR(m.timeline[10].output_tokens_per_s, 5 / 0.05, 1e-9);
  EXPECT_NEAR(m.timeline[14].output_tokens_per_s, 0, 1e-9);
  double total = 0;
  for (const TimelinePoint& p : m.timeline) {
    total += p.output_tokens_per_s * m.timeline_bucket_s;
  }
  EXPECT_NEAR(total, 40, 1e-6);
  EXPECT_NEAR(m.max_output_tokens_per_s, 10, 1e-9);  // whole seconds
  EXPECT_EQ(m.timeline[0].in_flight, 4);
}

TEST(ComputeMetrics, EmptyInput) {
  BenchmarkMetrics m = ComputeMetrics({}, Slo{}, {});
  EXPECT_EQ(m.completed, 0);
  EXPECT_EQ(m.duration_s, 0);
  EXPECT_TRUE(m.timeline.empty());
}

TEST(ParseSlo, RejectsBadInput) {
  EXPECT_FALSE(ParseSlo({"ttft"}).ok());
  EXPECT_FALSE(ParseSlo({"foo:1"}).ok());
  EXPECT_FALSE(ParseSlo({"ttft:-1"}).ok());
  EXPECT_FALSE(ParseSlo({"ttft:abc"}).ok());
  EXPECT_FALSE(ParseSlo({"ttft:1:2"}).ok());
  auto ok = ParseSlo({"e2el:2000"});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok->e2el_ms, 2000);
  EXPECT_FALSE(ok->ttft_ms.has_value());
}

}  // namespace
}  // namespace triptych::loadgen
