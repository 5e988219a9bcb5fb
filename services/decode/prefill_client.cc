#include "services/decode/prefill_client.h"

#include <cstring>

#include "common/grpc/internal_grpc.h"
#include "common/grpc/status_convert.h"
#include "common/log/log.h"
#include "grpcpp/grpcpp.h"

namespace triptych::decode {

GrpcPrefillClient::GrpcPrefillClient(KvTargetInfo target, int num_threads,
                                     absl::Duration timeout,
                                     KvStagingTarget staging)
    : target_(std::move(target)), staging_(staging), timeout_(timeout) {
  for (int i = 0; i < std::max(1, num_threads); ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

GrpcPrefillClient::~GrpcPrefillClient() { Shutdown(); }

void GrpcPrefillClient::Prefill(engine::RemotePrefillJob job,
                                engine::RemotePrefillDone done) {
  {
    absl::MutexLock lock(&mu_);
    if (!stop_) {
      queue_.push_back(Call{std::move(job), std::move(done)});
      return;
    }
  }
  done(absl::UnavailableError("prefill client is shut down"));
}

void GrpcPrefillClient::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stop_ && workers_.empty()) return;
    stop_ = true;
  }
  // Workers finish the queue (each call is bounded by its deadline), so
  // every `done` has run when they have exited.
  for (auto& t : workers_) t.join();
  workers_.clear();
}

PrefillClientStats GrpcPrefillClient::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

triptych::v1::PrefillNode::Stub* GrpcPrefillClient::StubFor(const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto& stub = stubs_[address];
  if (!stub) {
    stub = triptych::v1::PrefillNode::NewStub(
        InternalChannel(address));
  }
  return stub.get();
}

void GrpcPrefillClient::WorkerLoop() {
  for (;;) {
    Call call;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping and nothing left
      call = std::move(queue_.front());
      queue_.pop_front();
    }
    Run(call);
  }
}

absl::Status GrpcPrefillClient::Unstage(const engine::RemotePrefillJob& job,
                                        const kv::StagingSlots& slots,
                                        uint64_t* bytes) {
  std::vector<const uint8_t*> local;
  for (size_t i = 0; i < slots.size(); ++i) local.push_back(slots.data(i));
  // The ranges the prefill node wrote (positions from skip_tokens on, every
  // layer), slot i -> pool block job.blocks[i]: AppendKvCopies with the pool
  // as the "remote" region at offset 0.
  std::vector<transport::Copy> copies;
  *bytes = prefill::AppendKvCopies(
      staging_.layout, 0, staging_.layout.num_layers, job.skip_tokens,
      static_cast<int64_t>(job.tokens.size()), local, 0, job.blocks, &copies);
  std::vector<kv::PoolCopy> in;
  in.reserve(copies.size());
  for (const transport::Copy& c : copies) {
    in.push_back({c.remote_addr,
                  const_cast<uint8_t*>(static_cast<const uint8_t*>(c.local)),
                  c.length});
  }
  return staging_.cache->CopyIn(in);
}

void GrpcPrefillClient::Run(Call& call) {
  kv::StagingSlots slots;
  if (staging_.area != nullptr) {
    absl::StatusOr<kv::StagingSlots> got =
        staging_.area->Acquire(static_cast<int64_t>(call.job.blocks.size()));
    if (!got.ok()) {
      {
        absl::MutexLock lock(&mu_);
        ++stats_.calls;
        ++stats_.failures;
      }
      log::Warn("decode",
                "no KV staging slots for a remote prefill; prefilling locally",
                {{"request_id", call.job.request_id},
                 {"error", std::string(got.status().message())}});
      call.done(absl::ResourceExhaustedError(got.status().message()));
      return;
    }
    slots = std::move(*got);
  }
  triptych::v1::PrefillRequest req;
  req.set_request_id(call.job.request_id);
  req.mutable_tokens()->Add(call.job.tokens.begin(), call.job.tokens.end());
  req.set_skip_tokens(static_cast<uint32_t>(call.job.skip_tokens));
  *req.mutable_geometry() = target_.geometry;
  triptych::v1::KvTarget* t = req.mutable_target();
  t->set_kv_layout_version(1);
  t->set_ucx_worker_address(target_.address.worker_address);
  t->set_ucx_sockaddr(target_.address.sockaddr);
  t->set_rkey(target_.rkey);
  t->set_pool_base(target_.pool_base);
  t->set_block_bytes(target_.block_bytes);
  t->set_layer_stride_bytes(target_.layer_stride_bytes);
  if (staging_.area != nullptr) {
    t->mutable_block_ids()->Add(slots.ids().begin(), slots.ids().end());
  } else {
    t->mutable_block_ids()->Add(call.job.blocks.begin(), call.job.blocks.end());
  }

  triptych::v1::PrefillResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  grpc::Status s = StubFor(call.job.prefill_address)->Prefill(&ctx, req, &resp);
  absl::StatusOr<std::vector<float>> result;
  if (!s.ok()) {
    result = FromGrpcStatus(s);
  } else if (resp.last_logits().size() % sizeof(float) != 0) {
    result = absl::DataLossError("prefill node sent a malformed logits row");
  } else {
    std::vector<float> logits(resp.last_logits().size() / sizeof(float));
    std::memcpy(logits.data(), resp.last_logits().data(), resp.last_logits().size());
    result = std::move(logits);
  }
  uint64_t staged = 0;
  if (result.ok() && staging_.area != nullptr) {
    if (absl::Status st = Unstage(call.job, slots, &staged); !st.ok())
      result = st;
  }
  slots = kv::StagingSlots();
  {
    absl::MutexLock lock(&mu_);
    ++stats_.calls;
    if (result.ok()) {
      stats_.kv_bytes_staged += staged;
      stats_.kv_bytes_received += resp.kv_bytes_sent();
      stats_.transfer_ms += resp.transfer_ms();
    } else {
      ++stats_.failures;
    }
  }
  if (!result.ok()) {
    log::Warn("decode", "remote prefill failed; prefilling locally",
              {{"request_id", call.job.request_id},
               {"prefill_address", call.job.prefill_address},
               {"error", std::string(result.status().message())}});
  }
  call.done(std::move(result));
}

}  // namespace triptych::decode
