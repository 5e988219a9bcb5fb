#include "scheduler/admission_queue.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace triptych::scheduler {

absl::Status AdmissionQueue::Enqueue(uint64_t ticket) {
  absl::MutexLock lock(&mu_);
  if (static_cast<int>(waiting_.size()) >= max_size_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "all nodes at capacity and ", waiting_.size(), " requests queued"));
  }
  waiting_.push_back(ticket);
  return absl::OkStatus();
}

void AdmissionQueue::Remove(uint64_t ticket) {
  absl::MutexLock lock(&mu_);
  auto it = std::find(waiting_.begin(), waiting_.end(), ticket);
  if (it == waiting_.end()) return;
  waiting_.erase(it);
  ++generation_;
}

bool AdmissionQueue::IsHead(uint64_t ticket) const {
  absl::MutexLock lock(&mu_);
  return !waiting_.empty() && waiting_.front() == ticket;
}

int AdmissionQueue::size() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(waiting_.size());
}

void AdmissionQueue::Notify() {
  absl::MutexLock lock(&mu_);
  ++generation_;
}

uint64_t AdmissionQueue::generation() const {
  absl::MutexLock lock(&mu_);
  return generation_;
}

uint64_t AdmissionQueue::WaitForChange(uint64_t seen, absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return generation_ != seen;
  };
  mu_.AwaitWithDeadline(absl::Condition(&changed), deadline);
  return generation_;
}

}  // namespace triptych::scheduler
