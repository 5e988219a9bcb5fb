#ifndef TRIPTYCH_SERVICES_PREFILL_KV_COPIES_H_
#define TRIPTYCH_SERVICES_PREFILL_KV_COPIES_H_

// Which byte ranges carry a given (layers x token positions) part of a
// sequence's KV, in the block layout of docs/KV_LAYOUT.md:
// block[L][2 (K, V)][B][H * D * E]. The prefill node streams KV with these:
// one layer of a chunk's positions as soon as that layer is computed.
// Pure functions, no model or transport.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "transport/types.h"

namespace triptych::prefill {

struct BlockLayout {
  int64_t num_layers = 0;
  int64_t block_size = 0;    // token slots per block (B)
  uint64_t token_bytes = 0;  // one token's K (or V) of one layer: H * D * E
  uint64_t layer_stride() const { return 2 * static_cast<uint64_t>(block_size) * token_bytes; }
  uint64_t block_bytes() const { return static_cast<uint64_t>(num_layers) * layer_stride(); }
};

// Appends to `out` the copies that move layers [l0, l1) of token positions
// [t0, t1) from `local_blocks` (the sender's block i holds positions
// [i * B, (i + 1) * B)) to the receiver's blocks `remote_blocks` in the
// region at `remote_base`. A block whose positions are all in range goes as
// one range per layer span (one range when all layers are asked for);
// otherwise K and V of the covered slots go as two ranges per layer. So the
// ranges of two calls with disjoint (layer, position) sets never overlap,
// and puts built from them may be in flight together. Returns the bytes
// added. Preconditions (checked by the caller, e.g. ValidateJob): both
// spans cover every block of [t0, t1), 0 <= l0 <= l1 <= num_layers.
uint64_t AppendKvCopies(const BlockLayout& layout, int64_t l0, int64_t l1, int64_t t0,
                        int64_t t1, absl::Span<const uint8_t* const> local_blocks,
                        uint64_t remote_base, absl::Span<const int32_t> remote_blocks,
                        std::vector<transport::Copy>* out);

// Whether KV moves through host staging slots (kv::StagingArea) instead of
// straight from / into the pool: `mode` "auto" stages exactly when the pool
// is device memory the transport cannot take (a discrete GPU without a
// CUDA/ROCm-enabled UCX); "on" always stages (the path a GPU takes, kept
// testable on the host); "off" never, and is kFailedPrecondition when the
// pool needs it. kInvalidArgument for another mode.
absl::StatusOr<bool> UseKvStaging(const std::string& mode,
                                  bool pool_host_accessible,
                                  bool transport_handles_device_memory);

}  // namespace triptych::prefill

#endif  // TRIPTYCH_SERVICES_PREFILL_KV_COPIES_H_
