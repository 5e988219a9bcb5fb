#ifndef TRIPTYCH_COMMON_GRPC_STATUS_CONVERT_H_
#define TRIPTYCH_COMMON_GRPC_STATUS_CONVERT_H_

// The one place that converts between absl::Status and grpc::Status. Codes
// map one to one (both follow google.rpc.Code).

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace triptych {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace triptych

#endif  // TRIPTYCH_COMMON_GRPC_STATUS_CONVERT_H_
