#include "services/prefill/prefill_core.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/log/log.h"
#include "common/status_macros.h"
#include "runtime/device/device_model.h"

namespace triptych::prefill {
namespace {

using Clock = std::chrono::steady_clock;

// A put that failed before it started (its staging copy did).
class FailedPut final : public transport::PendingPut {
 public:
  explicit FailedPut(absl::Status st) : status_(std::move(st)) {}
  absl::Status Wait() override { return status_; }

 private:
  absl::Status status_;
};

double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

}  // namespace

struct PrefillCore::Pending {
  PrefillJob job;
  DoneFn done;
  std::unique_ptr<kv::SequenceKv> kv;
  int64_t computed = 0;
  PrefillResult result;
  Clock::time_point admitted;
  Clock::time_point computed_at;
  bool compute_done = false;
  // This prompt's KV goes layer by layer (stream_kv_by_layer and at least
  // stream_min_tokens to compute); else in one put after its last layer.
  bool stream = false;
  // Where puts read block i (fixed once the blocks are reserved): the
  // pool's block, or with staging the prompt's slot i.
  std::vector<const uint8_t*> local_blocks;
  // With staging: the pool's blocks (offsets only; device memory) and the
  // slots, released after the puts that read them (declared before `puts`,
  // so destroyed after them).
  std::vector<const uint8_t*> pool_blocks;
  kv::StagingSlots staging;
  // Puts in flight; their source is kv's blocks, so kv is released only
  // after every one has completed.
  std::vector<std::unique_ptr<transport::PendingPut>> puts;
};

absl::StatusOr<std::unique_ptr<PrefillCore>> PrefillCore::Create(
    const PrefillCoreOptions& options,
    std::unique_ptr<transport::KvTransport> transport) {
  if (transport == nullptr) return absl::InvalidArgumentError("no transport");
  auto core = std::unique_ptr<PrefillCore>(new PrefillCore());
  core->options_ = options;
  ASSIGN_OR_RETURN(const std::unique_ptr<device::Device> dev,
                   device::SelectDevice(options.device));
  ASSIGN_OR_RETURN(core->bundle_, engine::ModelBundle::Load(options.model_path));
  core->forward_ = core->bundle_->model.get();
  if (dev->kind() != device::DeviceKind::kCpu) {
    ASSIGN_OR_RETURN(core->device_model_,
                     device::DeviceModel::Create(*core->bundle_->model, *dev));
    core->forward_ = core->device_model_.get();
  }
  kv::KvCacheOptions kvo = core->forward_->KvOptions(
      options.num_kv_blocks, options.block_size, options.kv_dtype);
  kvo.enable_prefix_cache = options.prefix_cache;
  // On the device the pool is device memory; the transport registers it
  // directly (hip-cpu: host memory; see docs/TRANSPORT.md).
  ASSIGN_OR_RETURN(core->cache_, model::NewKvCache(*core->forward_, kvo));
  {
    const kv::KvCacheOptions& o = core->cache_->options();
    core->layout_ = BlockLayout{o.num_layers, o.block_size,
                                static_cast<uint64_t>(core->cache_->block_bytes()) /
                                    (2 * static_cast<uint64_t>(o.num_layers * o.block_size))};
  }
  core->transport_ = std::move(transport);
  ASSIGN_OR_RETURN(
      const bool staged,
      UseKvStaging(
          options.kv_staging, core->cache_->host_accessible(),
          core->transport_->HandlesDeviceMemory(device::GpuRuntime())));
  if (staged) {
    ASSIGN_OR_RETURN(core->staging_,
                     kv::StagingArea::Create(options.kv_staging_blocks > 0
                                                 ? options.kv_staging_blocks
                                                 : options.num_kv_blocks,
                                             core->cache_->block_bytes()));
    ASSIGN_OR_RETURN(core->region_,
                     core->transport_->Register(core->staging_->base(),
                                                core->staging_->bytes()));
  } else {
    ASSIGN_OR_RETURN(core->region_,
                     core->transport_->Register(
                         core->cache_->BlockData(0),
                         static_cast<size_t>(core->cache_->block_bytes() *
                                             options.num_kv_blocks)));
  }
  core->pool_ = std::make_unique<ThreadPool>(options.num_threads);
  {
    absl::MutexLock lock(&core->mu_);
    core->stats_.kv_blocks_total = options.num_kv_blocks;
  }
  PrefillCore* self = core.get();
  core->worker_ = std::thread([self] { self->WorkerLoop(); });
  core->completer_ = std::thread([self] { self->CompletionLoop(); });
  return core;
}

PrefillCore::~PrefillCore() {
  Shutdown();
  region_.reset();  // unregister before the pool goes away
}

KvGeometry PrefillCore::geometry() const {
  const kv::KvCacheOptions& o = cache_->options();
  return KvGeometry{o.num_layers, o.num_kv_heads, o.head_dim, o.block_size,
                    o.dtype == kv::KvDtype::kF16 ? "f16" : "f32"};
}

PrefillStats PrefillCore::stats() const {
  absl::MutexLock lock(&mu_);
  PrefillStats s = stats_;
  s.live_jobs = live_count_;
  s.queue_depth = static_cast<int64_t>(queue_.size() + finishing_.size()) + live_count_;
  s.kv_blocks_free = cache_->NumAvailableBlocks();
  return s;
}

void PrefillCore::Submit(PrefillJob job, DoneFn done) {
  auto p = std::make_unique<Pending>();
  p->job = std::move(job);
  p->done = std::move(done);
  {
    absl::MutexLock lock(&mu_);
    if (!stop_) {
      queue_.push_back(std::move(p));
      return;
    }
  }
  p->done(absl::UnavailableError("prefill node is shutting down"));
}

void PrefillCore::Shutdown() {
  std::deque<std::unique_ptr<Pending>> rest;
  {
    absl::MutexLock lock(&mu_);
    if (stop_) return;
    stop_ = true;
  }
  if (worker_.joinable()) worker_.join();  // fails its half-computed jobs
  if (completer_.joinable()) completer_.join();  // finishes the computed ones
  {
    absl::MutexLock lock(&mu_);
    rest.swap(queue_);
  }
  for (auto& p : rest) p->done(absl::UnavailableError("prefill node is shutting down"));
}

absl::Status PrefillCore::Validate(const PrefillJob& job) const {
  return ValidateJob(job, JobLimits{geometry(), bundle_->model->config().context_length,
                                    bundle_->model->config().vocab_size,
                                    static_cast<uint64_t>(cache_->block_bytes())});
}

void PrefillCore::WorkerLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (live_.empty()) {
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stop_ || !queue_.empty();
        };
        mu_.Await(absl::Condition(&ready));
      }
      if (stop_) break;
    }
    Admit();
    if (!live_.empty()) Step();
  }
  // Half-computed prompts cannot finish: fail them (their puts are waited
  // for by the handles' destructors before the blocks are released).
  for (auto& p : live_) Fail(p.get(), absl::UnavailableError("prefill node is shutting down"));
  live_.clear();
  absl::MutexLock lock(&mu_);
  live_count_ = 0;
  worker_exited_ = true;
}

