#ifndef TRIPTYCH_SERVICES_SCHEDULER_PROTO_CONVERT_H_
#define TRIPTYCH_SERVICES_SCHEDULER_PROTO_CONVERT_H_

// Proto <-> scheduler domain types, at the service edge. Proto fields are
// untrusted: out-of-range values become kInvalidArgument, never UB.

#include <vector>

#include "absl/status/statusor.h"
#include "proto/triptych.pb.h"
#include "scheduler/types.h"

namespace triptych::scheduler_service {

// kInvalidArgument for NODE_ROLE_UNSPECIFIED or values that do not fit.
absl::StatusOr<scheduler::NodeInfo> FromProto(const v1::NodeInfo& info);
scheduler::NodeLoad FromProto(const v1::NodeLoad& load);
// Events of unknown kind are skipped.
std::vector<scheduler::KvEvent> FromProto(
    const google::protobuf::RepeatedPtrField<v1::KvEvent>& events);
// kInvalidArgument when a field does not fit the domain type.
absl::StatusOr<scheduler::RequestSpec> FromProto(
    const v1::GenerateRequest& request);

v1::NodeRole ToProto(scheduler::NodeRole role);
v1::NodeStatus ToProto(const scheduler::NodeView& node);
v1::RouteInfo ToProto(const scheduler::RouteDecision& decision);

}  // namespace triptych::scheduler_service

#endif  // TRIPTYCH_SERVICES_SCHEDULER_PROTO_CONVERT_H_
