#include "tools/loadgen/report.h"

#include <algorithm>
#include <cmath>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace triptych::loadgen {
namespace {

using json = nlohmann::json;

// JSON has no infinity: an infinite rate is written as the string "inf"
// (Python's json module writes Infinity, which strict parsers reject).
json Number(double v) {
  if (std::isfinite(v)) return v;
  return v > 0 ? "inf" : "-inf";
}

std::string Now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d-%H%M%S", &tm);
  return buf;
}

void AddDistribution(json& j, const char* name, const Distribution& d,
                     absl::Span<const double> percentiles) {
  j[absl::StrCat("mean_", name, "_ms")] = d.mean;
  j[absl::StrCat("median_", name, "_ms")] = d.median;
  j[absl::StrCat("std_", name, "_ms")] = d.std;
  for (double p : percentiles) {
    j[absl::StrCat("p", PercentileName(p), "_", name, "_ms")] = d.At(p);
  }
}

}  // namespace

std::string PercentileName(double p) {
  if (p == std::floor(p)) return absl::StrCat(static_cast<int64_t>(p));
  return absl::StrFormat("%g", p);
}

json ResultJson(const RunInfo& info, const BenchmarkMetrics& m,
                absl::Span<const double> percentiles,
                absl::Span<const RequestResult> results, bool detailed) {
  json j;
  j["date"] = Now();
  j["label"] = info.label;
  j["backend"] = info.backend;
  j["base_url"] = info.url;
  j["model_id"] = info.model;
  j["tokenizer_id"] =
      info.tokenizer.empty() ? json(nullptr) : json(info.tokenizer);
  j["dataset"] = info.dataset;
  j["num_prompts"] = info.num_prompts;
  j["request_rate"] = Number(info.request_rate);
  j["arrival"] = info.arrival;
  j["burstiness"] = info.burstiness;
  j["max_concurrency"] =
      info.max_concurrency > 0 ? json(info.max_concurrency) : json(nullptr);
  j["target_duration_s"] =
      info.duration_s > 0 ? json(info.duration_s) : json(nullptr);
  j["stream"] = info.stream;
  j["seed"] = info.seed;
  j["interrupted"] = info.interrupted;

  j["duration"] = m.duration_s;
  j["completed"] = m.completed;
  j["failed"] = m.failed;
  j["errors_by_kind"] = m.errors;
  j["total_input_tokens"] = m.total_input_tokens;
  j["total_output_tokens"] = m.total_output_tokens;
  j["request_throughput"] = m.request_throughput;
  j["request_goodput"] =
      m.request_goodput ? json(*m.request_goodput) : json(nullptr);
  j["goodput_slo_ms"] = info.goodput_slo_ms;
  j["good_requests"] = m.good_requests;
  j["output_throughput"] = m.output_throughput;
  j["total_token_throughput"] = m.total_token_throughput;
  j["max_output_tokens_per_s"] = m.max_output_tokens_per_s;
  j["max_concurrent_requests"] = m.max_concurrent_requests;
  j["input_token_source"] = m.input_token_sources;
  j["output_token_source"] = m.output_token_sources;
  AddDistribution(j, "ttft", m.ttft_ms, percentiles);
  AddDistribution(j, "tpot", m.tpot_ms, percentiles);
  AddDistribution(j, "itl", m.itl_ms, percentiles);
  AddDistribution(j, "e2el", m.e2el_ms, percentiles);

  json timeline = json::array();
  for (const TimelinePoint& p : m.timeline) {
    timeline.push_back({{"t_s", p.t_s},
                        {"output_tokens_per_s", p.output_tokens_per_s},
                        {"completed_per_s", p.completed_per_s},
                        {"in_flight", p.in_flight}});
  }
  j["timeline_bucket_s"] = m.timeline_bucket_s;
  j["timeline"] = std::move(timeline);

  if (detailed) {
    json in = json::array(), out = json::array(), ttfts = json::array(),
         itls = json::array(), e2els = json::array(), errors = json::array(),
         starts = json::array(), texts = json::array();
    for (const RequestResult& r : results) {
      if (r.warmup) continue;
      in.push_back(r.prompt_tokens);
      out.push_back(r.output_tokens);
      ttfts.push_back(r.success ? json(r.ttft_s()) : json(0.0));
      json itl = json::array();
      for (size_t i = 1; i < r.chunk_times_s.size(); ++i) {
        itl.push_back(r.chunk_times_s[i] - r.chunk_times_s[i - 1]);
      }
      itls.push_back(std::move(itl));
      e2els.push_back(r.e2e_s());
      errors.push_back(r.success
                           ? std::string()
                           : absl::StrCat(r.error_kind, ": ", r.error_message));
      starts.push_back(r.start_s);
      texts.push_back(r.generated_text);
    }
    j["input_lens"] = std::move(in);
    j["output_lens"] = std::move(out);
    j["ttfts"] = std::move(ttfts);
    j["itls"] = std::move(itls);
    j["e2els"] = std::move(e2els);
    j["errors"] = std::move(errors);
    j["start_times"] = std::move(starts);
    j["generated_texts"] = std::move(texts);
  }
  return j;
}