void PrefillCore::Fail(Pending* p, absl::Status st) {
  log::Warn("prefill", "prefill failed",
            {{"request_id", p->job.request_id}, {"error", std::string(st.message())}});
  p->puts.clear();  // waits: UCX may still read the blocks
  p->staging = kv::StagingSlots();
  p->kv.reset();
  {
    absl::MutexLock lock(&mu_);
    ++stats_.jobs_failed;
  }
  p->done(std::move(st));
}

void PrefillCore::Admit() {
  while (static_cast<int>(live_.size()) < std::max(1, options_.max_live_jobs)) {
    std::unique_ptr<Pending> p;
    {
      absl::MutexLock lock(&mu_);
      if (queue_.empty()) return;
      p = std::move(queue_.front());
      queue_.pop_front();
    }
    if (absl::Status st = Validate(p->job); !st.ok()) {
      Fail(p.get(), st);
      continue;
    }
    p->admitted = Clock::now();
    p->kv = std::make_unique<kv::SequenceKv>(cache_.get());
    p->computed = p->kv->AttachCachedPrefix(p->job.tokens);
    p->result.cached_tokens = p->computed;
    if (absl::Status st = p->kv->Reserve(static_cast<int64_t>(p->job.tokens.size()));
        !st.ok()) {
      if (live_.empty()) {
        Fail(p.get(), absl::ResourceExhaustedError(
                          absl::StrCat("prefill KV pool full: ", st.message())));
        continue;
      }
      // Others hold the blocks it needs: it goes first once they finish.
      p->kv.reset();
      absl::MutexLock lock(&mu_);
      queue_.push_front(std::move(p));
      return;
    }
    if (staging_ != nullptr) {
      absl::StatusOr<kv::StagingSlots> slots =
          staging_->Acquire(static_cast<int64_t>(p->kv->blocks().size()));
      if (!slots.ok() &&
          (slots.status().code() != absl::StatusCode::kResourceExhausted ||
           (live_.empty() &&
            staging_->free_blocks() == staging_->num_blocks()))) {
        Fail(p.get(), absl::ResourceExhaustedError(slots.status().message()));
        continue;
      }
      if (!slots.ok()) {
        // Slots come back as other prompts' transfers complete.
        p->kv.reset();
        absl::MutexLock lock(&mu_);
        queue_.push_front(std::move(p));
        if (live_.empty())
          mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Milliseconds(1));
        return;
      }
      p->staging = std::move(*slots);
      for (size_t i = 0; i < p->staging.size(); ++i) {
        p->local_blocks.push_back(p->staging.data(i));
      }
      for (kv::BlockId b : p->kv->blocks())
        p->pool_blocks.push_back(cache_->BlockData(b));
    } else {
      for (kv::BlockId b : p->kv->blocks())
        p->local_blocks.push_back(cache_->BlockData(b));
    }
    FetchHistory(p.get());
    p->stream = options_.stream_kv_by_layer &&
                static_cast<int64_t>(p->job.tokens.size()) - p->computed >=
                    options_.stream_min_tokens;
    // What the cache and the history supplied goes at once, all layers.
    if (p->stream) {
      PutKv(p.get(), 0, cache_->options().num_layers, 0, p->computed);
    }
    live_.push_back(std::move(p));
    absl::MutexLock lock(&mu_);
    live_count_ = static_cast<int64_t>(live_.size());
  }
}

