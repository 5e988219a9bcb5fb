#include "services/prefill/prefill_service.h"

#include "common/grpc/status_convert.h"

namespace triptych::prefill {

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
