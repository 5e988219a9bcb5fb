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
  core->transport_ = std::move(transport);
  ASSIGN_OR_RETURN(core->region_,
                   core->transport_->Register(
                       core->cache_->BlockData(0),
                       static_cast<size_t>(core->cache_->block_bytes() *
                                           options.num_kv_blocks)));
  core->pool_ = std::make_unique<ThreadPool>(options.num_threads);
  {
    absl::MutexLock lock(&core->mu_);
    core->stats_.kv_blocks_total = options.num_kv_blocks;
  }
  PrefillCore* self = core.get();
  core->worker_ = std::thread([self] { self->WorkerLoop(); });
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
  s.queue_depth = static_cast<int64_t>(queue_.size());
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
  if (worker_.joinable()) worker_.join();
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
    std::vector<std::unique_ptr<Pending>> batch;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (stop_) return;
      // Take jobs until their prompts fill about two forward passes; the
      // rest wait for the next round.
      int64_t tokens = 0;
      while (!queue_.empty() &&
             (batch.empty() || tokens < 2 * options_.max_batch_tokens)) {
        tokens += static_cast<int64_t>(queue_.front()->job.tokens.size());
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    RunBatch(std::move(batch));
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
  std::vector<uint8_t*> dest;
  for (int64_t b = first; b < last; ++b) dest.push_back(cache_->BlockData(p->kv->blocks()[b]));
  absl::StatusOr<int64_t> got = options_.history_fetch(chain, dest);
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

void PrefillCore::RunBatch(std::vector<std::unique_ptr<Pending>> batch) {
  const auto start = Clock::now();
  std::vector<Pending*> live;
  auto fail = [this](Pending* p, absl::Status st) {
    log::Warn("prefill", "prefill failed",
              {{"request_id", p->job.request_id}, {"error", std::string(st.message())}});
    p->kv.reset();
    {
      absl::MutexLock lock(&mu_);
      ++stats_.jobs_failed;
    }
    p->done(std::move(st));
  };
  for (auto& p : batch) {
    if (absl::Status st = Validate(p->job); !st.ok()) {
      fail(p.get(), st);
      continue;
    }
    p->kv = std::make_unique<kv::SequenceKv>(cache_.get());
    p->computed = p->kv->AttachCachedPrefix(p->job.tokens);
    p->result.cached_tokens = p->computed;
    if (absl::Status st = p->kv->Reserve(static_cast<int64_t>(p->job.tokens.size()));
        !st.ok()) {
      fail(p.get(), absl::ResourceExhaustedError(
                        absl::StrCat("prefill KV pool full: ", st.message())));
      continue;
    }
    FetchHistory(p.get());
    live.push_back(p.get());
  }

  // Chunked, batched forward passes until every prompt is computed.
  const int64_t vocab = bundle_->model->config().vocab_size;
  for (;;) {
    std::vector<model::SequenceBatch> fwd;
    std::vector<Pending*> members;
    int64_t budget = options_.max_batch_tokens;
    for (Pending* p : live) {
      const int64_t left = static_cast<int64_t>(p->job.tokens.size()) - p->computed;
      if (left == 0 || budget == 0) continue;
      const int64_t count = std::min(left, budget);
      model::SequenceBatch b;
      b.tokens = absl::MakeConstSpan(p->job.tokens).subspan(p->computed, count);
      b.start_pos = p->computed;
      b.kv = p->kv.get();
      fwd.push_back(b);
      members.push_back(p);
      budget -= count;
    }
    if (fwd.empty()) break;
    absl::StatusOr<std::vector<float>> logits =
        forward_->Forward(fwd, cache_.get(), pool_.get());
    for (size_t i = 0; i < members.size(); ++i) {
      Pending* p = members[i];
      if (!logits.ok()) {
        fail(p, logits.status());
        live.erase(std::find(live.begin(), live.end(), p));
        continue;
      }
      p->computed += static_cast<int64_t>(fwd[i].tokens.size());
      p->result.computed_tokens += static_cast<int64_t>(fwd[i].tokens.size());
      p->kv->Commit(p->job.tokens, p->computed);
      if (p->computed == static_cast<int64_t>(p->job.tokens.size())) {
        p->result.last_logits.assign(logits->data() + i * vocab,
                                     logits->data() + (i + 1) * vocab);
      }
    }
  }
  const double compute_ms = MsSince(start);

  // Write each prompt's blocks (past what the receiver holds) to the
  // decode node, then report.
  for (Pending* p : live) {
    const auto t0 = Clock::now();
    const int64_t bs = cache_->options().block_size;
    const int64_t n = static_cast<int64_t>(p->job.tokens.size());
    std::vector<transport::Copy> copies;
    for (int64_t b = p->job.skip_tokens / bs; b < (n + bs - 1) / bs; ++b) {
      copies.push_back(transport::Copy{
          cache_->BlockData(p->kv->blocks()[b]),
          p->job.target.pool_base +
              static_cast<uint64_t>(p->job.target.block_ids[b]) * p->job.target.block_bytes,
          static_cast<size_t>(cache_->block_bytes())});
    }
    absl::Status st = transport_->Put(p->job.target.peer, copies, p->job.target.rkey,
                                      options_.transfer_timeout);
    p->kv.reset();  // blocks stay in the prefix cache
    if (!st.ok()) {
      fail(p, st);
      continue;
    }
    p->result.kv_bytes_sent = copies.size() * static_cast<uint64_t>(cache_->block_bytes());
    p->result.compute_ms = compute_ms;
    p->result.transfer_ms = MsSince(t0);
    {
      absl::MutexLock lock(&mu_);
      ++stats_.jobs_done;
      stats_.tokens_computed += p->result.computed_tokens;
      stats_.tokens_cached += p->result.cached_tokens;
      stats_.tokens_from_history += p->result.history_tokens;
      stats_.kv_bytes_sent += p->result.kv_bytes_sent;
    }
    log::Info("prefill", "prefill finished",
              {{"request_id", p->job.request_id},
               {"computed_tokens", p->result.computed_tokens},
               {"cached_tokens", p->result.cached_tokens},
               {"history_tokens", p->result.history_tokens},
               {"kv_bytes_sent", static_cast<int64_t>(p->result.kv_bytes_sent)},
               {"compute_ms", p->result.compute_ms},
               {"transfer_ms", p->result.transfer_ms}});
    p->done(std::move(p->result));
  }
}

}  // namespace triptych::prefill