void PrefillCore::PutKv(Pending* p, int64_t l0, int64_t l1, int64_t t0, int64_t t1) {
  t0 = std::max(t0, p->job.skip_tokens);
  if (t0 >= t1 || l0 >= l1) return;
  std::vector<transport::Copy> copies;
  const uint64_t bytes = AppendKvCopies(layout_, l0, l1, t0, t1, p->local_blocks,
                                        p->job.target.pool_base,
                                        p->job.target.block_ids, &copies);
  if (staging_ != nullptr) {
    // The same ranges, pool -> the prompt's slots (AppendKvCopies with the
    // slots as the "remote" blocks of a region at 0 yields them in order).
    std::vector<transport::Copy> out;
    AppendKvCopies(layout_, l0, l1, t0, t1, p->pool_blocks, 0, p->staging.ids(),
                   &out);
    std::vector<kv::PoolCopy> staged;
    staged.reserve(out.size());
    const uint8_t* pool = cache_->BlockData(0);
    for (const transport::Copy& c : out) {
      staged.push_back(
          {static_cast<uint64_t>(static_cast<const uint8_t*>(c.local) - pool),
           staging_->base() + c.remote_addr, c.length});
    }
    if (absl::Status st = cache_->CopyOut(staged); !st.ok()) {
      p->puts.push_back(std::make_unique<FailedPut>(std::move(st)));
      return;
    }
    p->result.kv_bytes_staged += bytes;
  }
  p->puts.push_back(transport_->PutAsync(p->job.target.peer, copies, p->job.target.rkey,
                                         options_.transfer_timeout));
  p->result.kv_bytes_sent += bytes;
  if (!p->compute_done) p->result.kv_bytes_streamed += bytes;
}

