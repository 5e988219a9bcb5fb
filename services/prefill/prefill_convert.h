#ifndef TRIPTYCH_SERVICES_PREFILL_PREFILL_CONVERT_H_
#define TRIPTYCH_SERVICES_PREFILL_PREFILL_CONVERT_H_

// Proto -> domain conversion of the prefill node's request, apart from the
// gRPC service so that tests and the fuzz target need no server or model.

#include "absl/status/statusor.h"
#include "proto/triptych.pb.h"
#include "services/prefill/prefill_job.h"

namespace triptych::prefill {

// Copies the request's fields; the result is still untrusted (ValidateJob).
// kInvalidArgument for an unknown kv_layout_version.
absl::StatusOr<PrefillJob> FromProto(const triptych::v1::PrefillRequest& request);

}  // namespace triptych::prefill

#endif  // TRIPTYCH_SERVICES_PREFILL_PREFILL_CONVERT_H_
