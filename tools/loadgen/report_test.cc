#include "tools/loadgen/report.h"

#include <cstdio>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tools/loadgen/client.h"
#include "tools/loadgen/plot.h"

namespace triptych::loadgen {
namespace {

std::vector<RequestResult> Results() {
  std::vector<RequestResult> rs;
  for (int i = 0; i < 5; ++i) {
    RequestResult r;
    r.success = true;
    r.streamed = true;
    r.start_s = 0.1 * i;
    r.chunk_times_s = {r.start_s + 0.05, r.start_s + 0.07, r.start_s + 0.1};
    r.chunk_tokens = {1, 1, 1};
    r.end_s = r.start_s + 0.1;
    r.output_tokens = 3;
    r.output_source = TokenSource::kChunks;
    r.prompt_tokens = 10;
    r.prompt_source = TokenSource::kSynthetic;
    rs.push_back(r);
  }
  RequestResult failed;
  failed.error_kind = "http_503";
  failed.error_message = "busy";
  rs.push_back(failed);
  return rs;
}

TEST(ResultJson, HasVllmFieldNames) {
  const std::vector<double> ps = {90, 99, 99.9};
  auto slo = ParseSlo({"ttft:60"});
  const auto rs = Results();
  BenchmarkMetrics m = ComputeMetrics(rs, *slo, ps);
  RunInfo info;
  info.label = "test";
  info.request_rate = std::numeric_limits<double>::infinity();
  nlohmann::json j = ResultJson(info, m, ps, rs, /*detailed=*/true);
  for (const char* key : {"completed",
                          "failed",
                          "total_input_tokens",
                          "total_output_tokens",
                          "request_throughput",
                          "output_throughput",
                          "total_token_throughput",
                          "request_goodput",
                          "duration",
                          "mean_ttft_ms",
                          "median_ttft_ms",
                          "std_ttft_ms",
                          "p90_ttft_ms",
                          "p99_ttft_ms",
                          "p99.9_ttft_ms",
                          "mean_tpot_ms",
                          "p99_tpot_ms",
                          "mean_itl_ms",
                          "p99_itl_ms",
                          "mean_e2el_ms",
                          "p99_e2el_ms",
                          "max_concurrent_requests",
                          "max_output_tokens_per_s",
                          "input_lens",
                          "output_lens",
                          "ttfts",
                          "itls",
                          "errors",
                          "errors_by_kind",
                          "timeline"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["completed"], 5);
  EXPECT_EQ(j["failed"], 1);
  EXPECT_EQ(j["errors_by_kind"]["http_503"], 1);
  EXPECT_EQ(j["request_rate"], "inf");
  EXPECT_EQ(j["output_token_source"]["chunks"], 5);
  EXPECT_NEAR(j["mean_ttft_ms"].get<double>(), 50, 1e-6);
  EXPECT_EQ(j["input_lens"].size(), 6u);
  EXPECT_EQ(j["label"], "test");
  // Every request meets ttft <= 60 ms.
  EXPECT_NEAR(j["request_goodput"].get<double>(),
              j["request_throughput"].get<double>(), 1e-9);
  EXPECT_FALSE(ResultJson(info, m, ps, rs, false).contains("itls"));
}

TEST(SummaryTable, ListsMetricsAndErrors) {
  const std::vector<double> ps = {99};
  const auto rs = Results();
  BenchmarkMetrics m = ComputeMetrics(rs, Slo{}, ps);
  const std::string t = SummaryTable(RunInfo{}, m, ps);
  for (const char* s : {"Successful requests:", "Failed requests:", "http_503:",
                        "Mean TTFT (ms):", "P99 TPOT (ms):", "Median ITL (ms):",
                        "Output tokens counted by:"}) {
    EXPECT_NE(t.find(s), std::string::npos) << s;
  }
}

TEST(RenderSvg, ProducesWellFormedSvg) {
  const auto rs = Results();
  BenchmarkMetrics m = ComputeMetrics(rs, Slo{}, {});
  const std::string svg = RenderSvg("a <b> & c", m, rs);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("TTFT CDF (n=5)"), std::string::npos);
  EXPECT_NE(svg.find("Throughput over time"), std::string::npos);
  EXPECT_NE(svg.find("a &lt;b&gt; &amp; c"), std::string::npos);
  EXPECT_GE(svg.find("<polyline"), 0u);
  // No data at all still renders.
  const std::string empty = RenderSvg("", ComputeMetrics({}, Slo{}, {}), {});
  EXPECT_NE(empty.find("no data"), std::string::npos);
}

TEST(ProgressPrinter, PlainLinesWhenNotATerminal) {
  char* buf = nullptr;
  size_t size = 0;
  std::FILE* f = open_memstream(&buf, &size);
  ProgressPrinter p(f, /*tty=*/false, /*plain_interval_s=*/1);
  Progress pr;
  pr.total = 10;
  pr.completed = 5;
  pr.elapsed_s = 2;
  p.Update(pr);
  pr.elapsed_s = 2.5;  // within the interval: no line
  p.Update(pr);
  p.Done();
  std::fclose(f);
  const std::string out(buf, size);
  std::free(buf);
  EXPECT_EQ(out,
            "progress  50%: 5 done, 0 failed, 0 running | 2.5 req/s, 0 "
            "tok/s | 2s\n");
}

TEST(ParseUrl, Forms) {
  auto t = ParseUrl("http://localhost:8000", "/v1/completions");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->host, "localhost");
  EXPECT_EQ(t->port, "8000");
  EXPECT_EQ(t->path, "/v1/completions");
  t = ParseUrl("http://h/proxy/v1/", "/v1/chat/completions");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->port, "80");
  EXPECT_EQ(t->path, "/proxy/v1/chat/completions");
  t = ParseUrl("http://[::1]:9000", "/x");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->host, "::1");
  EXPECT_EQ(t->port, "9000");
  EXPECT_FALSE(ParseUrl("http://", "/x").ok());
  EXPECT_FALSE(ParseUrl("localhost:80", "/x").ok());
  EXPECT_FALSE(ParseUrl("http://h:0", "/x").ok());
  EXPECT_FALSE(ParseUrl("http://[::1", "/x").ok());
}

}  // namespace
}  // namespace triptych::loadgen
