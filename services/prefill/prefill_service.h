#ifndef TRIPTYCH_SERVICES_PREFILL_PREFILL_SERVICE_H_
#define TRIPTYCH_SERVICES_PREFILL_PREFILL_SERVICE_H_

// gRPC adapter of the prefill node (triptych.v1.PrefillNode, callback API):
// converts the request, queues it on the core, answers when the KV has been
// written to the decode node.

#include "absl/status/statusor.h"
#include "proto/triptych.grpc.pb.h"
#include "services/prefill/prefill_convert.h"
#include "services/prefill/prefill_core.h"

namespace triptych::prefill {

class PrefillService final : public triptych::v1::PrefillNode::CallbackService {
 public:
  explicit PrefillService(PrefillCore* core) : core_(core) {}

  grpc::ServerUnaryReactor* Prefill(grpc::CallbackServerContext* context,
                                    const triptych::v1::PrefillRequest* request,
                                    triptych::v1::PrefillResponse* response) override;

 private:
  PrefillCore* core_;
};

}  // namespace triptych::prefill

#endif  // TRIPTYCH_SERVICES_PREFILL_PREFILL_SERVICE_H_
