#ifndef TRIPTYCH_SERVICES_SCHEDULER_ROUTING_POOL_H_
#define TRIPTYCH_SERVICES_SCHEDULER_ROUTING_POOL_H_

// A few threads that run the blocking part of a Generate call: routing,
// which waits in the admission queue while every node is at capacity. The
// streams themselves run on gRPC's callback threads (generate_relay.h), so
// the scheduler's thread count no longer grows with the requests in flight.
// The admission queue serves waiting requests in order and only its head
// routes, so a handful of threads is enough; tasks beyond `max_backlog`
// are refused so that a burst cannot queue unbounded work here.
//
// Thread-safe. The destructor runs the tasks already accepted, then joins.

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace triptych::scheduler_service {

class RoutingPool {
 public:
  RoutingPool(int num_threads, int max_backlog);
  ~RoutingPool();
  RoutingPool(const RoutingPool&) = delete;
  RoutingPool& operator=(const RoutingPool&) = delete;

  // Queues `task`; false (and `task` is dropped) when max_backlog tasks
  // are waiting or the pool is stopping.
  bool Submit(std::function<void()> task);
  int backlog() const;

 private:
  void Loop();

  const int max_backlog_;
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace triptych::scheduler_service

#endif  // TRIPTYCH_SERVICES_SCHEDULER_ROUTING_POOL_H_
