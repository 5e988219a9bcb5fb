#ifndef TRIPTYCH_TOOLS_LOADGEN_STATS_H_
#define TRIPTYCH_TOOLS_LOADGEN_STATS_H_

// Descriptive statistics with the conventions of `vllm bench serve` (which
// uses numpy): percentiles interpolate linearly between closest ranks
// (numpy's default method="linear") and the standard deviation is the
// population one (ddof=0).

#include <utility>
#include <vector>

#include "absl/types/span.h"

namespace triptych::loadgen {

// The p-th percentile (p in [0, 100], clamped) of `values`, which need not be
// sorted: rank = p / 100 * (n - 1), interpolated between the two nearest
// order statistics. Returns 0 for an empty input.
double Percentile(absl::Span<const double> values, double p);

// Same on values already sorted ascending (no copy).
double PercentileSorted(absl::Span<const double> sorted, double p);

// Summary of one latency metric. All fields are 0 when count == 0.
struct Distribution {
  size_t count = 0;
  double mean = 0;
  double median = 0;
  double std = 0;  // population standard deviation (numpy ddof=0)
  double min = 0;
  double max = 0;
  // (p, value) for each requested percentile, in the order requested.
  std::vector<std::pair<double, double>> percentiles;

  // The value for percentile `p` if it was requested, else computes nothing
  // and returns 0.
  double At(double p) const;
};

// Summarises `values` and evaluates every percentile in `percentiles`.
Distribution Summarize(absl::Span<const double> values,
                       absl::Span<const double> percentiles);

// Mean and population coefficient of variation (std / mean) of `values`;
// {0, 0} when empty or the mean is 0.
std::pair<double, double> MeanAndCv(absl::Span<const double> values);

}  // namespace triptych::loadgen

#endif  // TRIPTYCH_TOOLS_LOADGEN_STATS_H_
