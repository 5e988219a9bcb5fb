#ifndef TRIPTYCH_TOOLS_LOADGEN_ARRIVAL_H_
#define TRIPTYCH_TOOLS_LOADGEN_ARRIVAL_H_

// Open-loop arrival processes: request send times that do not depend on how
// fast the server answers.

#include <cstdint>
#include <memory>
#include <random>
#include <string>

#include "absl/status/statusor.h"

namespace triptych::loadgen {

enum class ArrivalProcess {
  kPoisson,   // exponential gaps, CV = 1
  kGamma,     // gamma gaps with shape = burstiness, CV = 1 / sqrt(burstiness)
  kConstant,  // gaps of exactly 1 / rate, CV = 0
  kAllAtOnce  // every request at t = 0 (also what rate = inf means)
};

// "poisson", "gamma", "constant", "all-at-once" -> enum; kInvalidArgument
// otherwise.
absl::StatusOr<ArrivalProcess> ParseArrivalProcess(const std::string& name);
const char* ArrivalProcessName(ArrivalProcess process);

struct ArrivalOptions {
  ArrivalProcess process = ArrivalProcess::kPoisson;
  // Mean requests per second once ramped up; must be > 0 unless the process
  // is kAllAtOnce. +infinity selects kAllAtOnce.
  double rate = 1;
  // Gamma shape: < 1 burstier than Poisson, > 1 smoother, 1 = Poisson
  // (the same convention as vllm's --burstiness).
  double burstiness = 1;
  // The rate grows linearly from 0 to `rate` over this many seconds, then
  // stays (0 = no ramp). Ignored by kAllAtOnce.
  double ramp_up_s = 0;
  uint64_t seed = 0;
};

// Generates arrival times (seconds after the start, non-decreasing), an
// unbounded sequence that is the same for the same options.
//
// With a ramp the stationary process is time-warped: its n-th arrival s_n
// maps to the t where the integrated rate Λ(t) = rate * s_n, so the
// instantaneous rate is rate * min(1, t / ramp_up_s).
//
// Not thread-safe (holds the random engine).
class ArrivalGenerator {
 public:
  // Errors: kInvalidArgument for a non-positive or NaN rate, burstiness <= 0
  // or a negative ramp.
  static absl::StatusOr<std::unique_ptr<ArrivalGenerator>> Create(
      const ArrivalOptions& options);

  ArrivalGenerator(const ArrivalGenerator&) = delete;
  ArrivalGenerator& operator=(const ArrivalGenerator&) = delete;

  // The next arrival time in seconds.
  double Next();

 private:
  explicit ArrivalGenerator(const ArrivalOptions& options);
  double Warp(double stationary_s) const;

  const ArrivalOptions options_;
  std::mt19937_64 rng_;
  double stationary_s_ = 0;  // last arrival of the un-ramped process
  bool first_ = true;
};

}  // namespace triptych::loadgen

#endif  // TRIPTYCH_TOOLS_LOADGEN_ARRIVAL_H_