std::string SummaryTable(const RunInfo& info, const BenchmarkMetrics& m,
                         absl::Span<const double> percentiles) {
  std::string s;
  auto title = [&s](const std::string& t) {
    const int pad = std::max<int>(0, 50 - static_cast<int>(t.size()) - 2);
    absl::StrAppend(&s, std::string(pad / 2, '='), " ", t, " ",
                    std::string(pad - pad / 2, '='), "\n");
  };
  auto row = [&s](const std::string& k, const std::string& v) {
    absl::StrAppendFormat(&s, "%-40s%10s\n", k, v);
  };
  auto num = [](double v) { return absl::StrFormat("%.2f", v); };
  title(info.label.empty()
            ? "Serving Benchmark Result"
            : absl::StrCat("Serving Benchmark Result: ", info.label));
  row("Successful requests:", absl::StrCat(m.completed));
  row("Failed requests:", absl::StrCat(m.failed));
  for (const auto& [kind, n] : m.errors) {
    row(absl::StrCat("  ", kind, ":"), absl::StrCat(n));
  }
  row("Benchmark duration (s):", num(m.duration_s));
  row("Total input tokens:", absl::StrCat(m.total_input_tokens));
  row("Total generated tokens:", absl::StrCat(m.total_output_tokens));
  row("Request throughput (req/s):", num(m.request_throughput));
  if (m.request_goodput)
    row("Request goodput (req/s):", num(*m.request_goodput));
  row("Output token throughput (tok/s):", num(m.output_throughput));
  row("Total token throughput (tok/s):", num(m.total_token_throughput));
  row("Peak output throughput (tok/s):", num(m.max_output_tokens_per_s));
  row("Peak concurrent requests:", absl::StrCat(m.max_concurrent_requests));
  std::string sources;
  for (const auto& [k, n] : m.output_token_sources) {
    absl::StrAppend(&sources, sources.empty() ? "" : ",", k, ":", n);
  }
  if (!sources.empty()) row("Output tokens counted by:", sources);
  auto block = [&](const char* name, const char* longname,
                   const Distribution& d) {
    title(longname);
    row(absl::StrCat("Mean ", name, " (ms):"), num(d.mean));
    row(absl::StrCat("Median ", name, " (ms):"), num(d.median));
    row(absl::StrCat("Std ", name, " (ms):"), num(d.std));
    for (double p : percentiles) {
      row(absl::StrCat("P", PercentileName(p), " ", name, " (ms):"),
          num(d.At(p)));
    }
  };
  block("TTFT", "Time to First Token", m.ttft_ms);
  block("TPOT", "Time per Output Token (excl. 1st token)", m.tpot_ms);
  block("ITL", "Inter-token Latency", m.itl_ms);
  block("E2EL", "End-to-end Latency", m.e2el_ms);
  s += std::string(50, '=') + "\n";
  return s;
}

void ProgressPrinter::Update(const Progress& p) {
  double fraction = -1;
  if (p.duration_s && *p.duration_s > 0) {
    fraction = std::min(1.0, p.elapsed_s / *p.duration_s);
  } else if (p.total && *p.total > 0) {
    fraction = static_cast<double>(p.completed + p.failed) /
               static_cast<double>(*p.total);
  }
  const double rate =
      p.elapsed_s > 0 ? static_cast<double>(p.completed) / p.elapsed_s : 0;
  const double tok =
      p.elapsed_s > 0 ? static_cast<double>(p.output_tokens) / p.elapsed_s : 0;
  const std::string counts = absl::StrFormat(
      "%d done, %d failed, %d running | %.1f req/s, %.0f tok/s | %.0fs",
      p.completed, p.failed, p.in_flight, rate, tok, p.elapsed_s);
  if (tty_) {
    std::string bar;
    if (fraction >= 0) {
      constexpr int kWidth = 30;
      const int filled = static_cast<int>(fraction * kWidth);
      bar = absl::StrFormat("[%s%s] %3d%% ", std::string(filled, '#'),
                            std::string(kWidth - filled, '.'),
                            static_cast<int>(fraction * 100));
    }
    std::fprintf(out_, "\r\033[K%s%s", bar.c_str(), counts.c_str());
    std::fflush(out_);
    drawn_ = true;
    return;
  }
  if (p.elapsed_s - last_plain_s_ < plain_interval_s_) return;
  last_plain_s_ = p.elapsed_s;
  if (fraction >= 0) {
    std::fprintf(out_, "progress %3d%%: %s\n", static_cast<int>(fraction * 100),
                 counts.c_str());
  } else {
    std::fprintf(out_, "progress: %s\n", counts.c_str());
  }
  std::fflush(out_);
}

void ProgressPrinter::Done() {
  if (tty_ && drawn_) std::fprintf(out_, "\n");
  std::fflush(out_);
}

}  // namespace triptych::loadgen