void PrefillCore::Step() {
  // Share the pass's token budget: a quarter to the oldest prompt (so it
  // always progresses), the rest shortest-remaining first (so short
  // prompts finish quickly behind a long one).
  std::vector<std::pair<Pending*, int64_t>> grants;
  int64_t budget = options_.max_batch_tokens;
  auto left = [](const Pending* p) {
    return static_cast<int64_t>(p->job.tokens.size()) - p->computed;
  };
  std::vector<Pending*> order;
  for (auto& p : live_) order.push_back(p.get());
  const int64_t first = std::min({left(order[0]), std::max<int64_t>(1, budget / 4), budget});
  grants.emplace_back(order[0], first);
  budget -= first;
  std::stable_sort(order.begin() + 1, order.end(),
                   [&](const Pending* a, const Pending* b) { return left(a) < left(b); });
  for (size_t i = 1; i < order.size() && budget > 0; ++i) {
    const int64_t n = std::min(left(order[i]), budget);
    grants.emplace_back(order[i], n);
    budget -= n;
  }
  if (budget > 0) {  // the oldest takes what nobody else needed
    const int64_t more = std::min(budget, left(order[0]) - first);
    grants[0].second += more;
  }

  std::vector<model::SequenceBatch> fwd;
  for (auto [p, n] : grants) {
    model::SequenceBatch b;
    b.tokens = absl::MakeConstSpan(p->job.tokens).subspan(p->computed, n);
    b.start_pos = p->computed;
    b.kv = p->kv.get();
    fwd.push_back(b);
  }
  // Each layer's KV of this pass goes out while the next layers compute.
  model::LayerKvDoneFn on_layer;
  if (std::any_of(grants.begin(), grants.end(),
                  [](const auto& g) { return g.first->stream; })) {
    on_layer = [&](int64_t layer) {
      for (auto [p, n] : grants) {
        if (p->stream) PutKv(p, layer, layer + 1, p->computed, p->computed + n);
      }
    };
  }
  absl::StatusOr<std::vector<float>> logits =
      forward_->Forward(fwd, cache_.get(), pool_.get(), &on_layer);
  const int64_t vocab = bundle_->model->config().vocab_size;
  std::vector<Pending*> finished, failed;
  for (size_t i = 0; i < grants.size(); ++i) {
    Pending* p = grants[i].first;
    if (!logits.ok()) {
      failed.push_back(p);
      continue;
    }
    p->computed += grants[i].second;
    p->result.computed_tokens += grants[i].second;
    p->kv->Commit(p->job.tokens, p->computed);
    if (p->computed == static_cast<int64_t>(p->job.tokens.size())) {
      p->result.last_logits.assign(logits->data() + i * vocab,
                                   logits->data() + (i + 1) * vocab);
      p->compute_done = true;
      p->computed_at = Clock::now();
      p->result.compute_ms =
          std::chrono::duration<double, std::milli>(p->computed_at - p->admitted).count();
      if (!p->stream) {
        PutKv(p, 0, cache_->options().num_layers, 0, p->computed);
      }
      finished.push_back(p);
    }
  }
  auto take = [this](Pending* p) {
    auto it = std::find_if(live_.begin(), live_.end(),
                           [p](const std::unique_ptr<Pending>& q) { return q.get() == p; });
    std::unique_ptr<Pending> owned = std::move(*it);
    live_.erase(it);
    return owned;
  };
  for (Pending* p : failed) Fail(take(p).get(), logits.status());
  std::vector<std::unique_ptr<Pending>> done;
  for (Pending* p : finished) done.push_back(take(p));
  absl::MutexLock lock(&mu_);
  for (auto& p : done) finishing_.push_back(std::move(p));
  live_count_ = static_cast<int64_t>(live_.size());
}

