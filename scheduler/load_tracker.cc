#include "scheduler/load_tracker.h"

#include <algorithm>

namespace triptych::scheduler {

double LoadTracker::Ewma(double old_value, double sample) const {
  if (old_value <= 0.0) return sample;
  return options_.ewma_alpha * sample + (1.0 - options_.ewma_alpha) * old_value;
}

int64_t LoadTracker::OnAssigned(const std::string& decode,
                                const std::string& prefill,
                                int prefill_tokens) {
  absl::MutexLock lock(&mu_);
  stats_[decode].in_flight++;
  Stats& p = stats_[prefill];
  const int64_t ahead = p.pending_tokens;
  p.pending_tokens += std::max(0, prefill_tokens);
  return ahead;
}

void LoadTracker::OnFirstToken(const std::string& prefill, int prefill_tokens,
                               int64_t tokens_ahead, absl::Duration ttft) {
  absl::MutexLock lock(&mu_);
  Stats& s = stats_[prefill];
  s.pending_tokens =
      std::max<int64_t>(0, s.pending_tokens - std::max(0, prefill_tokens));
  const double seconds = absl::ToDoubleSeconds(ttft);
  // Tiny prompts say little about throughput; only learn from real work.
  if (prefill_tokens >= 16 && seconds > 0.0) {
    const double waited_for =
        static_cast<double>(std::max<int64_t>(0, tokens_ahead) + prefill_tokens);
    s.prefill_tps = Ewma(s.prefill_tps, waited_for / seconds);
  }
}

void LoadTracker::OnReleased(const std::string& decode,
                             const std::string& prefill,
                             int pending_prefill_tokens,
                             std::optional<absl::Duration> tpot) {
  absl::MutexLock lock(&mu_);
  Stats& d = stats_[decode];
  d.in_flight = std::max(0, d.in_flight - 1);
  if (tpot.has_value() && *tpot > absl::ZeroDuration()) {
    d.tpot_ms = Ewma(d.tpot_ms, absl::ToDoubleMilliseconds(*tpot));
  }
  if (pending_prefill_tokens > 0) {
    Stats& p = stats_[prefill];
    p.pending_tokens =
        std::max<int64_t>(0, p.pending_tokens - pending_prefill_tokens);
  }
}

void LoadTracker::Forget(const std::string& node) {
  absl::MutexLock lock(&mu_);
  stats_.erase(node);
}

int LoadTracker::InFlight(const std::string& node) const {
  absl::MutexLock lock(&mu_);
  auto it = stats_.find(node);
  return it == stats_.end() ? 0 : it->second.in_flight;
}

int64_t LoadTracker::PendingPrefillTokens(const std::string& node) const {
  absl::MutexLock lock(&mu_);
  auto it = stats_.find(node);
  return it == stats_.end() ? 0 : it->second.pending_tokens;
}

int LoadTracker::TotalInFlight() const {
  absl::MutexLock lock(&mu_);
  int n = 0;
  for (const auto& [id, s] : stats_) n += s.in_flight;
  return n;
}

int64_t LoadTracker::TotalPendingPrefillTokens() const {
  absl::MutexLock lock(&mu_);
  int64_t n = 0;
  for (const auto& [id, s] : stats_) n += s.pending_tokens;
  return n;
}

absl::Duration LoadTracker::EstimateTtft(const std::string& node,
                                         int new_tokens) const {
  absl::MutexLock lock(&mu_);
  int64_t pending = 0;
  double tps = 0.0;
  auto it = stats_.find(node);
  if (it != stats_.end()) {
    pending = it->second.pending_tokens;
    tps = it->second.prefill_tps;
  }
  if (tps <= 0.0) tps = options_.default_prefill_tokens_per_second;
  if (tps <= 0.0) return absl::ZeroDuration();
  return absl::Seconds(static_cast<double>(pending + std::max(0, new_tokens)) /
                       tps);
}

std::optional<absl::Duration> LoadTracker::TpotEstimate(
    const std::string& node) const {
  absl::MutexLock lock(&mu_);
  auto it = stats_.find(node);
  if (it == stats_.end() || it->second.tpot_ms <= 0.0) return std::nullopt;
  return absl::Milliseconds(it->second.tpot_ms);
}

}  // namespace triptych::scheduler
