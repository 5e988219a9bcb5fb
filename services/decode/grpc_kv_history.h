#ifndef TRIPTYCH_SERVICES_DECODE_GRPC_KV_HISTORY_H_
#define TRIPTYCH_SERVICES_DECODE_GRPC_KV_HISTORY_H_

// KvHistory over a memory node: fetches and stores run on a small pool of
// worker threads (KvHistoryClient blocks on gRPC and UCX), never on the
// engine's driver thread. Block ids are turned into addresses in this
// node's KV pool, which must be registered with the client's transport; or,
// with a staging area (a device pool the transport cannot take), blocks
// pass through host staging slots registered instead: fetched into slots
// and copied into the pool, copied out of the pool into slots and stored.
// Stores are best effort: a failure is counted and logged, the blocks are
// released either way.

#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/kv/staging_area.h"
#include "services/decode/decode_core.h"
#include "services/memory/history_client.h"

namespace triptych::decode {

struct KvHistoryStats {
  int64_t fetch_failures = 0;
  int64_t store_failures = 0;
  memory_service::HistoryClientStats client;
};

class GrpcKvHistory final : public KvHistory {
 public:
  // `cache` is not owned and must outlive the object.
  // `staging` (may be null: blocks go straight from and into the pool) must
  // outlive this object.
  GrpcKvHistory(std::unique_ptr<memory_service::KvHistoryClient> client,
                kv::KvCache* cache, int num_threads,
                kv::StagingArea* staging = nullptr);
  ~GrpcKvHistory() override;  // Shutdown()

  void Fetch(engine::HistoryFetchJob job, engine::HistoryFetchDone done) override;
  void Store(engine::HistoryStoreJob job, engine::HistoryStoreDone done) override;
  void Shutdown() override;
  KvHistoryStats stats() const;

 private:
  void Enqueue(std::function<void()> task);
  void WorkerLoop();

  std::unique_ptr<memory_service::KvHistoryClient> client_;
  // Where the transport reads / writes `blocks`: the pool's blocks, or with
  // staging fresh slots (held in *slots until the transfer is done).
  absl::StatusOr<std::vector<uint8_t*>> BlockAddresses(
      absl::Span<const kv::BlockId> blocks, kv::StagingSlots* slots);

  kv::KvCache* const cache_;
  kv::StagingArea* const staging_;
  std::vector<std::thread> workers_;
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  KvHistoryStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace triptych::decode

#endif  // TRIPTYCH_SERVICES_DECODE_GRPC_KV_HISTORY_H_
