#ifndef TRIPTYCH_SERVICES_PREFILL_PREFILL_CORE_H_
#define TRIPTYCH_SERVICES_PREFILL_PREFILL_CORE_H_

// The prefill node's logic, without gRPC. Prompts are computed with
// continuous batching over the node's own paged KV cache (so repeated
// prefixes are computed once): a worker thread runs one chunked forward pass
// after another, and before each pass admits queued prompts (up to
// max_live_jobs, as KV blocks allow) and shares the pass's token budget:
// the oldest prompt gets a quarter, the rest goes shortest-remaining first,
// so a long prompt neither blocks short ones nor starves.
//
// KV streaming: each layer's K and V of a chunk are put (one-sided, async)
// into the requesting decode node's registered memory as soon as the model
// has written them, while the rest of the layers compute; cached prefix
// blocks go when the prompt is admitted. A completion thread waits for a
// finished prompt's puts (remote completion) and then reports its last
// token's logits, so the decode node starts when the last layer landed.
// With stream_kv_by_layer off, or for a prompt with fewer than
// stream_min_tokens to compute, a prompt's KV is put in one transfer after
// its last layer.
//
// Staging (kv_staging, see UseKvStaging): when the pool is device memory
// the transport cannot take, each admitted prompt holds host staging slots
// (kv::StagingArea, registered with the transport instead of the pool) for
// its blocks; every put first copies its ranges out of the pool into the
// slots (on the device's copy stream, while the next layers compute), and
// KV history blocks land in the slots and are copied into the pool.
//
// Thread safety: Submit(), stats() and Shutdown() are thread-safe. `done`
// callbacks run on the worker thread (jobs that fail before computing) or
// the completion thread and must not block.

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/thread_pool.h"
#include "runtime/engine/model_bundle.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/kv/staging_area.h"
#include "runtime/model/forward_model.h"
#include "services/prefill/kv_copies.h"
#include "services/prefill/prefill_job.h"
#include "transport/kv_transport.h"

namespace triptych::prefill {

struct PrefillResult {
  std::vector<float> last_logits;
  int64_t computed_tokens = 0;
  int64_t cached_tokens = 0;   // from the prefix cache or the KV history
  int64_t history_tokens = 0;  // of those, fetched from the KV history
  uint64_t kv_bytes_sent = 0;
  // Of those, bytes whose put started before the prompt's last layer was
  // computed (transfer overlapped with compute).
  uint64_t kv_bytes_streamed = 0;
  // Of those, bytes copied out of the pool into host staging slots first.
  uint64_t kv_bytes_staged = 0;
  double compute_ms = 0;   // admission to the last layer computed
  double transfer_ms = 0;  // last layer computed to every byte landed
};

struct PrefillStats {
  int64_t jobs_done = 0;
  int64_t jobs_failed = 0;
  int64_t tokens_computed = 0;
  int64_t tokens_cached = 0;
  int64_t tokens_from_history = 0;
  int64_t history_fetch_failures = 0;
  uint64_t kv_bytes_sent = 0;
  uint64_t kv_bytes_streamed = 0;
  uint64_t kv_bytes_staged = 0;
  double transfer_tail_ms = 0;  // sum over jobs of PrefillResult::transfer_ms
  int64_t queue_depth = 0;      // waiting + being computed + finishing
  int64_t live_jobs = 0;        // being computed
  int64_t kv_blocks_total = 0;
  int64_t kv_blocks_free = 0;
};

// Reads the longest stored prefix of `chain` (chain hashes of consecutive
// full blocks) into dest[i] from a KV history (a memory node); returns the
// blocks read. Blocking; called on the worker thread.
using HistoryFetchFn = std::function<absl::StatusOr<int64_t>(
    absl::Span<const uint64_t> chain, absl::Span<uint8_t* const> dest)>;

struct PrefillCoreOptions {
  std::string model_path;
  // Where the forward pass runs: "cpu", or "gpu" (the build's GPU runtime;
  // "hip" / "cuda" by name): runtime/device's DeviceModel, KV pool in
  // device memory.
  std::string device = "cpu";
  int num_threads = 1;
  int64_t num_kv_blocks = 1024;
  int block_size = 16;
  kv::KvDtype kv_dtype = kv::KvDtype::kF16;
  bool prefix_cache = true;
  int64_t max_batch_tokens = 1024;  // tokens per forward pass
  int max_live_jobs = 16;           // prompts computed together
  bool stream_kv_by_layer = true;   // see the file comment
  // Prompts with fewer tokens to compute put their KV in one transfer even
  // with stream_kv_by_layer: their KV is small enough that one put after the
  // last layer takes under a millisecond, while streaming it keeps the
  // transport's progress thread busy for the whole pass, which on a node
  // with as many compute threads as cores cost 128-token prompts 10-15% of
  // TTFT (docs/BENCHMARKS.md, issue 15).
  int64_t stream_min_tokens = 0;
  // "auto", "on" or "off" (UseKvStaging); slots in the staging area (0: as
  // many as the pool has blocks).
  std::string kv_staging = "auto";
  int64_t kv_staging_blocks = 0;
  absl::Duration transfer_timeout = absl::Seconds(10);
  // Optional: prompt blocks missing from this node's prefix cache are
  // fetched from here before computing (a failure only means computing).
  HistoryFetchFn history_fetch;
};

class PrefillCore {
 public:
  using DoneFn = std::function<void(absl::StatusOr<PrefillResult>)>;

