#include "services/prefill/kv_copies.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace triptych::prefill {

uint64_t AppendKvCopies(const BlockLayout& layout, int64_t l0, int64_t l1, int64_t t0,
                        int64_t t1, absl::Span<const uint8_t* const> local_blocks,
                        uint64_t remote_base, absl::Span<const int32_t> remote_blocks,
                        std::vector<transport::Copy>* out) {
  if (t0 >= t1 || l0 >= l1) return 0;
  const int64_t bs = layout.block_size;
  const uint64_t stride = layout.layer_stride();
  const uint64_t tb = layout.token_bytes;
  uint64_t bytes = 0;
  auto add = [&](const uint8_t* local, uint64_t remote, uint64_t length) {
    out->push_back(transport::Copy{local, remote, static_cast<size_t>(length)});
    bytes += length;
  };
  for (int64_t b = t0 / bs; b * bs < t1; ++b) {
    const uint8_t* local = local_blocks[b];
    const uint64_t remote =
        remote_base + static_cast<uint64_t>(remote_blocks[b]) * layout.block_bytes();
    const int64_t s0 = std::max(t0, b * bs) - b * bs;
    const int64_t s1 = std::min(t1, (b + 1) * bs) - b * bs;
    if (s0 == 0 && s1 == bs) {
      // Whole block: layers [l0, l1) are one contiguous range.
      add(local + l0 * stride, remote + l0 * stride, (l1 - l0) * stride);
      continue;
    }
    for (int64_t l = l0; l < l1; ++l) {
      for (int kind = 0; kind < 2; ++kind) {  // K, then V
        const uint64_t off = l * stride + kind * bs * tb + s0 * tb;
        add(local + off, remote + off, (s1 - s0) * tb);
      }
    }
  }
  return bytes;
}

absl::StatusOr<bool> UseKvStaging(const std::string& mode,
                                  bool pool_host_accessible,
                                  bool transport_handles_device_memory) {
  const bool needed = !pool_host_accessible && !transport_handles_device_memory;
  if (mode == "auto") return needed;
  if (mode == "on") return true;
  if (mode == "off") {
    if (needed) {
      return absl::FailedPreconditionError(
          "--kv-staging off: the KV pool is device memory that this UCX cannot "
          "register "
          "(built without CUDA/ROCm memory support); use --kv-staging auto");
    }
    return false;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--kv-staging must be auto, on or off, not '", mode, "'"));
}

}  // namespace triptych::prefill
