#include "tools/loadgen/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace triptych::loadgen {

const char* TokenSourceName(TokenSource source) {
  switch (source) {
    case TokenSource::kNone:
      return "none";
    case TokenSource::kUsage:
      return "usage";
    case TokenSource::kTokenizer:
      return "tokenizer";
    case TokenSource::kChunks:
      return "chunks";
    case TokenSource::kEstimate:
      return "estimate";
    case TokenSource::kSynthetic:
      return "synthetic";
  }
  return "none";
}

absl::StatusOr<Slo> ParseSlo(absl::Span<const std::string> items) {
  Slo slo;
  for (const std::string& item : items) {
    std::vector<std::string> kv = absl::StrSplit(item, ':');
    double value = 0;
    if (kv.size() != 2 || !absl::SimpleAtod(kv[1], &value) ||
        !std::isfinite(value) || value < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad SLO '", item, "': want KEY:MILLISECONDS"));
    }
    if (kv[0] == "ttft") {
      slo.ttft_ms = value;
    } else if (kv[0] == "tpot") {
      slo.tpot_ms = value;
    } else if (kv[0] == "e2el") {
      slo.e2el_ms = value;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown SLO metric '", kv[0], "' (want ttft, tpot or e2el)"));
    }
  }
  return slo;
}

namespace {

// TPOT of one request in seconds, or nullopt when it has none (one token,
// or not streamed so that the first token time is unknown).
std::optional<double> Tpot(const RequestResult& r) {
  if (!r.streamed || r.output_tokens <= 1 || r.chunk_times_s.empty()) {
    return std::nullopt;
  }
  return (r.e2e_s() - r.ttft_s()) / static_cast<double>(r.output_tokens - 1);
}

}  // namespace

LatencySamples CollectSamples(absl::Span<const RequestResult> results) {
  LatencySamples s;
  for (const RequestResult& r : results) {
    if (r.warmup || !r.success) continue;
    s.ttft_ms.push_back(r.ttft_s() * 1e3);
    s.e2el_ms.push_back(r.e2e_s() * 1e3);
    if (auto t = Tpot(r)) s.tpot_ms.push_back(*t * 1e3);
    for (size_t i = 1; i < r.chunk_times_s.size(); ++i) {
      s.itl_ms.push_back((r.chunk_times_s[i] - r.chunk_times_s[i - 1]) * 1e3);
    }
  }
  return s;
}

bool MeetsSlo(const RequestResult& r, const Slo& slo) {
  if (!r.success) return false;
  if (slo.ttft_ms && r.ttft_s() * 1e3 > *slo.ttft_ms) return false;
  // As in vllm, a request without a TPOT (a single token) counts as 0.
  if (slo.tpot_ms && Tpot(r).value_or(0) * 1e3 > *slo.tpot_ms) return false;
  if (slo.e2el_ms && r.e2e_s() * 1e3 > *slo.e2el_ms) return false;
  return true;
}

