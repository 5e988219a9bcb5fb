#ifndef TRIPTYCH_TOOLS_LOADGEN_PLOT_H_
#define TRIPTYCH_TOOLS_LOADGEN_PLOT_H_

// A self-contained SVG of a run: CDFs of TTFT, TPOT, ITL and E2E latency
// (with p50/p90/p99 marked) and output throughput and requests in flight
// over time. Hand-written SVG, so it needs no plotting library and opens in
// any browser.

#include <string>

#include "absl/types/span.h"
#include "tools/loadgen/metrics.h"
#include "tools/loadgen/request_result.h"

namespace triptych::loadgen {

// `title` goes on top (e.g. the label and rate).
std::string RenderSvg(const std::string& title, const BenchmarkMetrics& m,
                      absl::Span<const RequestResult> results);

}  // namespace triptych::loadgen

#endif  // TRIPTYCH_TOOLS_LOADGEN_PLOT_H_
