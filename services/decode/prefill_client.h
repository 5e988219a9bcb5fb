#ifndef TRIPTYCH_SERVICES_DECODE_PREFILL_CLIENT_H_
#define TRIPTYCH_SERVICES_DECODE_PREFILL_CLIENT_H_

// PrefillClient over gRPC: sends PrefillNode.Prefill with this node's KV
// target (UCX address, rkey, pool base, block ids) and turns the response's
// logits into the engine's RemotePrefillDone. Calls run on a small pool of
// worker threads (blocking stubs with deadlines), never on the engine's
// driver thread.

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "proto/triptych.grpc.pb.h"
#include "services/decode/decode_core.h"
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

struct PrefillClientStats {
  int64_t calls = 0;
  int64_t failures = 0;
  uint64_t kv_bytes_received = 0;  // bytes prefill nodes confirmed written here
  double transfer_ms = 0;          // their reported transfer time
};

class GrpcPrefillClient final : public PrefillClient {
 public:
  GrpcPrefillClient(KvTargetInfo target, int num_threads, absl::Duration timeout);
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

  const KvTargetInfo target_;
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
