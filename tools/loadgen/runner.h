#ifndef TRIPTYCH_TOOLS_LOADGEN_RUNNER_H_
#define TRIPTYCH_TOOLS_LOADGEN_RUNNER_H_

// The benchmark loop: sends a workload to a server on an open-loop schedule
// and collects what every request saw.
//
// Schedule: request i is due at the i-th arrival of the arrival process
// (or its trace timestamp). With --max-concurrency a due request waits for a
// free slot, and its latencies count from when it is actually sent (as in
// vllm). The run ends when the workload or --num-prompts is exhausted and
// every request finished, or at --duration: nothing is sent after it, and
// requests still running at duration + grace fail as "deadline". So a run
// never lasts longer than duration + grace (+ connection teardown).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/loadgen/arrival.h"
#include "tools/loadgen/dataset.h"
#include "tools/loadgen/openai.h"
#include "tools/loadgen/prompt.h"
#include "tools/loadgen/request_result.h"

namespace triptych::loadgen {

struct Progress {
  double elapsed_s = 0;
  int64_t sent = 0;
  int64_t completed = 0;
  int64_t failed = 0;
  int64_t in_flight = 0;
  int64_t output_tokens = 0;     // of completed requests
  std::optional<int64_t> total;  // requests to send, when known
  std::optional<double> duration_s;
};

struct RunnerOptions {
  std::string url;            // http://host:port[/prefix]
  std::string endpoint_path;  // empty: by api.endpoint
  std::string api_key;
  ApiOptions api;
  ArrivalOptions arrival;
  std::optional<int64_t> num_prompts;  // at least one of these two is set,
  std::optional<double> duration_s;    // unless the dataset is finite
  int64_t max_concurrency = 0;         // 0 = unlimited
  double grace_s = 30;                 // after duration, for in-flight ones
  double request_timeout_s = 600;      // per request, connect to last byte
  int64_t warmup_requests = 0;         // the first N requests are not measured
  double warmup_s = 0;                 // nor those due in the first S seconds
  bool keep_text = false;              // keep generated text in the results
  bool handle_signals = false;         // SIGINT/SIGTERM stop the run cleanly
  double progress_interval_s = 0.5;
  // Called on the run thread every progress_interval_s and once at the end.
  std::function<void(const Progress&)> on_progress;
};

struct RunOutput {
  std::vector<RequestResult> results;  // in send order
  double wall_s = 0;
  bool interrupted = false;  // stopped by a signal
};

// Not thread-safe: Run() drives a private io_context on the calling thread.
class Runner {
 public:
  // Errors: kInvalidArgument for bad options (no bound on the run, a bad
  // URL, bad rates), kUnimplemented for https. `dataset` and `counter`
  // must outlive the runner.
  static absl::StatusOr<std::unique_ptr<Runner>> Create(
      RunnerOptions options, const Dataset* dataset,
      const PromptSynthesizer* counter);
  ~Runner();
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // Runs the benchmark once. Request failures are results, not errors;
  // errors: kUnavailable when the host name does not resolve,
  // kFailedPrecondition on a second call.
  absl::StatusOr<RunOutput> Run();

 private:
  struct State;
  Runner(RunnerOptions options, const Dataset* dataset,
         const PromptSynthesizer* counter);

  const RunnerOptions options_;
  const Dataset* dataset_;
  const PromptSynthesizer* counter_;
  bool ran_ = false;
};

}  // namespace triptych::loadgen

#endif  // TRIPTYCH_TOOLS_LOADGEN_RUNNER_H_
