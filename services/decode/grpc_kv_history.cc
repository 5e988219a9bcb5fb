#include "services/decode/grpc_kv_history.h"

#include <utility>

#include "common/log/log.h"

namespace triptych::decode {

GrpcKvHistory::GrpcKvHistory(
    std::unique_ptr<memory_service::KvHistoryClient> client, kv::KvCache* cache,
    int num_threads, kv::StagingArea* staging)
    : client_(std::move(client)), cache_(cache), staging_(staging) {
  for (int i = 0; i < std::max(1, num_threads); ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

GrpcKvHistory::~GrpcKvHistory() { Shutdown(); }

void GrpcKvHistory::Enqueue(std::function<void()> task) {
  {
    absl::MutexLock lock(&mu_);
    if (!stop_) {
      queue_.push_back(std::move(task));
      return;
    }
  }
  task();  // after Shutdown: still call `done`
}

void GrpcKvHistory::WorkerLoop() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      // Queued jobs still run after stop: every `done` must be called and
      // the blocks they hold released.
      if (queue_.empty()) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

void GrpcKvHistory::Fetch(engine::HistoryFetchJob job, engine::HistoryFetchDone done) {
  Enqueue([this, job = std::move(job), done = std::move(done)] {
    std::vector<uint8_t*> dest;
    kv::StagingSlots slots;
    absl::StatusOr<int64_t> n = 0;
    if (staging_ != nullptr) {
      absl::StatusOr<kv::StagingSlots> got =
          staging_->Acquire(static_cast<int64_t>(job.blocks.size()));
      if (got.ok()) {
        slots = std::move(*got);
        for (size_t i = 0; i < slots.size(); ++i) dest.push_back(slots.data(i));
      } else {
        n = got.status();
      }
    } else {
      for (kv::BlockId b : job.blocks) dest.push_back(cache_->BlockData(b));
    }
    if (n.ok()) n = client_->Fetch(job.chain, dest);
    if (n.ok() && staging_ != nullptr) {
      std::vector<kv::PoolCopy> in;
      const uint64_t bb = static_cast<uint64_t>(cache_->block_bytes());
      for (int64_t i = 0; i < *n && i < static_cast<int64_t>(dest.size());
           ++i) {
        in.push_back({static_cast<uint64_t>(job.blocks[i]) * bb, dest[i],
                      static_cast<size_t>(bb)});
      }
      if (absl::Status st = cache_->CopyIn(in); !st.ok()) n = st;
    }
    if (!n.ok()) {
      {
        absl::MutexLock lock(&mu_);
        ++stats_.fetch_failures;
      }
      log::Warn("decode", "KV history fetch failed",
                {{"request_id", job.request_id}, {"error", n.status().ToString()}});
    }
    done(std::move(n));
  });
}

void GrpcKvHistory::Store(engine::HistoryStoreJob job, engine::HistoryStoreDone done) {
  Enqueue([this, job = std::move(job), done = std::move(done)] {
    std::vector<memory_service::StoreBlock> blocks;
    kv::StagingSlots slots;
    absl::StatusOr<int64_t> n = 0;
    if (staging_ != nullptr) {
      absl::StatusOr<kv::StagingSlots> got =
          staging_->Acquire(static_cast<int64_t>(job.blocks.size()));
      if (got.ok()) {
        slots = std::move(*got);
        std::vector<kv::PoolCopy> out;
        const uint64_t bb = static_cast<uint64_t>(cache_->block_bytes());
        for (size_t i = 0; i < job.blocks.size(); ++i) {
          out.push_back({static_cast<uint64_t>(job.blocks[i]) * bb,
                         slots.data(i), static_cast<size_t>(bb)});
        }
        if (absl::Status st = cache_->CopyOut(out); !st.ok()) n = st;
      } else {
        n = got.status();
      }
    }
    for (size_t i = 0; n.ok() && i < job.blocks.size(); ++i) {
      blocks.push_back({job.hashes[i], i == 0 ? 0 : job.hashes[i - 1],
                        staging_ != nullptr
                            ? slots.data(i)
                            : cache_->BlockData(job.blocks[i])});
    }
    if (n.ok()) n = client_->Store(blocks);
    if (!n.ok()) {
      {
        absl::MutexLock lock(&mu_);
        ++stats_.store_failures;
      }
      log::Warn("decode", "KV history store failed",
                {{"request_id", job.request_id}, {"error", n.status().ToString()}});
    }
    done();
  });
}

void GrpcKvHistory::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stop_ && workers_.empty()) return;
    stop_ = true;
  }
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

KvHistoryStats GrpcKvHistory::stats() const {
  absl::MutexLock lock(&mu_);
  KvHistoryStats s = stats_;
  s.client = client_->stats();
  return s;
}

}  // namespace triptych::decode
