#include "services/scheduler/routing_pool.h"

#include <algorithm>
#include <utility>

namespace triptych::scheduler_service {

RoutingPool::RoutingPool(int num_threads, int max_backlog)
    : max_backlog_(std::max(1, max_backlog)) {
  for (int i = 0; i < std::max(1, num_threads); ++i) {
    threads_.emplace_back([this] { Loop(); });
  }
}

RoutingPool::~RoutingPool() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

bool RoutingPool::Submit(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  if (stop_ || static_cast<int>(tasks_.size()) >= max_backlog_) return false;
  tasks_.push_back(std::move(task));
  return true;
}

int RoutingPool::backlog() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(tasks_.size());
}

void RoutingPool::Loop() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || !tasks_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (tasks_.empty()) return;  // stopping and drained
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

}  // namespace triptych::scheduler_service
