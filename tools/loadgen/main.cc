// triptych-loadgen: open-loop load generator and serving benchmark for any
// OpenAI-compatible server. See docs/LOADGEN.md.

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/gguf/gguf_reader.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tools/loadgen/dataset.h"
#include "tools/loadgen/metrics.h"
#include "tools/loadgen/plot.h"
#include "tools/loadgen/prompt.h"
#include "tools/loadgen/report.h"
#include "tools/loadgen/runner.h"

namespace {

using namespace triptych::loadgen;  // NOLINT: a main file

// Thousands of concurrent connections need as many descriptors.
void RaiseFileLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int Fail(const absl::Status& s) {
  std::cerr << "triptych-loadgen: " << s.message() << "\n";
  return 1;
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

int Run(int argc, char** argv) {
  CLI::App app{
      "Open-loop load generator and serving benchmark for "
      "OpenAI-compatible servers"};
  RunnerOptions ro;
  RandomOptions rnd;
  SharedPrefixOptions prefix;
  MultiTurnOptions multi;
  TraceOptions trace;
  ShareGptOptions sharegpt;
  std::string api = "chat", dataset_name = "random", dataset_path,
              arrival = "poisson", len_dist = "fixed", tokenizer_path,
              result_json, plot_path, label;
  std::string percentiles_text = "90,99";
  std::vector<std::string> goodput;
  double rate = std::numeric_limits<double>::infinity();
  int64_t num_prompts = 0;
  double duration = 0;
  uint64_t seed = 0;
  int64_t output_len_override = 0;
  bool no_stream = false, save_detailed = false, no_progress = false,
       trace_no_timestamps = false;
  double temperature = -1;

  app.add_option("--url", ro.url, "Server base URL, http://host:port")
      ->required();
  app.add_option("--model", ro.api.model, "Model name sent in requests")
      ->required();
  app.add_option("--api", api, "chat or completions")
      ->check(CLI::IsMember({"chat", "completions"}));
  app.add_option("--endpoint", ro.endpoint_path,
                 "Request path (default /v1/chat/completions or "
                 "/v1/completions by --api)");
  app.add_option("--api-key", ro.api_key,
                 "Bearer token (default: $OPENAI_API_KEY)");
  app.add_flag("--no-stream", no_stream, "Non-streaming requests");
  app.add_flag("--ignore-eos", ro.api.ignore_eos,
               "Send ignore_eos: true so outputs reach max_tokens");
  app.add_option("--temperature", temperature,
                 "Sampling temperature (default: server's)");
  app.add_option("--extra-body", ro.api.extra_body,
                 "JSON object merged into every request body");

  app.add_option("--dataset", dataset_name,
                 "random, shared-prefix, multi-turn, trace, sharegpt")
      ->check(CLI::IsMember(
          {"random", "shared-prefix", "multi-turn", "trace", "sharegpt"}));
  app.add_option("--dataset-path", dataset_path,
                 "JSONL trace or ShareGPT JSON file");
  app.add_option("--random-input-len", rnd.input_len, "Prompt tokens");
  app.add_option("--random-output-len", rnd.output_len, "Output tokens");
  app.add_option("--random-len-dist", len_dist, "fixed, uniform or normal");
  app.add_option("--random-range-ratio", rnd.range_ratio,
                 "uniform: +-ratio of the length; normal: std / length");
  app.add_option("--random-prefix-len", rnd.prefix_len,
                 "Tokens of one fixed prefix before every random prompt");
  app.add_option("--prefix-groups", prefix.num_groups,
                 "shared-prefix: number of distinct prefixes");
  app.add_option("--prefix-len", prefix.prefix_len,
                 "shared-prefix: tokens per shared prefix");
  app.add_option("--turns", multi.turns, "multi-turn: turns per conversation");
  app.add_option("--conversations", multi.conversations,
                 "multi-turn: conversations interleaved per wave");
  app.add_option("--trace-block-size", trace.block_size,
                 "trace: tokens per hash id block");
  app.add_option("--trace-speedup", trace.speedup,
                 "trace: replay this many times faster");
  app.add_flag("--trace-ignore-timestamps", trace_no_timestamps,
               "trace: use the arrival process instead of timestamps");
  app.add_option("--output-len", output_len_override,
                 "trace/sharegpt: fixed output tokens instead of the file's");
  app.add_option("--tokenizer", tokenizer_path,
                 "GGUF file whose tokenizer sizes prompts and counts tokens "
                 "(default: one word ~ one token)");

  app.add_option("--request-rate", rate, "Mean requests/s (inf: all at once)");
  app.add_option("--arrival", arrival, "poisson, gamma, constant, all-at-once")
      ->check(CLI::IsMember({"poisson", "gamma", "constant", "all-at-once"}));
  app.add_option("--burstiness", ro.arrival.burstiness,
                 "Gamma shape: <1 bursty, 1 Poisson, >1 smooth (implies "
                 "--arrival gamma when != 1)");
  app.add_option("--ramp-up", ro.arrival.ramp_up_s,
                 "Seconds over which the rate grows linearly from 0");
  app.add_option("--seed", seed, "Seed for arrivals and prompts");
  app.add_option("--num-prompts", num_prompts,
                 "Requests to send (default 1000 unless --duration)");
  app.add_option("--duration", duration,
                 "Stop sending after this many seconds");
  app.add_option("--max-concurrency", ro.max_concurrency,
                 "Most requests in flight (0: unlimited)");
  app.add_option("--grace", ro.grace_s,
                 "Seconds after --duration that running requests may take");
  app.add_option("--request-timeout", ro.request_timeout_s,
                 "Per-request timeout in seconds");
  app.add_option("--warmup-requests", ro.warmup_requests,
                 "The first N requests are sent but not measured");
  app.add_option("--warmup-seconds", ro.warmup_s,
                 "Requests due in the first S seconds are not measured");
  app.add_option("--goodput", goodput,
                 "SLOs in ms for goodput, e.g. --goodput ttft:500 tpot:50");
  app.add_option("--percentiles", percentiles_text,
                 "Comma-separated percentiles to report");
  app.add_option("--result-json", result_json, "Write the JSON result here");
  app.add_option("--plot", plot_path, "Write an SVG plot here");
  app.add_option("--label", label, "Label for this run in outputs");
  app.add_flag("--save-detailed", save_detailed,
               "Per-request arrays (and texts) in the JSON result");
  app.add_flag("--no-progress", no_progress, "No progress output");
  CLI11_PARSE(app, argc, argv);

  if (ro.api_key.empty()) {
    if (const char* k = std::getenv("OPENAI_API_KEY")) ro.api_key = k;
  }
  auto endpoint = ParseEndpoint(api);
  if (!endpoint.ok()) return Fail(endpoint.status());
  ro.api.endpoint = *endpoint;
  ro.api.stream = !no_stream;
  if (temperature >= 0) ro.api.temperature = temperature;
  auto dist = ParseLengthDistribution(len_dist);
  if (!dist.ok()) return Fail(dist.status());
  rnd.distribution = *dist;
  rnd.seed = seed;
  trace.seed = seed;
  trace.use_timestamps = !trace_no_timestamps;
  if (output_len_override > 0) {
    trace.output_len = output_len_override;
    sharegpt.output_len = output_len_override;
  }
  auto process = ParseArrivalProcess(arrival);
  if (!process.ok()) return Fail(process.status());
  ro.arrival.process = *process;
  if (ro.arrival.burstiness != 1 &&
      ro.arrival.process == ArrivalProcess::kPoisson) {
    ro.arrival.process = ArrivalProcess::kGamma;
  }
  ro.arrival.rate = rate;
  if (std::isinf(rate)) ro.arrival.process = ArrivalProcess::kAllAtOnce;
  ro.arrival.seed = seed;
  std::vector<double> percentiles;
  for (const std::string& p : CLI::detail::split(percentiles_text, ',')) {
    double v = 0;
    if (!absl::SimpleAtod(p, &v) || !(v >= 0 && v <= 100)) {
      return Fail(
          absl::InvalidArgumentError(absl::StrCat("bad percentile '", p, "'")));
    }
    percentiles.push_back(v);
  }
  auto slo = ParseSlo(goodput);
  if (!slo.ok()) return Fail(slo.status());

  std::unique_ptr<triptych::gguf::GgufFile> gguf;
  std::unique_ptr<triptych::tokenizer::Tokenizer> tokenizer;
  if (!tokenizer_path.empty()) {
    auto file = triptych::gguf::GgufFile::Open(tokenizer_path);
    if (!file.ok()) return Fail(file.status());
    gguf = std::move(*file);
    auto tok = triptych::tokenizer::Tokenizer::FromGguf(*gguf);
    if (!tok.ok()) return Fail(tok.status());
    tokenizer = std::move(*tok);
  }
  TokenCounter counter;
  if (tokenizer) {
    counter = [tok = tokenizer.get()](std::string_view text) {
      return static_cast<int64_t>(
          tok->Encode(text, /*add_special=*/false, /*parse_special=*/false)
              .size());
    };
  }
  auto synth = PromptSynthesizer::Create(counter);
  if (!synth.ok()) return Fail(synth.status());

  absl::StatusOr<std::unique_ptr<Dataset>> dataset;
  if ((dataset_name == "trace" || dataset_name == "sharegpt") &&
      dataset_path.empty()) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--dataset ", dataset_name, " needs --dataset-path")));
  }
  if (dataset_name == "random") {
    dataset = MakeRandomDataset(rnd, synth->get());
  } else if (dataset_name == "shared-prefix") {
    dataset = MakeSharedPrefixDataset(rnd, prefix, synth->get());
  } else if (dataset_name == "multi-turn") {
    dataset = MakeMultiTurnDataset(rnd, multi, synth->get());
  } else if (dataset_name == "trace") {
    dataset = LoadTrace(dataset_path, trace, synth->get());
  } else {
    dataset = LoadShareGpt(dataset_path, sharegpt, synth->get());
  }
  if (!dataset.ok()) return Fail(dataset.status());

  if (num_prompts > 0) ro.num_prompts = num_prompts;
  if (duration > 0) ro.duration_s = duration;
  if (!ro.num_prompts && !ro.duration_s && !(*dataset)->size()) {
    ro.num_prompts = 1000;
  }
  const bool tty = isatty(STDERR_FILENO) != 0;
  ProgressPrinter printer(stderr, tty);
  if (!no_progress) {
    ro.on_progress = [&printer](const Progress& p) { printer.Update(p); };
  }
  ro.keep_text = save_detailed;
  ro.handle_signals = true;
  RaiseFileLimit();

  auto runner = Runner::Create(ro, dataset->get(), synth->get());
  if (!runner.ok()) return Fail(runner.status());
  auto out = (*runner)->Run();
  if (!out.ok()) return Fail(out.status());
  if (!no_progress) printer.Done();

  const BenchmarkMetrics m = ComputeMetrics(out->results, *slo, percentiles);
  RunInfo info;
  info.label = label;
  info.url = ro.url;
  info.model = ro.api.model;
  info.backend = ro.api.endpoint == Endpoint::kChat ? "openai-chat" : "openai";
  info.dataset = (*dataset)->name();
  info.tokenizer = tokenizer_path;
  info.arrival = (*dataset)->has_timestamps()
                     ? "trace"
                     : ArrivalProcessName(ro.arrival.process);
  info.request_rate = rate;
  info.burstiness = ro.arrival.burstiness;
  info.max_concurrency = ro.max_concurrency;
  info.num_prompts = ro.num_prompts.value_or(0);
  info.duration_s = ro.duration_s.value_or(0);
  info.stream = ro.api.stream;
  info.seed = seed;
  info.interrupted = out->interrupted;
  if (slo->ttft_ms) info.goodput_slo_ms["ttft"] = *slo->ttft_ms;
  if (slo->tpot_ms) info.goodput_slo_ms["tpot"] = *slo->tpot_ms;
  if (slo->e2el_ms) info.goodput_slo_ms["e2el"] = *slo->e2el_ms;

  std::cout << SummaryTable(info, m, percentiles) << std::flush;
  int rc = out->interrupted ? 130 : 0;
  if (!result_json.empty()) {
    const auto j =
        ResultJson(info, m, percentiles, out->results, save_detailed);
    if (!WriteFile(
            result_json,
            j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) +
                "\n")) {
      std::cerr << "triptych-loadgen: cannot write " << result_json << "\n";
      rc = 1;
    }
  }
  if (!plot_path.empty()) {
    std::string title = label.empty() ? ro.api.model : label;
    if (!std::isinf(rate)) absl::StrAppend(&title, " @ ", rate, " req/s");
    if (!WriteFile(plot_path, RenderSvg(title, m, out->results))) {
      std::cerr << "triptych-loadgen: cannot write " << plot_path << "\n";
      rc = 1;
    }
  }
  return rc;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
