#include "tools/loadgen/runner.h"

#include <csignal>
#include <deque>
#include <exception>
#include <utility>  // before Asio: its awaitable.hpp uses std::exchange

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "boost/asio/co_spawn.hpp"
#include "boost/asio/detached.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/redirect_error.hpp"
#include "boost/asio/signal_set.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/use_awaitable.hpp"
#include "tools/loadgen/client.h"

namespace triptych::loadgen {

namespace asio = boost::asio;

namespace {

Clock::duration Seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(s));
}

}  // namespace

// Everything one Run() touches; lives on Run()'s stack frame and is used only
// from the io_context thread (the caller's).
struct Runner::State {
  explicit State(const RunnerOptions& o) : options(o) {}

  const RunnerOptions& options;
  asio::io_context io{1};
  ClientConfig config;
  StreamRegistry registry;
  std::deque<RequestResult> results;  // deque: pointers stay valid
  std::unique_ptr<ArrivalGenerator> arrivals;
  asio::steady_timer arrival_timer{io};
  asio::steady_timer slot_timer{io};
  asio::steady_timer progress_timer{io};
  asio::signal_set signals{io};
  std::optional<Clock::time_point> hard_deadline;
  int64_t in_flight = 0;
  int64_t completed = 0;
  int64_t failed = 0;
  int64_t output_tokens = 0;
  bool dispatch_done = false;
  bool finished = false;
  bool stopping = false;
  bool interrupted = false;

  Progress MakeProgress(std::optional<int64_t> total) const {
    Progress p;
    p.elapsed_s =
        std::chrono::duration<double>(Clock::now() - config.epoch).count();
    p.sent = static_cast<int64_t>(results.size());
    p.completed = completed;
    p.failed = failed;
    p.in_flight = in_flight;
    p.output_tokens = output_tokens;
    p.total = total;
    p.duration_s = options.duration_s;
    return p;
  }

  // Ends the run once nothing is left to send or wait for.
  void MaybeFinish() {
    if (!dispatch_done || in_flight > 0 || finished) return;
    finished = true;
    progress_timer.cancel();
    boost::system::error_code ignored;
    signals.cancel(ignored);
  }

  void Stop() {
    stopping = true;
    interrupted = true;
    arrival_timer.cancel();
    slot_timer.cancel();
    registry.CancelAll();
  }
};

Runner::Runner(RunnerOptions options, const Dataset* dataset,
               const PromptSynthesizer* counter)
    : options_(std::move(options)), dataset_(dataset), counter_(counter) {}

Runner::~Runner() = default;

absl::StatusOr<std::unique_ptr<Runner>> Runner::Create(
    RunnerOptions options, const Dataset* dataset,
    const PromptSynthesizer* counter) {
  if (dataset == nullptr || counter == nullptr) {
    return absl::InvalidArgumentError("dataset and counter are required");
  }
  if (!options.num_prompts && !options.duration_s && !dataset->size()) {
    return absl::InvalidArgumentError(
        "the run needs a bound: a number of prompts or a duration");
  }
  if (options.num_prompts && *options.num_prompts < 0) {
    return absl::InvalidArgumentError("number of prompts must be >= 0");
  }
  if (options.duration_s && !(*options.duration_s > 0)) {
    return absl::InvalidArgumentError("duration must be > 0");
  }
  if (!(options.grace_s >= 0) || !(options.request_timeout_s > 0) ||
      options.max_concurrency < 0 || options.warmup_requests < 0 ||
      !(options.warmup_s >= 0) || !(options.progress_interval_s > 0)) {
    return absl::InvalidArgumentError(
        "grace, warm-up and concurrency must be >= 0, timeouts and the "
        "progress interval > 0");
  }
  const std::string path = options.endpoint_path.empty()
                               ? EndpointPath(options.api.endpoint)
                               : options.endpoint_path;
  if (auto t = ParseUrl(options.url, path); !t.ok()) return t.status();
  if (auto a = ArrivalGenerator::Create(options.arrival); !a.ok()) {
    return a.status();
  }
  return std::unique_ptr<Runner>(
      new Runner(std::move(options), dataset, counter));
}

