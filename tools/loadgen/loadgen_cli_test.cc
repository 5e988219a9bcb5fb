// Runs the triptych-loadgen binary as bench/serving.sh will, against the
// fake server, and checks its exit status, table, JSON result and plot.

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tools/loadgen/testing/fake_openai_server.h"

namespace triptych::loadgen {
namespace {

using loadgen_testing::FakeOpenAiServer;

// Runs the binary with `args`; returns stdout and sets *status to the exit
// code (-1 if it did not exit normally).
std::string RunLoadgen(const std::vector<std::string>& args, int* status) {
  int fds[2];
  if (pipe(fds) != 0) return "";
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv = {const_cast<char*>(TRIPTYCH_LOADGEN_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, n);
  close(fds[0]);
  int raw = 0;
  waitpid(pid, &raw, 0);
  *status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return out;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(LoadgenCli, WritesTableJsonAndPlot) {
  loadgen_testing::FakeServerOptions fo;
  fo.chunk_delay = std::chrono::milliseconds(2);  // a visible decode time
  auto server = FakeOpenAiServer::Start(fo);
  ASSERT_TRUE(server.ok());
  const std::string dir = ::testing::TempDir();
  const std::string json_path = dir + "/loadgen_result.json";
  const std::string svg_path = dir + "/loadgen_plot.svg";
  int status = 0;
  const std::string out = RunLoadgen({"--url",
                                      (*server)->url(),
                                      "--model",
                                      "fake",
                                      "--num-prompts",
                                      "40",
                                      "--request-rate",
                                      "100",
                                      "--random-input-len",
                                      "16",
                                      "--random-output-len",
                                      "4",
                                      "--goodput",
                                      "ttft:10000",
                                      "tpot:10000",
                                      "--result-json",
                                      json_path,
                                      "--plot",
                                      svg_path,
                                      "--label",
                                      "cli",
                                      "--seed",
                                      "3",
                                      "--no-progress"},
                                     &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("Successful requests:"), std::string::npos) << out;
  auto j = nlohmann::json::parse(Slurp(json_path), nullptr, false);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j["completed"], 40);
  EXPECT_EQ(j["failed"], 0);
  EXPECT_EQ(j["total_output_tokens"], 160);
  EXPECT_EQ(j["request_rate"], 100.0);
  EXPECT_EQ(j["label"], "cli");
  EXPECT_NEAR(j["request_goodput"].get<double>(),
              j["request_throughput"].get<double>(), 1e-9);
  const std::string svg = Slurp(svg_path);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
}

TEST(LoadgenCli, TraceReplayAndFailuresDoNotFailTheRun) {
  const std::string dir = ::testing::TempDir();
  const std::string trace = dir + "/loadgen_trace.jsonl";
  {
    std::ofstream f(trace);
    f << R"({"timestamp": 0, "input_length": 40, "output_length": 3, "hash_ids": [1]})"
      << "\n"
      << R"({"timestamp": 20, "input_length": 40, "output_length": 3, "hash_ids": [1]})"
      << "\n";
  }
  const std::string json_path = dir + "/loadgen_refused.json";
  const std::string url =
      "http://127.0.0.1:" + std::to_string(FakeOpenAiServer::UnusedPort());
  int status = 0;
  const std::string out = RunLoadgen(
      {"--url", url, "--model", "m", "--dataset", "trace", "--dataset-path",
       trace, "--result-json", json_path, "--no-progress"},
      &status);
  EXPECT_EQ(status, 0) << out;
  auto j = nlohmann::json::parse(Slurp(json_path), nullptr, false);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j["failed"], 2);
  EXPECT_EQ(j["errors_by_kind"]["connection_refused"], 2);
  EXPECT_EQ(j["arrival"], "trace");
}

TEST(LoadgenCli, BadArgumentsExitNonZero) {
  int status = 0;
  RunLoadgen({"--model", "m"}, &status);  // no --url
  EXPECT_NE(status, 0);
  RunLoadgen({"--url", "https://x", "--model", "m", "--num-prompts", "1"},
             &status);
  EXPECT_EQ(status, 1);
  RunLoadgen({"--url", "http://127.0.0.1:1", "--model", "m", "--dataset",
              "trace", "--dataset-path", "/nonexistent.jsonl"},
             &status);
  EXPECT_EQ(status, 1);
  RunLoadgen(
      {"--url", "http://127.0.0.1:1", "--model", "m", "--goodput", "latency:5"},
      &status);
  EXPECT_EQ(status, 1);
}

}  // namespace
}  // namespace triptych::loadgen
