#ifndef TRIPTYCH_COMMON_THREAD_POOL_H_
#define TRIPTYCH_COMMON_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace triptych {

// A fork-join pool for the forward pass: Run() executes one function on every
// thread (the caller is thread 0) and returns when all have finished.
//
// Workers spin briefly before sleeping because a decode step issues hundreds
// of short parallel sections; waking sleeping threads for each would cost more
// than the work.
//
// Thread safety: Run()/ParallelFor() must not be called concurrently from
// several threads, nor re-entrantly from inside a running section.
class ThreadPool {
 public:
  // `num_threads` counts the calling thread; values < 1 mean 1.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Calls fn(thread_index, num_threads) once on each thread.
  void Run(const std::function<void(int, int)>& fn);

  // Splits [0, n) into num_threads contiguous ranges, each a multiple of
  // `grain` long (except the last), and calls fn(begin, end) for the
  // non-empty ones.
  void ParallelFor(int64_t n, int64_t grain,
                   const std::function<void(int64_t, int64_t)>& fn);

 private:
  void WorkerLoop(int index);

  const int num_threads_;
  std::vector<std::thread> workers_;
  const std::function<void(int, int)>* task_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace triptych

#endif  // TRIPTYCH_COMMON_THREAD_POOL_H_
