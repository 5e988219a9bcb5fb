#include "services/scheduler/proto_convert.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace triptych::scheduler_service {
namespace {

constexpr uint64_t kMaxInt = std::numeric_limits<int>::max();
constexpr uint64_t kMaxInt64 = std::numeric_limits<int64_t>::max();

int ClampInt(uint64_t v) { return static_cast<int>(v > kMaxInt ? kMaxInt : v); }

}  // namespace

absl::StatusOr<scheduler::NodeInfo> FromProto(const v1::NodeInfo& info) {
  scheduler::NodeInfo out;
  switch (info.role()) {
    case v1::NODE_ROLE_PREFILL:
      out.role = scheduler::NodeRole::kPrefill;
      break;
    case v1::NODE_ROLE_DECODE:
      out.role = scheduler::NodeRole::kDecode;
      break;
    case v1::NODE_ROLE_MEMORY:
      out.role = scheduler::NodeRole::kMemory;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("node ", info.node_id(), ": role is unspecified"));
  }
  if (info.block_size() > kMaxInt || info.max_running() > kMaxInt ||
      info.kv_blocks_total() > kMaxInt64) {
    return absl::InvalidArgumentError(
        absl::StrCat("node ", info.node_id(), ": capacity field out of range"));
  }
  out.id = info.node_id();
  out.address = info.grpc_address();
  out.model = info.model();
  out.block_size = static_cast<int>(info.block_size());
  out.kv_blocks_total = static_cast<int64_t>(info.kv_blocks_total());
  out.max_running = static_cast<int>(info.max_running());
  return out;
}

scheduler::NodeLoad FromProto(const v1::NodeLoad& load) {
  scheduler::NodeLoad out;
  out.running = ClampInt(load.running());
  out.waiting = ClampInt(load.waiting());
  out.kv_blocks_free = static_cast<int64_t>(
      std::min<uint64_t>(load.kv_blocks_free(), kMaxInt64));
  out.kv_blocks_total = static_cast<int64_t>(
      std::min<uint64_t>(load.kv_blocks_total(), kMaxInt64));
  out.tokens_per_second = load.tokens_per_second();
  return out;
}

std::vector<scheduler::KvEvent> FromProto(
    const google::protobuf::RepeatedPtrField<v1::KvEvent>& events) {
  std::vector<scheduler::KvEvent> out;
  out.reserve(events.size());
  for (const v1::KvEvent& e : events) {
    if (e.kind() == v1::KvEvent::KIND_STORED) {
      out.push_back({scheduler::KvEvent::Kind::kStored, e.block_hash()});
    } else if (e.kind() == v1::KvEvent::KIND_EVICTED) {
      out.push_back({scheduler::KvEvent::Kind::kEvicted, e.block_hash()});
    }
  }
  return out;
}

absl::StatusOr<scheduler::RequestSpec> FromProto(
    const v1::GenerateRequest& request) {
  if (request.max_tokens() > kMaxInt || request.ttft_slo_ms() > kMaxInt ||
      request.tpot_slo_ms() > kMaxInt) {
    return absl::InvalidArgumentError("max_tokens or SLO out of range");
  }
  scheduler::RequestSpec spec;
  spec.request_id = request.request_id();
  spec.prompt_tokens.assign(request.prompt_tokens().begin(),
                            request.prompt_tokens().end());
  spec.max_tokens = static_cast<int>(request.max_tokens());
  spec.ttft_slo_ms = static_cast<int>(request.ttft_slo_ms());
  spec.tpot_slo_ms = static_cast<int>(request.tpot_slo_ms());
  return spec;
}

v1::NodeRole ToProto(scheduler::NodeRole role) {
  switch (role) {
    case scheduler::NodeRole::kPrefill:
      return v1::NODE_ROLE_PREFILL;
    case scheduler::NodeRole::kDecode:
      return v1::NODE_ROLE_DECODE;
    case scheduler::NodeRole::kMemory:
      return v1::NODE_ROLE_MEMORY;
  }
  return v1::NODE_ROLE_UNSPECIFIED;
}

v1::NodeStatus ToProto(const scheduler::NodeView& node) {
  v1::NodeStatus out;
  v1::NodeInfo* info = out.mutable_node();
  info->set_node_id(node.info.id);
  info->set_role(ToProto(node.info.role));
  info->set_grpc_address(node.info.address);
  info->set_model(node.info.model);
  info->set_block_size(static_cast<uint32_t>(node.info.block_size));
  info->set_kv_blocks_total(static_cast<uint64_t>(node.info.kv_blocks_total));
  info->set_max_running(static_cast<uint32_t>(node.info.max_running));
  v1::NodeLoad* load = out.mutable_load();
  load->set_running(static_cast<uint32_t>(node.load.running));
  load->set_waiting(static_cast<uint32_t>(node.load.waiting));
  load->set_kv_blocks_free(static_cast<uint64_t>(node.load.kv_blocks_free));
  load->set_kv_blocks_total(static_cast<uint64_t>(node.load.kv_blocks_total));
  load->set_tokens_per_second(node.load.tokens_per_second);
  out.set_state(scheduler::StateName(node.state));
  out.set_cached_blocks(static_cast<uint64_t>(node.cached_blocks));
  return out;
}

v1::RouteInfo ToProto(const scheduler::RouteDecision& decision) {
  v1::RouteInfo out;
  out.set_decode_node(decision.decode.id);
  if (decision.prefill.has_value()) out.set_prefill_node(decision.prefill->id);
  out.set_policy(scheduler::PolicyName(decision.policy));
  out.set_reason(decision.reason);
  return out;
}

}  // namespace triptych::scheduler_service
