#ifndef TRIPTYCH_SERVICES_SCHEDULER_SCHEDULER_SERVICE_H_
#define TRIPTYCH_SERVICES_SCHEDULER_SCHEDULER_SERVICE_H_

// The gRPC adapter of the scheduler (service triptych.v1.Scheduler), on
// gRPC's callback API:
//  - Register / Heartbeat / ListNodes: proto -> domain -> SchedulerCore ->
//    proto, answered inline (the core only takes short mutexes, so gRPC
//    callback threads are never blocked for long);
//  - Generate: a GenerateRelay (generate_relay.h) per call routes the
//    request (on the RoutingPool, as routing may wait for capacity), calls
//    DecodeNode.Generate on the chosen node and relays its events with the
//    callback API, with retry, migration and cancellation propagation.

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "proto/triptych.grpc.pb.h"
#include "services/scheduler/routing_pool.h"
#include "services/scheduler/scheduler_core.h"

namespace triptych::scheduler_service {

// Thread-safe. Must outlive the grpc::Server it is registered with; the
// destructor waits for relays still unwinding.
class SchedulerService final : public v1::Scheduler::CallbackService {
 public:
  // `core` is not owned and must outlive the service.
  explicit SchedulerService(SchedulerCore* core) : core_(core) {}
  ~SchedulerService() override;
  SchedulerService(const SchedulerService&) = delete;
  SchedulerService& operator=(const SchedulerService&) = delete;

  grpc::ServerWriteReactor<v1::GenerateEvent>* Generate(
      grpc::CallbackServerContext* context,
      const v1::GenerateRequest* request) override;
  grpc::ServerUnaryReactor* Register(grpc::CallbackServerContext* context,
                                     const v1::RegisterRequest* request,
                                     v1::RegisterResponse* response) override;
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* context,
                                      const v1::HeartbeatRequest* request,
                                      v1::HeartbeatResponse* response) override;
  grpc::ServerUnaryReactor* ListNodes(grpc::CallbackServerContext* context,
                                      const v1::ListNodesRequest* request,
                                      v1::ListNodesResponse* response) override;

  // For GenerateRelay: a (cached, thread-safe) stub for a decode node.
  v1::DecodeNode::Stub* DecodeStub(const std::string& address);
  // For GenerateRelay: bracket the life of a relay.
  void RelayStarted();
  void RelayEnded();
  SchedulerCore* core() { return core_; }
  RoutingPool& routing_pool() { return routing_pool_; }

 private:
  // Routing threads and the most calls that may wait for one; beyond that
  // Generate answers kResourceExhausted.
  static constexpr int kRoutingThreads = 4;
  static constexpr int kRoutingBacklog = 4096;

  SchedulerCore* const core_;
  RoutingPool routing_pool_{kRoutingThreads, kRoutingBacklog};
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<v1::DecodeNode::Stub>> stubs_
      ABSL_GUARDED_BY(mu_);
  int active_relays_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace triptych::scheduler_service

#endif  // TRIPTYCH_SERVICES_SCHEDULER_SCHEDULER_SERVICE_H_
