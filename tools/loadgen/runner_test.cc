// End-to-end tests of the runner and client against a real HTTP server (the
// fake OpenAI server on 127.0.0.1:0) with the failure modes real servers
// have.

#include "tools/loadgen/runner.h"

#include <chrono>
#include <limits>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tools/loadgen/metrics.h"
#include "tools/loadgen/testing/fake_openai_server.h"

namespace triptych::loadgen {
namespace {

using loadgen_testing::FakeOpenAiServer;
using loadgen_testing::FakeServerOptions;

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto synth = PromptSynthesizer::Create();
    ASSERT_TRUE(synth.ok());
    synth_ = std::move(*synth);
    RandomOptions o;
    o.input_len = 12;
    o.output_len = 8;
    auto ds = MakeRandomDataset(o, synth_.get());
    ASSERT_TRUE(ds.ok());
    dataset_ = std::move(*ds);
  }

  std::unique_ptr<FakeOpenAiServer> Server(FakeServerOptions o = {}) {
    auto s = FakeOpenAiServer::Start(std::move(o));
    EXPECT_TRUE(s.ok()) << s.status();
    return std::move(*s);
  }

  RunnerOptions Options(const std::string& url, int64_t n) {
    RunnerOptions o;
    o.url = url;
    o.api.model = "fake";
    o.arrival.rate = std::numeric_limits<double>::infinity();
    o.num_prompts = n;
    o.request_timeout_s = 20;
    return o;
  }

  RunOutput RunOk(const RunnerOptions& o, const Dataset* ds = nullptr) {
    auto runner = Runner::Create(o, ds ? ds : dataset_.get(), synth_.get());
    EXPECT_TRUE(runner.ok()) << runner.status();
    auto out = (*runner)->Run();
    EXPECT_TRUE(out.ok()) << out.status();
    return std::move(*out);
  }

  std::unique_ptr<PromptSynthesizer> synth_;
  std::unique_ptr<Dataset> dataset_;
};

TEST_F(RunnerTest, StreamsChatWithUsage) {
  auto server = Server();
  RunOutput out = RunOk(Options(server->url(), 20));
  BenchmarkMetrics m = ComputeMetrics(out.results, Slo{}, {99});
  EXPECT_EQ(m.completed, 20);
  EXPECT_EQ(m.failed, 0);
  EXPECT_EQ(m.total_output_tokens, 20 * 8);
  EXPECT_EQ(m.total_input_tokens, 20 * 12);  // the fake counts words
  EXPECT_EQ(m.output_token_sources.at("usage"), 20);
  EXPECT_EQ(m.input_token_sources.at("usage"), 20);
  EXPECT_EQ(m.itl_ms.count, 20u * 7);
  EXPECT_EQ(m.tpot_ms.count, 20u);
  EXPECT_EQ(server->requests(), 20);
  auto body = nlohmann::json::parse(server->last_body());
  EXPECT_EQ(body["stream_options"]["include_usage"], true);
  EXPECT_EQ(body["model"], "fake");
  for (const RequestResult& r : out.results) {
    EXPECT_GE(r.ttft_s(), 0);
    EXPECT_LE(r.ttft_s(), r.e2e_s());
  }
}

TEST_F(RunnerTest, CountsChunksWhenNoUsage) {
  FakeServerOptions fo;
  fo.send_usage = false;
  auto server = Server(fo);
  RunnerOptions o = Options(server->url(), 10);
  o.api.endpoint = Endpoint::kCompletions;
  BenchmarkMetrics m = ComputeMetrics(RunOk(o).results, Slo{}, {});
  EXPECT_EQ(m.completed, 10);
  EXPECT_EQ(m.total_output_tokens, 80);
  EXPECT_EQ(m.output_token_sources.at("chunks"), 10);
  EXPECT_EQ(m.input_token_sources.at("synthetic"), 10);
  EXPECT_EQ(m.total_input_tokens, 120);
}

TEST_F(RunnerTest, SeveralTokensPerChunk) {
  FakeServerOptions fo;
  fo.tokens_per_chunk = 3;
  auto server = Server(fo);
  BenchmarkMetrics m =
      ComputeMetrics(RunOk(Options(server->url(), 10)).results, Slo{}, {});
  EXPECT_EQ(m.completed, 10);
  EXPECT_EQ(m.total_output_tokens, 80);  // from usage, not 3 chunks
  EXPECT_EQ(m.output_token_sources.at("usage"), 10);
  EXPECT_EQ(m.itl_ms.count, 10u * 2);  // chunks 3+3+2: two gaps each
  EXPECT_EQ(m.tpot_ms.count, 10u);

  // Without usage the chunks are visibly multi-token: estimated from text.
  fo.send_usage = false;
  auto bare = Server(fo);
  m = ComputeMetrics(RunOk(Options(bare->url(), 10)).results, Slo{}, {});
  EXPECT_EQ(m.completed, 10);
  EXPECT_EQ(m.output_token_sources.at("estimate"), 10);
  EXPECT_EQ(m.total_output_tokens, 80);
}