absl::StatusOr<RunOutput> Runner::Run() {
  if (ran_) return absl::FailedPreconditionError("Run() is called once");
  ran_ = true;
  const RunnerOptions& o = options_;
  State s(o);
  const std::string path =
      o.endpoint_path.empty() ? EndpointPath(o.api.endpoint) : o.endpoint_path;
  auto target = ParseUrl(o.url, path);
  if (!target.ok()) return target.status();
  auto arrivals = ArrivalGenerator::Create(o.arrival);
  if (!arrivals.ok()) return arrivals.status();
  s.arrivals = std::move(*arrivals);

  asio::ip::tcp::resolver resolver(s.io);
  boost::system::error_code ec;
  s.config.endpoints = resolver.resolve(target->host, target->port, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve ", target->host, ": ", ec.message()));
  }
  s.config.target = *target;
  s.config.api = o.api;
  s.config.api_key = o.api_key;
  s.config.keep_text = o.keep_text;
  s.config.counter = counter_;
  s.config.registry = &s.registry;

  std::optional<int64_t> total = o.num_prompts;
  if (const auto n = dataset_->size(); n && (!total || *n < *total)) {
    total = n;
  }
  if (o.duration_s) total.reset();  // bounded by time, count unknown

  if (o.handle_signals) {
    s.signals.add(SIGINT);
    s.signals.add(SIGTERM);
    s.signals.async_wait([&s](const boost::system::error_code& e, int) {
      if (!e) s.Stop();
    });
  }

  s.config.epoch = Clock::now();
  if (o.duration_s) {
    s.hard_deadline = s.config.epoch + Seconds(*o.duration_s + o.grace_s);
  }

  auto dispatch = [&]() -> asio::awaitable<void> {
    boost::system::error_code wait_ec;
    auto token = asio::redirect_error(asio::use_awaitable, wait_ec);
    const Clock::time_point epoch = s.config.epoch;
    const std::optional<Clock::time_point> end =
        o.duration_s ? std::optional(epoch + Seconds(*o.duration_s))
                     : std::nullopt;
    for (int64_t i = 0; !s.stopping; ++i) {
      if (o.num_prompts && i >= *o.num_prompts) break;
      std::optional<RequestSpec> spec = dataset_->Get(i);
      if (!spec) break;
      const double due = dataset_->has_timestamps() && spec->timestamp_s
                             ? *spec->timestamp_s
                             : s.arrivals->Next();
      if (o.duration_s && due >= *o.duration_s) break;
      s.arrival_timer.expires_at(epoch + Seconds(due));
      co_await s.arrival_timer.async_wait(token);
      while (!s.stopping && o.max_concurrency > 0 &&
             s.in_flight >= o.max_concurrency &&
             (!end || Clock::now() < *end)) {
        s.slot_timer.expires_at(
            end.value_or(Clock::now() + std::chrono::hours(24 * 365)));
        co_await s.slot_timer.async_wait(token);
      }
      if (s.stopping || (end && Clock::now() >= *end)) break;

      RequestResult& r = s.results.emplace_back();
      r.index = i;
      r.scheduled_s = due;
      r.warmup = i < o.warmup_requests || due < o.warmup_s;
      Clock::time_point deadline = Clock::now() + Seconds(o.request_timeout_s);
      bool global = false;
      if (s.hard_deadline && *s.hard_deadline <= deadline) {
        deadline = *s.hard_deadline;
        global = true;
      }
      ++s.in_flight;
      asio::co_spawn(
          s.io, SendRequest(s.config, std::move(*spec), deadline, global, &r),
          [&s, &r](std::exception_ptr e) {
            if (e) {
              r.success = false;
              r.error_kind = "internal";
            }
            --s.in_flight;
            if (r.success) {
              ++s.completed;
              s.output_tokens += r.output_tokens;
            } else {
              ++s.failed;
            }
            s.slot_timer.cancel();
            s.MaybeFinish();
          });
    }
    s.dispatch_done = true;
    s.MaybeFinish();
  };
  asio::co_spawn(s.io, dispatch(), asio::detached);

  // The coroutine lambdas must outlive io.run(): their frames refer to them.
  auto progress = [&]() -> asio::awaitable<void> {
    boost::system::error_code wait_ec;
    while (!s.finished) {
      s.progress_timer.expires_after(Seconds(o.progress_interval_s));
      co_await s.progress_timer.async_wait(
          asio::redirect_error(asio::use_awaitable, wait_ec));
      if (!s.finished) o.on_progress(s.MakeProgress(total));
    }
  };
  if (o.on_progress) asio::co_spawn(s.io, progress(), asio::detached);

  s.io.run();
  if (o.on_progress) o.on_progress(s.MakeProgress(total));

  RunOutput out;
  out.wall_s =
      std::chrono::duration<double>(Clock::now() - s.config.epoch).count();
  out.interrupted = s.interrupted;
  out.results.assign(std::make_move_iterator(s.results.begin()),
                     std::make_move_iterator(s.results.end()));
  return out;
}

}  // namespace triptych::loadgen
