#include "services/prefill/prefill_service.h"

#include "common/grpc/status_convert.h"

namespace triptych::prefill {

// The KV block byte layout this build reads and writes (docs/KV_LAYOUT.md).
constexpr uint32_t kKvLayoutVersion = 1;

absl::StatusOr<PrefillJob> FromProto(const triptych::v1::PrefillRequest& r) {
  if (r.target().kv_layout_version() != kKvLayoutVersion) {
    return absl::InvalidArgumentError("unsupported kv_layout_version");
  }
  PrefillJob job;
  job.request_id = r.request_id();
  job.tokens.assign(r.tokens().begin(), r.tokens().end());
  job.skip_tokens = r.skip_tokens();
  job.target.peer.worker_address = r.target().ucx_worker_address();
  job.target.peer.sockaddr = r.target().ucx_sockaddr();
  job.target.rkey = r.target().rkey();
  job.target.pool_base = r.target().pool_base();
  job.target.block_bytes = r.target().block_bytes();
  job.target.block_ids.assign(r.target().block_ids().begin(), r.target().block_ids().end());
  job.geometry.num_layers = r.geometry().num_layers();
  job.geometry.num_kv_heads = r.geometry().num_kv_heads();
  job.geometry.head_dim = r.geometry().head_dim();
  job.geometry.block_size = r.geometry().block_size();
  job.geometry.dtype = r.geometry().dtype();
  return job;
}

grpc::ServerUnaryReactor* PrefillService::Prefill(
    grpc::CallbackServerContext* context, const triptych::v1::PrefillRequest* request,
    triptych::v1::PrefillResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<PrefillJob> job = FromProto(*request);
  if (!job.ok()) {
    reactor->Finish(ToGrpcStatus(job.status()));
    return reactor;
  }
  // The reactor and response stay valid until Finish is called.
  core_->Submit(std::move(*job), [reactor, response](absl::StatusOr<PrefillResult> r) {
    if (!r.ok()) {
      reactor->Finish(ToGrpcStatus(r.status()));
      return;
    }
    response->set_last_logits(r->last_logits.data(), r->last_logits.size() * sizeof(float));
    response->set_computed_tokens(static_cast<uint32_t>(r->computed_tokens));
    response->set_cached_tokens(static_cast<uint32_t>(r->cached_tokens));
    response->set_kv_bytes_sent(r->kv_bytes_sent);
    response->set_compute_ms(r->compute_ms);
    response->set_transfer_ms(r->transfer_ms);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace triptych::prefill
