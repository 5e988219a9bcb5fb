#ifndef TRIPTYCH_SERVICES_PREFILL_PREFILL_FUZZ_NODE_H_
#define TRIPTYCH_SERVICES_PREFILL_PREFILL_FUZZ_NODE_H_

// The prefill node that prefill_request_fuzzer validates requests against,
// shared with its seed writer so that the seeds pass validation.

#include "services/prefill/prefill_job.h"

namespace triptych::prefill {

inline JobLimits FuzzNodeLimits() {
  JobLimits limits;
  limits.geometry = KvGeometry{2, 2, 8, 16, "f16"};
  limits.context_length = 256;
  limits.vocab_size = 512;
  // K and V per layer: 2 layers * 2 * 2 heads * 8 dims * 16 tokens * 2 bytes.
  limits.block_bytes = 2 * 2 * 2 * 8 * 16 * 2;
  return limits;
}

}  // namespace triptych::prefill

#endif  // TRIPTYCH_SERVICES_PREFILL_PREFILL_FUZZ_NODE_H_