void PrefillCore::CompletionLoop() {
  for (;;) {
    std::unique_ptr<Pending> p;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return worker_exited_ || !finishing_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (finishing_.empty()) return;  // the worker is gone: nothing more comes
      p = std::move(finishing_.front());
      finishing_.pop_front();
    }
    absl::Status st;
    for (auto& put : p->puts) st.Update(put->Wait());
    if (!st.ok()) {
      Fail(p.get(), st);
      continue;
    }
    p->result.transfer_ms = MsSince(p->computed_at);
    p->puts.clear();
    p->staging = kv::StagingSlots();
    p->kv.reset();  // blocks stay in the prefix cache
    {
      absl::MutexLock lock(&mu_);
      ++stats_.jobs_done;
      stats_.tokens_computed += p->result.computed_tokens;
      stats_.tokens_cached += p->result.cached_tokens;
      stats_.tokens_from_history += p->result.history_tokens;
      stats_.kv_bytes_sent += p->result.kv_bytes_sent;
      stats_.kv_bytes_streamed += p->result.kv_bytes_streamed;
      stats_.kv_bytes_staged += p->result.kv_bytes_staged;
      stats_.transfer_tail_ms += p->result.transfer_ms;
    }
    log::Info(
        "prefill", "prefill finished",
        {{"request_id", p->job.request_id},
         {"computed_tokens", p->result.computed_tokens},
         {"cached_tokens", p->result.cached_tokens},
         {"history_tokens", p->result.history_tokens},
         {"kv_bytes_sent", static_cast<int64_t>(p->result.kv_bytes_sent)},
         {"kv_bytes_streamed",
          static_cast<int64_t>(p->result.kv_bytes_streamed)},
         {"kv_bytes_staged", static_cast<int64_t>(p->result.kv_bytes_staged)},
         {"compute_ms", p->result.compute_ms},
         {"transfer_ms", p->result.transfer_ms}});
    p->done(std::move(p->result));
  }
}

void PrefillCore::FetchHistory(Pending* p) {
  if (!options_.history_fetch) return;
  const int64_t bs = cache_->options().block_size;
  const int64_t n = static_cast<int64_t>(p->job.tokens.size());
  // Whole blocks only, never the last token (its logits are the result).
  const int64_t first = p->computed / bs;
  const int64_t last = (n - 1) / bs;
  if (p->computed % bs != 0 || last <= first) return;
  const std::vector<kv::BlockHash> hashes =
      kv::KvCache::ChainHashes(p->job.tokens, static_cast<int>(bs), last);
  const std::vector<uint64_t> chain(hashes.begin() + first, hashes.end());
  // With staging the blocks land in the prompt's slots, then go to the pool.
  std::vector<uint8_t*> dest;
  for (int64_t b = first; b < last; ++b) {
    dest.push_back(staging_ != nullptr ? p->staging.data(static_cast<size_t>(b))
                                       : cache_->BlockData(p->kv->blocks()[b]));
  }
  absl::StatusOr<int64_t> got = options_.history_fetch(chain, dest);
  if (got.ok() && *got > 0 && *got <= static_cast<int64_t>(chain.size()) &&
      staging_ != nullptr) {
    if (absl::Status st = cache_->CopyIn(cache_->BlockCopies(
            absl::MakeConstSpan(p->kv->blocks()).subspan(first, *got), dest));
        !st.ok()) {
      got = st;
    }
  }
  if (!got.ok() || *got < 0 || *got > static_cast<int64_t>(chain.size())) {
    log::Warn("prefill", "KV history fetch failed; computing the prompt",
              {{"request_id", p->job.request_id},
               {"error", got.ok() ? std::string("bad block count") : got.status().ToString()}});
    absl::MutexLock lock(&mu_);
    ++stats_.history_fetch_failures;
    return;
  }
  if (*got == 0) return;
  p->computed += *got * bs;
  p->result.cached_tokens += *got * bs;
  p->result.history_tokens = *got * bs;
  p->kv->Commit(p->job.tokens, p->computed);
}

}  // namespace triptych::prefill
