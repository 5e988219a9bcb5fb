#ifndef TRIPTYCH_SCHEDULER_ADMISSION_QUEUE_H_
#define TRIPTYCH_SCHEDULER_ADMISSION_QUEUE_H_

// A bounded FIFO of requests waiting because every node is at capacity.
// Only the head retries routing, so waiting requests are served in arrival
// order. Anything that may free capacity (a request ends, a heartbeat, a
// registration, a cancellation) calls Notify(), which wakes the waiters.

#include <cstdint>
#include <deque>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace triptych::scheduler {

// Thread-safe.
class AdmissionQueue {
 public:
  explicit AdmissionQueue(int max_size) : max_size_(max_size) {}
  AdmissionQueue(const AdmissionQueue&) = delete;
  AdmissionQueue& operator=(const AdmissionQueue&) = delete;

  // Appends `ticket`. kResourceExhausted when max_size are waiting.
  absl::Status Enqueue(uint64_t ticket);
  // Removes `ticket` (routed, timed out or cancelled) and wakes the others.
  void Remove(uint64_t ticket);
  bool IsHead(uint64_t ticket) const;
  int size() const;

  // Capacity may have changed: wake every waiter.
  void Notify();
  // Counter bumped by every Notify()/Remove().
  uint64_t generation() const;
  // Blocks until generation() != `seen` or the wall-clock `deadline`
  // passes; returns the generation then. This is the one real-time wait of
  // the core: it only decides how long a queued request may wait.
  uint64_t WaitForChange(uint64_t seen, absl::Time deadline);

 private:
  const int max_size_;
  mutable absl::Mutex mu_;
  std::deque<uint64_t> waiting_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace triptych::scheduler

#endif  // TRIPTYCH_SCHEDULER_ADMISSION_QUEUE_H_
