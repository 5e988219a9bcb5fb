#include "services/decode/grpc_kv_history.h"

#include <algorithm>
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

absl::StatusOr<std::vector<uint8_t*>> GrpcKvHistory::BlockAddresses(
    absl::Span<const kv::BlockId> blocks, kv::StagingSlots* slots) {
  std::vector<uint8_t*> out;
  if (staging_ == nullptr) {
    for (kv::BlockId b : blocks) out.push_back(cache_->BlockData(b));
    return out;
  }
  absl::StatusOr<kv::StagingSlots> got =
      staging_->Acquire(static_cast<int64_t>(blocks.size()));
  if (!got.ok()) return got.status();
  *slots = std::move(*got);
  for (size_t i = 0; i < slots->size(); ++i) out.push_back(slots->data(i));
  return out;
}

void GrpcKvHistory::Fetch(engine::HistoryFetchJob job, engine::HistoryFetchDone done) {
  Enqueue([this, job = std::move(job), done = std::move(done)] {
    kv::StagingSlots slots;
    absl::StatusOr<std::vector<uint8_t*>> dest =
        BlockAddresses(job.blocks, &slots);
    absl::StatusOr<int64_t> n =
        dest.ok() ? client_->Fetch(job.chain, *dest) : dest.status();
    if (n.ok() && staging_ != nullptr) {
      const size_t got =
          std::min(static_cast<size_t>(std::max<int64_t>(*n, 0)), dest->size());
      if (absl::Status st = cache_->CopyIn(cache_->BlockCopies(
              absl::MakeConstSpan(job.blocks).subspan(0, got), *dest));
          !st.ok()) {
        n = st;
      }
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
    absl::StatusOr<std::vector<uint8_t*>> src =
        BlockAddresses(job.blocks, &slots);
    absl::StatusOr<int64_t> n = 0;
    if (!src.ok()) n = src.status();
    if (n.ok() && staging_ != nullptr) {
      if (absl::Status st =
              cache_->CopyOut(cache_->BlockCopies(job.blocks, *src));
          !st.ok()) {
        n = st;
      }
    }
    for (size_t i = 0; n.ok() && i < job.blocks.size(); ++i) {
      blocks.push_back(
          {job.hashes[i], i == 0 ? 0 : job.hashes[i - 1], (*src)[i]});
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
