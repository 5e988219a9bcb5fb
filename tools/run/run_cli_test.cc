// Runs the triptych-run binary as a user would, once per reference line, and
// compares its stdout with the independent engine's output byte for byte.

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "common/testing/conformance.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace {

// Runs argv, returns stdout; sets *status to the exit status.
std::string RunCapture(const std::vector<std::string>& args, int* status) {
  int fds[2];
  if (pipe(fds) != 0) return "";
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv;
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
  waitpid(pid, status, 0);
  return out;
}

// Every line on `device` ("cpu" or "gpu": the device model on this build's
// GPU runtime, the HIP CPU Runtime in CI), F32 and F16 models alike.
void ExpectEveryReferenceLine(const std::string& dir, const std::string& device) {
  std::ifstream in(dir + "/reference/stories260K-greedy.jsonl");
  std::string line;
  int checked = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    int status = 0;
    const std::string out = RunCapture(
        {TRIPTYCH_RUN_BINARY, "-m", dir + "/models/" + j["model"].get<std::string>(),
         "-p", j["prompt"].get<std::string>(), "-n",
         std::to_string(j["n_predict"].get<int>()), "--temp", "0", "--device",
         device},
        &status);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << line;
    EXPECT_EQ(out, j["output"].get<std::string>())
        << device << " " << j["model"] << " " << j["prompt"];
    ++checked;
  }
  EXPECT_EQ(checked, 20);
}

TEST(TriptychRun, GreedyOutputMatchesReferenceForEveryLine) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  ExpectEveryReferenceLine(dir, "cpu");
}

// The device model: skips only in a build whose GPU runtime is hip or cuda
// on a machine without that GPU (never in the hip-cpu build CI runs).
TEST(TriptychRun, GreedyOutputOnTheDeviceMatchesReferenceForEveryLine) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  int status = 0;
  const std::string version = RunCapture({TRIPTYCH_RUN_BINARY, "--version"}, &status);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  if (version.find("hip-cpu") == std::string::npos) {
    RunCapture({TRIPTYCH_RUN_BINARY, "-m", dir + "/models/stories260K.gguf", "-p",
                "x", "-n", "1", "--device", "gpu"},
               &status);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 1) {
      GTEST_SKIP() << "no GPU for " << version;
    }
  }
  ExpectEveryReferenceLine(dir, "gpu");
}

// --device gpu without a GPU, or a runtime the build lacks, fails at start-up
// with a message naming the device (exit status 1, nothing on stdout).
TEST(TriptychRun, MissingDeviceFailsAtStartUp) {
  int status = 0;
  const std::string version = RunCapture({TRIPTYCH_RUN_BINARY, "--version"}, &status);
  // A runtime this build does not carry is missing everywhere.
  const std::string other = version.find("cuda") != std::string::npos ? "hip" : "cuda";
  const std::string out = RunCapture(
      {TRIPTYCH_RUN_BINARY, "-m", "/nonexistent.gguf", "-p", "x", "--device", other},
      &status);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_EQ(out, "");
  RunCapture({TRIPTYCH_RUN_BINARY, "-m", "/nonexistent.gguf", "-p", "x", "--device", "tpu"},
             &status);
  EXPECT_EQ(WEXITSTATUS(status), 1);
}

TEST(TriptychRun, MissingModelFailsCleanly) {
  int status = 0;
  RunCapture({TRIPTYCH_RUN_BINARY, "-m", "/nonexistent.gguf", "-p", "x"}, &status);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
}

}  // namespace
