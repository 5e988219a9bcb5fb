#ifndef TRIPTYCH_SERVICES_MEMORY_KV_GEOMETRY_H_
#define TRIPTYCH_SERVICES_MEMORY_KV_GEOMETRY_H_

// KV block geometry between proto (KvGeometry) and the memory kernels'
// KvBlockShape, shared by the memory node's service and its clients.

#include <cstdint>

#include "absl/status/statusor.h"
#include "kernels/memory/quest.h"
#include "proto/triptych.pb.h"

namespace triptych::memory_service {

// The KV block byte layout this build reads and writes (docs/KV_LAYOUT.md).
constexpr uint32_t kKvLayoutVersion = 1;

using KvBlockShape = kernels::memory::KvBlockShape;

// kInvalidArgument for an unknown dtype or non-positive sizes (the proto
// comes from peers: untrusted).
absl::StatusOr<KvBlockShape> ShapeFromProto(const v1::KvGeometry& g);
v1::KvGeometry ShapeToProto(const KvBlockShape& shape);

}  // namespace triptych::memory_service

#endif  // TRIPTYCH_SERVICES_MEMORY_KV_GEOMETRY_H_
