#include "services/memory/kv_geometry.h"

#include "absl/strings/str_cat.h"

namespace triptych::memory_service {

absl::StatusOr<KvBlockShape> ShapeFromProto(const v1::KvGeometry& g) {
  KvBlockShape s;
  s.num_layers = static_cast<int>(g.num_layers());
  s.num_kv_heads = static_cast<int>(g.num_kv_heads());
  s.head_dim = static_cast<int>(g.head_dim());
  s.block_tokens = static_cast<int>(g.block_size());
  if (g.dtype() == "f16") {
    s.dtype = kernels::memory::KeyDtype::kF16;
  } else if (g.dtype() == "f32") {
    s.dtype = kernels::memory::KeyDtype::kF32;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown KV dtype '", g.dtype(), "' (f16 or f32)"));
  }
  if (s.num_layers <= 0 || s.num_kv_heads <= 0 || s.head_dim <= 0 ||
      s.block_tokens <= 0) {
    return absl::InvalidArgumentError("KV geometry sizes must be positive");
  }
  return s;
}

v1::KvGeometry ShapeToProto(const KvBlockShape& s) {
  v1::KvGeometry g;
  g.set_num_layers(static_cast<uint32_t>(s.num_layers));
  g.set_num_kv_heads(static_cast<uint32_t>(s.num_kv_heads));
  g.set_head_dim(static_cast<uint32_t>(s.head_dim));
  g.set_block_size(static_cast<uint32_t>(s.block_tokens));
  g.set_dtype(s.dtype == kernels::memory::KeyDtype::kF16 ? "f16" : "f32");
  return g;
}

}  // namespace triptych::memory_service