TEST_F(RunnerTest, HttpErrorsAreCountedByStatus) {
  for (int status : {500, 429, 400}) {
    FakeServerOptions fo;
    fo.status_code = status;
    auto server = Server(fo);
    RunOutput out = RunOk(Options(server->url(), 6));
    BenchmarkMetrics m = ComputeMetrics(out.results, Slo{}, {});
    EXPECT_EQ(m.completed, 0);
    EXPECT_EQ(m.failed, 6) << out.results[0].error_kind;
    ASSERT_TRUE(m.errors.contains("http_" + std::to_string(status)))
        << out.results[0].error_kind << ": " << out.results[0].error_message;
    EXPECT_EQ(m.errors.at("http_" + std::to_string(status)), 6);
    EXPECT_NE(out.results[0].error_message.find("fake failure"),
              std::string::npos);
  }
}

TEST_F(RunnerTest, MalformedSseIsCounted) {
  FakeServerOptions fo;
  fo.malformed_sse = true;
  auto server = Server(fo);
  BenchmarkMetrics m =
      ComputeMetrics(RunOk(Options(server->url(), 5)).results, Slo{}, {});
  EXPECT_EQ(m.failed, 5);
  EXPECT_EQ(m.errors.at("malformed_sse"), 5);
}

TEST_F(RunnerTest, ConnectionRefusedIsCounted) {
  const std::string url =
      "http://127.0.0.1:" + std::to_string(FakeOpenAiServer::UnusedPort());
  BenchmarkMetrics m =
      ComputeMetrics(RunOk(Options(url, 5)).results, Slo{}, {});
  EXPECT_EQ(m.failed, 5);
  EXPECT_EQ(m.errors.at("connection_refused"), 5);
}

TEST_F(RunnerTest, HangingServerEndsAtDurationPlusGrace) {
  FakeServerOptions fo;
  fo.hang = true;
  auto server = Server(fo);
  RunnerOptions o = Options(server->url(), 0);
  o.num_prompts.reset();
  o.arrival.process = ArrivalProcess::kConstant;
  o.arrival.rate = 20;
  o.duration_s = 0.3;
  o.grace_s = 0.3;
  const auto t0 = std::chrono::steady_clock::now();
  RunOutput out = RunOk(o);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_LT(wall, 3.0);
  EXPECT_GE(wall, 0.55);
  BenchmarkMetrics m = ComputeMetrics(out.results, Slo{}, {});
  EXPECT_EQ(m.completed, 0);
  EXPECT_GE(m.failed, 4);
  EXPECT_LE(m.failed, 7);  // t = 0, 0.05, ..., 0.25 (+ timer slack)
  EXPECT_EQ(m.errors.at("deadline"), m.failed);
}

TEST_F(RunnerTest, RequestTimeoutWithoutDuration) {
  FakeServerOptions fo;
  fo.hang = true;
  auto server = Server(fo);
  RunnerOptions o = Options(server->url(), 3);
  o.request_timeout_s = 0.2;
  BenchmarkMetrics m = ComputeMetrics(RunOk(o).results, Slo{}, {});
  EXPECT_EQ(m.errors.at("timeout"), 3);
}

TEST_F(RunnerTest, NonStreamingCompletions) {
  auto server = Server();
  RunnerOptions o = Options(server->url(), 4);
  o.api.endpoint = Endpoint::kCompletions;
  o.api.stream = false;
  o.keep_text = true;
  RunOutput out = RunOk(o);
  BenchmarkMetrics m = ComputeMetrics(out.results, Slo{}, {});
  EXPECT_EQ(m.completed, 4)
      << out.results[0].error_kind << ": " << out.results[0].error_message;
  EXPECT_EQ(m.total_output_tokens, 32);
  EXPECT_EQ(m.tpot_ms.count, 0u);
  EXPECT_EQ(m.itl_ms.count, 0u);
  EXPECT_NEAR(m.ttft_ms.mean, m.e2el_ms.mean, 1e-9);
  EXPECT_EQ(out.results[0].generated_text, std::string(" tok tok tok tok"
                                                       " tok tok tok tok"));
  EXPECT_EQ(nlohmann::json::parse(server->last_body())["stream"], false);
}