BenchmarkMetrics ComputeMetrics(absl::Span<const RequestResult> results,
                                const Slo& slo,
                                absl::Span<const double> percentiles) {
  BenchmarkMetrics m;
  double begin = std::numeric_limits<double>::infinity();
  double end = -std::numeric_limits<double>::infinity();
  std::vector<std::pair<double, int>> events;  // (time, +1 start / -1 end)
  for (const RequestResult& r : results) {
    if (r.warmup) continue;
    begin = std::min(begin, r.start_s);
    end = std::max(end, r.end_s);
    events.emplace_back(r.start_s, +1);
    events.emplace_back(r.end_s, -1);
    if (!r.success) {
      ++m.failed;
      ++m.errors[r.error_kind.empty() ? "unknown" : r.error_kind];
      continue;
    }
    ++m.completed;
    m.total_input_tokens += r.prompt_tokens;
    m.total_output_tokens += r.output_tokens;
    ++m.input_token_sources[TokenSourceName(r.prompt_source)];
    ++m.output_token_sources[TokenSourceName(r.output_source)];
    if (!slo.empty() && MeetsSlo(r, slo)) ++m.good_requests;
  }
  const LatencySamples samples = CollectSamples(results);
  m.ttft_ms = Summarize(samples.ttft_ms, percentiles);
  m.tpot_ms = Summarize(samples.tpot_ms, percentiles);
  m.itl_ms = Summarize(samples.itl_ms, percentiles);
  m.e2el_ms = Summarize(samples.e2el_ms, percentiles);
  if (events.empty()) return m;

  m.duration_s = std::max(end - begin, 0.0);
  if (m.duration_s > 0) {
    m.request_throughput = static_cast<double>(m.completed) / m.duration_s;
    m.output_throughput =
        static_cast<double>(m.total_output_tokens) / m.duration_s;
    m.total_token_throughput =
        static_cast<double>(m.total_input_tokens + m.total_output_tokens) /
        m.duration_s;
    if (!slo.empty()) {
      m.request_goodput = static_cast<double>(m.good_requests) / m.duration_s;
    }
  } else if (!slo.empty()) {
    m.request_goodput = 0;
  }

  // Concurrency: sweep start/end events; ends sort before starts at a tie.
  std::sort(events.begin(), events.end());
  int64_t level = 0;
  for (const auto& [t, delta] : events) {
    level += delta;
    m.max_concurrent_requests = std::max(m.max_concurrent_requests, level);
  }

  // Throughput over time in ~100 buckets of 1, 2 or 5 x 10^k seconds.
  const double width = [&] {
    for (double mag = 0.01;; mag *= 10) {
      for (double step : {1.0, 2.0, 5.0}) {
        if (step * mag * 100 >= m.duration_s) return step * mag;
      }
    }
  }();
  m.timeline_bucket_s = width;
  const size_t n =
      std::max<size_t>(1, static_cast<size_t>(std::ceil(m.duration_s / width)));
  std::vector<double> tokens(n, 0), done(n, 0);
  auto bucket = [&](double t) {
    return std::min(n - 1,
                    static_cast<size_t>(std::max(0.0, t - begin) / width));
  };
  // Peak output throughput over whole seconds, as vllm reports it (the
  // average rate for runs shorter than a second).
  const size_t seconds = static_cast<size_t>(std::floor(m.duration_s));
  std::vector<double> per_second(std::max<size_t>(1, seconds), 0);
  auto add_tokens = [&](double t, double k) {
    tokens[bucket(t)] += k;
    const auto sec = static_cast<size_t>(std::max(0.0, t - begin));
    if (sec < seconds) per_second[sec] += k;
  };
  for (const RequestResult& r : results) {
    if (r.warmup || !r.success) continue;
    done[bucket(r.end_s)] += 1;
    for (size_t i = 0; i < r.chunk_times_s.size(); ++i) {
      add_tokens(r.chunk_times_s[i],
                 i < r.chunk_tokens.size() ? r.chunk_tokens[i] : 0);
    }
    if (r.chunk_times_s.empty()) {
      add_tokens(r.end_s, static_cast<double>(r.output_tokens));
    }
  }
  m.max_output_tokens_per_s =
      seconds == 0 ? m.output_throughput
                   : *std::max_element(per_second.begin(), per_second.end());
  m.timeline.resize(n);
  size_t e = 0;
  level = 0;
  for (size_t i = 0; i < n; ++i) {
    TimelinePoint& p = m.timeline[i];
    p.t_s = static_cast<double>(i) * width;
    // The last bucket may be cut short by the end of the run.
    const double span = std::min(width, m.duration_s - p.t_s);
    const double w = span > 1e-9 ? span : width;
    p.output_tokens_per_s = tokens[i] / w;
    p.completed_per_s = done[i] / w;
    const double mid = begin + p.t_s + w / 2;
    while (e < events.size() && events[e].first <= mid) {
      level += events[e++].second;
    }
    p.in_flight = level;
  }
  return m;
}

}  // namespace triptych::loadgen
