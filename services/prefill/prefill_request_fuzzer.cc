// libFuzzer target for the prefill node's handling of an untrusted
// PrefillRequest (built with -DTRIPTYCH_FUZZ=ON and clang; see
// docs/FUZZING.md).
//
// The input is a serialized triptych.v1.PrefillRequest, as a decode node
// (or anything that can reach the gRPC port) sends it. It goes through the
// steps the node takes before bytes move: proto parse, FromProto,
// ValidateJob against a fixed node, then the transport's checks of the
// remote KV target (sockaddr or framed worker address, framed rkey, and the
// remote range of every block the node would write).

#include <cstddef>
#include <cstdint>
#include <string>

#include "proto/triptych.pb.h"
#include "services/prefill/prefill_convert.h"
#include "services/prefill/prefill_fuzz_node.h"
#include "services/prefill/prefill_job.h"
#include "transport/wire_format.h"

namespace {

namespace transport = triptych::transport;
using triptych::prefill::JobLimits;
using triptych::prefill::PrefillJob;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

bool IsInvalidInput(const absl::Status& s) {
  return s.code() == absl::StatusCode::kInvalidArgument ||
         s.code() == absl::StatusCode::kFailedPrecondition;
}

// What PrefillCore::RunBatch and KvTransport::Put do with a valid job's
// target, minus the bytes.
void CheckTarget(const PrefillJob& job, const JobLimits& limits) {
  const transport::PeerAddress& peer = job.target.peer;
  if (!peer.sockaddr.empty()) {
    auto hp = transport::ParseHostPort(peer.sockaddr);
    Check(hp.ok() || hp.status().code() == absl::StatusCode::kInvalidArgument);
  } else {
    auto address = transport::UnwrapWorkerAddress(peer.worker_address);
    Check(address.ok() || address.status().code() == absl::StatusCode::kInvalidArgument);
  }
  auto rkey = transport::UnwrapRkey(job.target.rkey);
  if (!rkey.ok()) {
    Check(rkey.status().code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  const int64_t bs = limits.geometry.block_size;
  const int64_t n = static_cast<int64_t>(job.tokens.size());
  for (int64_t b = job.skip_tokens / bs; b < (n + bs - 1) / bs; ++b) {
    Check(b >= 0 && b < static_cast<int64_t>(job.target.block_ids.size()));
    const uint64_t remote = job.target.pool_base +
                            static_cast<uint64_t>(job.target.block_ids[b]) * job.target.block_bytes;
    const absl::Status st = transport::CheckRemoteRange(
        *rkey, remote, static_cast<size_t>(limits.block_bytes));
    if (st.ok()) {
      Check(remote >= rkey->region_base &&
            remote - rkey->region_base + limits.block_bytes <= rkey->region_length);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  triptych::v1::PrefillRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  auto job = triptych::prefill::FromProto(request);
  if (!job.ok()) {
    Check(job.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  const JobLimits limits = triptych::prefill::FuzzNodeLimits();
  const absl::Status valid = triptych::prefill::ValidateJob(*job, limits);
  if (!valid.ok()) {
    Check(IsInvalidInput(valid));
    return 0;
  }
  const int64_t n = static_cast<int64_t>(job->tokens.size());
  const int64_t bs = limits.geometry.block_size;
  Check(n > 0 && n < limits.context_length);
  for (int32_t t : job->tokens) Check(t >= 0 && t < limits.vocab_size);
  Check(job->skip_tokens >= 0 && job->skip_tokens < n && job->skip_tokens % bs == 0);
  Check(static_cast<int64_t>(job->target.block_ids.size()) >= (n + bs - 1) / bs);
  CheckTarget(*job, limits);
  return 0;
}