TEST_F(RunnerTest, MaxConcurrencyIsRespected) {
  FakeServerOptions fo;
  fo.chunk_delay = std::chrono::milliseconds(5);
  auto server = Server(fo);
  RunnerOptions o = Options(server->url(), 8);
  o.max_concurrency = 2;
  BenchmarkMetrics m = ComputeMetrics(RunOk(o).results, Slo{}, {});
  EXPECT_EQ(m.completed, 8);
  EXPECT_LE(m.max_concurrent_requests, 2);
}

TEST_F(RunnerTest, TraceTimestampsAreHonoured) {
  auto server = Server();
  auto trace = ParseTrace(
      R"({"timestamp": 5000, "input_length": 600, "output_length": 2, "hash_ids": [7, 8]}
{"timestamp": 5150, "input_length": 600, "output_length": 2, "hash_ids": [7, 9]}
{"timestamp": 5300, "input_length": 600, "output_length": 2, "hash_ids": [7, 8]})",
      TraceOptions{}, synth_.get());
  ASSERT_TRUE(trace.ok());
  RunnerOptions o = Options(server->url(), 0);
  o.num_prompts.reset();
  RunOutput out = RunOk(o, trace->get());
  ASSERT_EQ(out.results.size(), 3u);
  const double expected[] = {0, 0.15, 0.3};
  for (int i = 0; i < 3; ++i) {
    EXPECT_DOUBLE_EQ(out.results[i].scheduled_s, expected[i]);
    EXPECT_GE(out.results[i].start_s, expected[i]);
    EXPECT_LT(out.results[i].start_s, expected[i] + 0.25);  // loaded CI slack
    EXPECT_TRUE(out.results[i].success) << out.results[i].error_message;
  }
}

TEST_F(RunnerTest, WarmupRequestsAreNotMeasured) {
  auto server = Server();
  RunnerOptions o = Options(server->url(), 10);
  o.warmup_requests = 4;
  RunOutput out = RunOk(o);
  EXPECT_EQ(out.results.size(), 10u);
  BenchmarkMetrics m = ComputeMetrics(out.results, Slo{}, {});
  EXPECT_EQ(m.completed, 6);
}

TEST_F(RunnerTest, DurationBoundedOpenLoop) {
  auto server = Server();
  RunnerOptions o = Options(server->url(), 0);
  o.num_prompts.reset();
  o.arrival.process = ArrivalProcess::kConstant;
  o.arrival.rate = 40;
  o.duration_s = 0.25;
  int progress_calls = 0;
  o.progress_interval_s = 0.05;
  o.on_progress = [&](const Progress& p) {
    ++progress_calls;
    EXPECT_EQ(*p.duration_s, 0.25);
  };
  RunOutput out = RunOk(o);
  EXPECT_GE(out.results.size(), 9u);  // t = 0, 0.025, ..., 0.225
  EXPECT_LE(out.results.size(), 10u);
  EXPECT_GE(progress_calls, 1);
  BenchmarkMetrics m = ComputeMetrics(out.results, Slo{}, {});
  EXPECT_EQ(m.failed, 0);
}

TEST(RunnerCreate, RejectsBadOptions) {
  auto synth = PromptSynthesizer::Create();
  auto ds = MakeRandomDataset(RandomOptions{}, synth->get());
  RunnerOptions o;
  o.url = "http://127.0.0.1:1";
  EXPECT_FALSE(Runner::Create(o, ds->get(), synth->get()).ok());  // no bound
  o.num_prompts = 1;
  EXPECT_TRUE(Runner::Create(o, ds->get(), synth->get()).ok());
  o.url = "https://example.com";
  EXPECT_EQ(Runner::Create(o, ds->get(), synth->get()).status().code(),
            absl::StatusCode::kUnimplemented);
  o.url = "ftp://x";
  EXPECT_FALSE(Runner::Create(o, ds->get(), synth->get()).ok());
  o.url = "http://h:99999";
  EXPECT_FALSE(Runner::Create(o, ds->get(), synth->get()).ok());
  o.url = "http://127.0.0.1:1";
  o.arrival.rate = -1;
  EXPECT_FALSE(Runner::Create(o, ds->get(), synth->get()).ok());
}

}  // namespace
}  // namespace triptych::loadgen
