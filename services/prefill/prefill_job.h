#ifndef TRIPTYCH_SERVICES_PREFILL_PREFILL_JOB_H_
#define TRIPTYCH_SERVICES_PREFILL_PREFILL_JOB_H_

// A prefill job as the prefill node receives it from a decode node, and the
// checks it must pass before any of its fields is used. Every field is
// untrusted: the job arrives in a gRPC request (see prefill_convert.h).
// Plain values and a pure function; no model, KV cache or gRPC needed, so
// the fuzz target (services/prefill/prefill_request_fuzzer.cc) drives it.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "transport/types.h"

namespace triptych::prefill {

struct KvGeometry {
  int64_t num_layers = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t block_size = 0;
  std::string dtype;  // "f16" or "f32"
  bool operator==(const KvGeometry&) const = default;
};

// Where the decode node wants the blocks (untrusted: checked before use).
struct KvTarget {
  transport::PeerAddress peer;
  std::string rkey;
  uint64_t pool_base = 0;
  uint64_t block_bytes = 0;
  std::vector<int32_t> block_ids;  // receiver blocks, in token order
};

struct PrefillJob {
  std::string request_id;
  std::vector<int32_t> tokens;
  int64_t skip_tokens = 0;  // leading tokens the receiver already holds
  KvTarget target;
  KvGeometry geometry;
};

// What this node can run: its KV geometry (block_size > 0), its model's
// context length and vocabulary, and the bytes of one KV block.
struct JobLimits {
  KvGeometry geometry;
  int64_t context_length = 0;
  int64_t vocab_size = 0;
  uint64_t block_bytes = 0;
};

// Checks `job` against `limits`. On success every token is a vocabulary
// id, 0 < tokens < context_length, skip_tokens is a block multiple below
// the prompt length, and target.block_ids holds a non-negative receiver
// block for each of the prompt's blocks. Errors: kFailedPrecondition (KV
// geometry or block bytes differ from this node's), kInvalidArgument
// (anything else).
absl::Status ValidateJob(const PrefillJob& job, const JobLimits& limits);

}  // namespace triptych::prefill

#endif  // TRIPTYCH_SERVICES_PREFILL_PREFILL_JOB_H_
