#ifndef TRIPTYCH_TOOLS_LOADGEN_METRICS_H_
#define TRIPTYCH_TOOLS_LOADGEN_METRICS_H_

// Benchmark metrics from per-request results, defined as `vllm bench serve`
// defines them:
//  - TTFT: send -> first chunk carrying text (non-streaming: = E2E);
//  - TPOT: per request (E2E - TTFT) / (output_tokens - 1), for streamed
//    requests with more than one output token; every request weighs the same;
//  - ITL: every gap between consecutive text chunks of every request, pooled
//    (a chunk with k tokens is one gap, so ITL != TPOT when servers batch
//    tokens per chunk, and long requests weigh more);
//  - E2E latency: send -> last byte;
//  - goodput (DistServe): completed requests per second that meet every
//    given SLO (ttft, tpot, e2el in ms).
// Warm-up requests are excluded throughout.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "tools/loadgen/request_result.h"
#include "tools/loadgen/stats.h"

namespace triptych::loadgen {

// Service-level objectives in milliseconds; unset ones are not checked.
struct Slo {
  std::optional<double> ttft_ms;
  std::optional<double> tpot_ms;
  std::optional<double> e2el_ms;
  bool empty() const { return !ttft_ms && !tpot_ms && !e2el_ms; }
};

// Parses "ttft:500", "tpot:50", "e2el:2000" items (as --goodput takes them).
// Errors: kInvalidArgument for an unknown key, a malformed or negative value.
absl::StatusOr<Slo> ParseSlo(absl::Span<const std::string> items);

// Whether `r` (a successful request) meets every SLO in `slo`.
bool MeetsSlo(const RequestResult& r, const Slo& slo);

// One bucket of the throughput-over-time series.
struct TimelinePoint {
  double t_s = 0;  // bucket start, seconds after window start
  double output_tokens_per_s = 0;
  double completed_per_s = 0;
  int64_t in_flight = 0;  // requests in flight at the bucket middle
};

struct BenchmarkMetrics {
  double duration_s = 0;  // first measured send -> last measured finish
  int64_t completed = 0;
  int64_t failed = 0;
  std::map<std::string, int64_t> errors;  // error kind -> count
  int64_t total_input_tokens = 0;
  int64_t total_output_tokens = 0;
  double request_throughput = 0;          // completed / duration
  double output_throughput = 0;           // output tokens / s
  double total_token_throughput = 0;      // (input + output) tokens / s
  std::optional<double> request_goodput;  // set when an SLO was given
  int64_t good_requests = 0;
  Distribution ttft_ms, tpot_ms, itl_ms, e2el_ms;
  // Best whole second (vllm's definition); the mean for runs under 1 s.
  double max_output_tokens_per_s = 0;
  int64_t max_concurrent_requests = 0;
  // How the token counts of completed requests were obtained.
  std::map<std::string, int64_t> input_token_sources;
  std::map<std::string, int64_t> output_token_sources;
  // About 100 buckets of 1, 2 or 5 x 10^k s (at least 10 ms).
  double timeline_bucket_s = 1;
  std::vector<TimelinePoint> timeline;
};

// Latency samples in ms of the successful non-warm-up requests (itl pooled).
struct LatencySamples {
  std::vector<double> ttft_ms, tpot_ms, itl_ms, e2el_ms;
};
LatencySamples CollectSamples(absl::Span<const RequestResult> results);

// Computes the metrics of the non-warm-up entries of `results`.
// `percentiles` (e.g. {90, 99}) are evaluated for every latency metric.
BenchmarkMetrics ComputeMetrics(absl::Span<const RequestResult> results,
                                const Slo& slo,
                                absl::Span<const double> percentiles);

}  // namespace triptych::loadgen

#endif  // TRIPTYCH_TOOLS_LOADGEN_METRICS_H_
