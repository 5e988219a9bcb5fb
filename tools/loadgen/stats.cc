#include "tools/loadgen/stats.h"

#include <algorithm>
#include <cmath>

namespace triptych::loadgen {

double PercentileSorted(absl::Span<const double> sorted, double p) {
  if (sorted.empty()) return 0;
  p = std::clamp(p, 0.0, 100.0);
  const double rank = p / 100.0 * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = rank - static_cast<double>(lo);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

double Percentile(absl::Span<const double> values, double p) {
  std::vector<double> sorted(values.begin(), values.end());
  std::sort(sorted.begin(), sorted.end());
  return PercentileSorted(sorted, p);
}

double Distribution::At(double p) const {
  for (const auto& [q, v] : percentiles) {
    if (q == p) return v;
  }
  return 0;
}

Distribution Summarize(absl::Span<const double> values,
                       absl::Span<const double> percentiles) {
  Distribution d;
  d.count = values.size();
  for (double p : percentiles) d.percentiles.emplace_back(p, 0.0);
  if (values.empty()) return d;
  std::vector<double> sorted(values.begin(), values.end());
  std::sort(sorted.begin(), sorted.end());
  double sum = 0;
  for (double v : sorted) sum += v;
  d.mean = sum / static_cast<double>(sorted.size());
  double sq = 0;
  for (double v : sorted) sq += (v - d.mean) * (v - d.mean);
  d.std = std::sqrt(sq / static_cast<double>(sorted.size()));
  d.median = PercentileSorted(sorted, 50);
  d.min = sorted.front();
  d.max = sorted.back();
  for (auto& [p, v] : d.percentiles) v = PercentileSorted(sorted, p);
  return d;
}

std::pair<double, double> MeanAndCv(absl::Span<const double> values) {
  const Distribution d = Summarize(values, {});
  if (d.count == 0 || d.mean == 0) return {0, 0};
  return {d.mean, d.std / d.mean};
}

}  // namespace triptych::loadgen