  // Loads the model, creates the KV pool and registers it with `transport`.
  static absl::StatusOr<std::unique_ptr<PrefillCore>> Create(
      const PrefillCoreOptions& options,
      std::unique_ptr<transport::KvTransport> transport);
  ~PrefillCore();  // Shutdown()
  PrefillCore(const PrefillCore&) = delete;
  PrefillCore& operator=(const PrefillCore&) = delete;

  // Queues a job. `done` gets the result or: kFailedPrecondition (KV
  // geometry differs from this model's), kInvalidArgument (bad tokens or
  // too few target blocks), kResourceExhausted (prompt larger than this
  // node's KV pool), kUnavailable (the decode node cannot be reached or
  // this node is shutting down), kDeadlineExceeded (transfer timeout).
  void Submit(PrefillJob job, DoneFn done);

  // Sets options.history_fetch; call before the first Submit.
  void SetHistoryFetch(HistoryFetchFn fn) { options_.history_fetch = std::move(fn); }

  // Fails queued and half-computed jobs with kUnavailable, lets computed
  // ones finish their transfers, and stops both threads.
  void Shutdown();

  KvGeometry geometry() const;
  PrefillStats stats() const;
  std::vector<kv::BlockEvent> DrainKvEvents() { return cache_->DrainEvents(); }
  const engine::ModelBundle& bundle() const { return *bundle_; }
  // "cpu" or the GPU device model's description.
  std::string device() const { return forward_->device(); }
  transport::KvTransport* transport() { return transport_.get(); }
  // Whether KV leaves through host staging slots (see the file comment).
  bool kv_staged() const { return staging_ != nullptr; }

 private:
  struct Pending;
  PrefillCore() = default;
  void WorkerLoop();
  // Moves queued jobs into live_ while there is room. Worker thread.
  void Admit();
  // One forward pass over the live jobs. Worker thread.
  void Step();
  void CompletionLoop();
  void Fail(Pending* p, absl::Status st);
  // Starts the put of layers [l0, l1) of positions [t0, t1) (clipped to
  // what the receiver lacks). Worker thread.
  void PutKv(Pending* p, int64_t l0, int64_t l1, int64_t t0, int64_t t1);
  // Fills the prompt's blocks past the cached prefix from the KV history.
  void FetchHistory(Pending* p);
  absl::Status Validate(const PrefillJob& job) const;

  PrefillCoreOptions options_;
  std::unique_ptr<engine::ModelBundle> bundle_;
  std::unique_ptr<model::ForwardModel> device_model_;  // --device gpu
  const model::ForwardModel* forward_ = nullptr;  // bundle's model or device_model_
  std::unique_ptr<kv::KvCache> cache_;
  std::unique_ptr<transport::KvTransport> transport_;
  std::unique_ptr<kv::StagingArea> staging_;     // null: puts read the pool
  std::unique_ptr<transport::KvRegion> region_;  // of the pool or staging_
  BlockLayout layout_;  // of cache_'s blocks
  std::unique_ptr<ThreadPool> pool_;
  std::thread worker_;
  std::thread completer_;
  std::vector<std::unique_ptr<Pending>> live_;  // worker thread only

  mutable absl::Mutex mu_;
  std::deque<std::unique_ptr<Pending>> queue_ ABSL_GUARDED_BY(mu_);
  // Computed, waiting for their puts to complete (completion thread).
  std::deque<std::unique_ptr<Pending>> finishing_ ABSL_GUARDED_BY(mu_);
  int64_t live_count_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool worker_exited_ ABSL_GUARDED_BY(mu_) = false;
  PrefillStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace triptych::prefill

#endif  // TRIPTYCH_SERVICES_PREFILL_PREFILL_CORE_H_
