#include "services/decode/prefill_client.h"

#include <cstring>

#include "common/grpc/internal_grpc.h"
#include "common/grpc/status_convert.h"
#include "common/log/log.h"
#include "grpcpp/grpcpp.h"

namespace triptych::decode {

GrpcPrefillClient::GrpcPrefillClient(KvTargetInfo target, int num_threads,
                                     absl::Duration timeout)
    : target_(std::move(target)), timeout_(timeout) {
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

void GrpcPrefillClient::Run(Call& call) {
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
  t->mutable_block_ids()->Add(call.job.blocks.begin(), call.job.blocks.end());

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
  {
    absl::MutexLock lock(&mu_);
    ++stats_.calls;
    if (result.ok()) {
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
