#ifndef TRIPTYCH_TOOLS_LOADGEN_REPORT_H_
#define TRIPTYCH_TOOLS_LOADGEN_REPORT_H_

// Human and machine output of a run: the progress line, the summary table
// and the JSON result (field names as `vllm bench serve` writes them where
// the meaning is the same).

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "nlohmann/json.hpp"
#include "tools/loadgen/metrics.h"
#include "tools/loadgen/request_result.h"
#include "tools/loadgen/runner.h"

namespace triptych::loadgen {

// Describes the run for the result file (what was asked, not measured).
struct RunInfo {
  std::string label;
  std::string url;
  std::string model;
  std::string backend;  // "openai-chat" or "openai"
  std::string dataset;
  std::string tokenizer;  // GGUF path or "" (word approximation)
  std::string arrival;
  double request_rate = 0;  // +inf for all-at-once
  double burstiness = 1;
  int64_t max_concurrency = 0;
  int64_t num_prompts = 0;  // 0 = bounded by duration / dataset
  double duration_s = 0;    // 0 = none
  bool stream = true;
  uint64_t seed = 0;
  std::map<std::string, double> goodput_slo_ms;
  bool interrupted = false;
};

// The JSON result. `detailed` adds per-request arrays (input_lens,
// output_lens, ttfts, itls, e2els in seconds, errors, start times).
nlohmann::json ResultJson(const RunInfo& info, const BenchmarkMetrics& m,
                          absl::Span<const double> percentiles,
                          absl::Span<const RequestResult> results,
                          bool detailed);

// The summary table printed at the end.
std::string SummaryTable(const RunInfo& info, const BenchmarkMetrics& m,
                         absl::Span<const double> percentiles);

// "99" for 99, "99.9" for 99.9: how percentiles appear in field names.
std::string PercentileName(double p);

// Prints progress: a redrawn bar on a terminal, else a plain line every
// `plain_interval_s`. Not thread-safe (called from the run thread).
class ProgressPrinter {
 public:
  ProgressPrinter(std::FILE* out, bool tty, double plain_interval_s = 5)
      : out_(out), tty_(tty), plain_interval_s_(plain_interval_s) {}
  void Update(const Progress& p);
  // Ends the bar's line.
  void Done();

 private:
  std::FILE* out_;
  const bool tty_;
  const double plain_interval_s_;
  double last_plain_s_ = -1e9;
  bool drawn_ = false;
};

}  // namespace triptych::loadgen

#endif  // TRIPTYCH_TOOLS_LOADGEN_REPORT_H_
