#include "services/prefill/prefill_convert.h"

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

}  // namespace triptych::prefill
