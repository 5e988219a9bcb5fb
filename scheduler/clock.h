#ifndef TRIPTYCH_SCHEDULER_CLOCK_H_
#define TRIPTYCH_SCHEDULER_CLOCK_H_

// The time source of the scheduler core. Health timeouts, queue waits and
// latency measurements read it, so tests drive them with FakeClock instead of
// sleeping.

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace triptych::scheduler {

// Thread-safe: Now() may be called from any thread.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// Wall-clock time. Use RealClock::Get(); the instance lives forever.
class RealClock final : public Clock {
 public:
  static const Clock* Get() {
    static const RealClock* const kClock = new RealClock();
    return kClock;
  }
  absl::Time Now() const override { return absl::Now(); }
};

// A clock that moves only when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000))
      : now_(start) {}
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace triptych::scheduler

#endif  // TRIPTYCH_SCHEDULER_CLOCK_H_
