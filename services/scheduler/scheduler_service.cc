#include "services/scheduler/scheduler_service.h"

#include <vector>

#include "common/grpc/internal_grpc.h"
#include "common/grpc/status_convert.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "services/scheduler/generate_relay.h"
#include "services/scheduler/proto_convert.h"

namespace triptych::scheduler_service {

SchedulerService::~SchedulerService() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](int* n) { return *n == 0; }, &active_relays_));
}

void SchedulerService::RelayStarted() {
  absl::MutexLock lock(&mu_);
  ++active_relays_;
}

void SchedulerService::RelayEnded() {
  absl::MutexLock lock(&mu_);
  --active_relays_;
}

v1::DecodeNode::Stub* SchedulerService::DecodeStub(const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto& stub = stubs_[address];
  if (stub == nullptr) {
    stub = v1::DecodeNode::NewStub(
        InternalChannel(address));
  }
  return stub.get();
}

grpc::ServerWriteReactor<v1::GenerateEvent>* SchedulerService::Generate(
    grpc::CallbackServerContext* context, const v1::GenerateRequest* request) {
  return new GenerateRelay(this, context, request);
}

grpc::ServerUnaryReactor* SchedulerService::Register(
    grpc::CallbackServerContext* context, const v1::RegisterRequest* request,
    v1::RegisterResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<scheduler::NodeInfo> info = FromProto(request->node());
  if (!info.ok()) {
    reactor->Finish(ToGrpcStatus(info.status()));
    return reactor;
  }
  absl::StatusOr<absl::Duration> interval =
      core_->Register(*info, request->cluster_token());
  if (interval.ok()) {
    response->set_heartbeat_interval_ms(
        static_cast<uint32_t>(absl::ToInt64Milliseconds(*interval)));
  }
  reactor->Finish(ToGrpcStatus(interval.status()));
  return reactor;
}

grpc::ServerUnaryReactor* SchedulerService::Heartbeat(
    grpc::CallbackServerContext* context, const v1::HeartbeatRequest* request,
    v1::HeartbeatResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const std::vector<scheduler::KvEvent> events =
      FromProto(request->kv_events());
  absl::Status s =
      core_->Heartbeat(request->node_id(), FromProto(request->load()), events,
                       request->draining());
  // "Unknown" is an answer, not an error: the node registers again.
  response->set_known(s.ok());
  reactor->Finish(s.ok() || absl::IsNotFound(s) ? grpc::Status::OK
                                                : ToGrpcStatus(s));
  return reactor;
}

grpc::ServerUnaryReactor* SchedulerService::ListNodes(
    grpc::CallbackServerContext* context,
    const v1::ListNodesRequest* /*request*/, v1::ListNodesResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  for (const scheduler::NodeView& n : core_->ListNodes()) {
    *response->add_nodes() = ToProto(n);
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace triptych::scheduler_service
