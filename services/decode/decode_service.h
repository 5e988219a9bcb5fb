#ifndef TRIPTYCH_SERVICES_DECODE_DECODE_SERVICE_H_
#define TRIPTYCH_SERVICES_DECODE_DECODE_SERVICE_H_

// gRPC adapter of the decode node: triptych.v1.DecodeNode on the callback
// API. Each Generate call converts the proto request, starts it on the core
// and streams the core's outputs back; a cancelled call cancels the request
// (its KV blocks are freed by the engine).

#include "proto/triptych.grpc.pb.h"
#include "services/decode/decode_core.h"

namespace triptych::decode {

// Proto <-> domain conversions (exposed for tests).
engine::GenerationRequest FromProto(const triptych::v1::DecodeRequest& request);
triptych::v1::GenerateEvent ToProto(const engine::TokenOutput& output);

class DecodeService final : public triptych::v1::DecodeNode::CallbackService {
 public:
  // `core` must outlive the service.
  explicit DecodeService(DecodeCore* core) : core_(core) {}

  grpc::ServerWriteReactor<triptych::v1::GenerateEvent>* Generate(
      grpc::CallbackServerContext* context,
      const triptych::v1::DecodeRequest* request) override;

 private:
  DecodeCore* core_;
};

}  // namespace triptych::decode

#endif  // TRIPTYCH_SERVICES_DECODE_DECODE_SERVICE_H_
