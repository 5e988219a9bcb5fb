#include "tools/loadgen/arrival.h"

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace triptych::loadgen {

absl::StatusOr<ArrivalProcess> ParseArrivalProcess(const std::string& name) {
  if (name == "poisson") return ArrivalProcess::kPoisson;
  if (name == "gamma") return ArrivalProcess::kGamma;
  if (name == "constant") return ArrivalProcess::kConstant;
  if (name == "all-at-once") return ArrivalProcess::kAllAtOnce;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown arrival process '", name,
                   "' (want poisson, gamma, constant or all-at-once)"));
}

const char* ArrivalProcessName(ArrivalProcess process) {
  switch (process) {
    case ArrivalProcess::kPoisson:
      return "poisson";
    case ArrivalProcess::kGamma:
      return "gamma";
    case ArrivalProcess::kConstant:
      return "constant";
    case ArrivalProcess::kAllAtOnce:
      return "all-at-once";
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<ArrivalGenerator>> ArrivalGenerator::Create(
    const ArrivalOptions& options) {
  ArrivalOptions o = options;
  if (std::isinf(o.rate) && o.rate > 0) o.process = ArrivalProcess::kAllAtOnce;
  if (o.process != ArrivalProcess::kAllAtOnce &&
      (!(o.rate > 0) || !std::isfinite(o.rate))) {
    return absl::InvalidArgumentError(
        absl::StrCat("request rate must be > 0, got ", o.rate));
  }
  if (!(o.burstiness > 0) || !std::isfinite(o.burstiness)) {
    return absl::InvalidArgumentError(
        absl::StrCat("burstiness must be > 0, got ", o.burstiness));
  }
  if (!(o.ramp_up_s >= 0) || !std::isfinite(o.ramp_up_s)) {
    return absl::InvalidArgumentError("ramp-up must be >= 0 seconds");
  }
  return std::unique_ptr<ArrivalGenerator>(new ArrivalGenerator(o));
}

ArrivalGenerator::ArrivalGenerator(const ArrivalOptions& options)
    : options_(options), rng_(options.seed) {}

double ArrivalGenerator::Warp(double s) const {
  const double ramp = options_.ramp_up_s;
  if (ramp <= 0) return s;
  // Λ(t) / rate = t^2 / (2 ramp) for t < ramp, ramp / 2 + (t - ramp) after.
  if (s < ramp / 2) return std::sqrt(2 * ramp * s);
  return ramp + (s - ramp / 2);
}

double ArrivalGenerator::Next() {
  const double rate = options_.rate;
  double gap = 0;
  switch (options_.process) {
    case ArrivalProcess::kAllAtOnce:
      return 0;
    case ArrivalProcess::kPoisson:
      gap = std::exponential_distribution<double>(rate)(rng_);
      break;
    case ArrivalProcess::kGamma: {
      const double k = options_.burstiness;
      gap = std::gamma_distribution<double>(k, 1.0 / (rate * k))(rng_);
      break;
    }
    case ArrivalProcess::kConstant:
      // The first request goes at t = 0, the rest 1 / rate apart.
      gap = first_ ? 0 : 1.0 / rate;
      break;
  }
  first_ = false;
  stationary_s_ += gap;
  return Warp(stationary_s_);
}

}  // namespace triptych::loadgen
