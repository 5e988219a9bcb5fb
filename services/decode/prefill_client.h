#ifndef TRIPTYCH_SERVICES_DECODE_PREFILL_CLIENT_H_
#define TRIPTYCH_SERVICES_DECODE_PREFILL_CLIENT_H_

// PrefillClient over gRPC: sends PrefillNode.Prefill with this node's KV
// target (UCX address, rkey, pool base, block ids) and turns the response's
// logits into the engine's RemotePrefillDone. Calls run on a small pool of
// worker threads (blocking stubs with deadlines), never on the engine's
// driver thread.
//
// With staging (KvStagingTarget, when this node's pool is device memory
// the transport cannot take): each call takes host staging slots for its
// blocks, the prefill node writes into those (the staging area is the
// registered target), and on success the written ranges are copied into
// the pool before `done` runs. No free slots: the call fails with
// kResourceExhausted and the engine prefills locally.

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "proto/triptych.grpc.pb.h"
#include "runtime/kv/staging_area.h"
#include "services/decode/decode_core.h"
#include "services/prefill/kv_copies.h"
#include "transport/types.h"

namespace triptych::decode {

// What prefill nodes need to write into this node's KV pool.
struct KvTargetInfo {
  transport::PeerAddress address;
  std::string rkey;
  uint64_t pool_base = 0;
  uint64_t block_bytes = 0;
  uint64_t layer_stride_bytes = 0;
  triptych::v1::KvGeometry geometry;
};

// Staged receive: the area registered as the target, the pool the bytes go
// to, and its block layout. area == nullptr: prefill nodes write the pool.
struct KvStagingTarget {
  kv::StagingArea* area = nullptr;
  kv::KvCache* cache = nullptr;
  prefill::BlockLayout layout;
};

struct PrefillClientStats {
  int64_t calls = 0;
  int64_t failures = 0;
  uint64_t kv_bytes_received = 0;  // bytes prefill nodes confirmed written here
  uint64_t kv_bytes_staged =
      0;  // of those, copied from staging slots into the pool
  double transfer_ms = 0;          // their reported transfer time
};

class GrpcPrefillClient final : public PrefillClient {
 public:
  GrpcPrefillClient(KvTargetInfo target, int num_threads,
                    absl::Duration timeout, KvStagingTarget staging = {});
  ~GrpcPrefillClient() override;

  void Prefill(engine::RemotePrefillJob job, engine::RemotePrefillDone done) override;
  void Shutdown() override;
  PrefillClientStats stats() const;

 private:
  struct Call {
    engine::RemotePrefillJob job;
    engine::RemotePrefillDone done;
  };
  void WorkerLoop();
  void Run(Call& call);
  triptych::v1::PrefillNode::Stub* StubFor(const std::string& address);

  // With staging: the written ranges, slots -> pool.
  absl::Status Unstage(const engine::RemotePrefillJob& job,
                       const kv::StagingSlots& slots, uint64_t* bytes);

  const KvTargetInfo target_;
  const KvStagingTarget staging_;
  const absl::Duration timeout_;
  std::vector<std::thread> workers_;
  mutable absl::Mutex mu_;
  std::deque<Call> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::unique_ptr<triptych::v1::PrefillNode::Stub>> stubs_
      ABSL_GUARDED_BY(mu_);
  PrefillClientStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace triptych::decode

#endif  // TRIPTYCH_SERVICES_DECODE_PREFILL_CLIENT_H_
