#include "services/memory/memory_service.h"

#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/grpc/status_convert.h"

namespace triptych::memory_service {

MemoryNodeService::MemoryNodeService(MemoryCore* core, metrics::Registry* registry)
    : core_(core), registry_(registry) {}

void MemoryNodeService::FillRegion(v1::MemoryRegion* region) const {
  const PoolRegion& r = core_->region();
  region->set_kv_layout_version(kKvLayoutVersion);
  region->set_ucx_worker_address(r.address.worker_address);
  region->set_ucx_sockaddr(r.address.sockaddr);
  region->set_rkey(r.rkey);
  region->set_pool_base(r.pool_base);
  region->set_block_bytes(r.block_bytes);
}

grpc::ServerUnaryReactor* MemoryNodeService::Done(grpc::CallbackServerContext* context,
                                                  const absl::Status& status,
                                                  const char* rpc, absl::Time start) {
  if (registry_ != nullptr) {
    registry_
        ->GetHistogram("triptych_memory_rpc_seconds",
                       "Memory node KV history RPC latency (server side).",
                       metrics::LatencyBuckets(), {{"rpc", rpc}})
        ->Observe(absl::ToDoubleSeconds(absl::Now() - start));
    if (!status.ok()) {
      registry_
          ->GetCounter("triptych_memory_rpc_errors_total",
                       "Memory node KV history RPCs that failed.", {{"rpc", rpc}})
          ->Increment();
    }
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* MemoryNodeService::LookupHistory(
    grpc::CallbackServerContext* context, const v1::LookupHistoryRequest* request,
    v1::LookupHistoryResponse* response) {
  const absl::Time start = absl::Now();
  absl::StatusOr<KvBlockShape> shape = ShapeFromProto(request->geometry());
  if (!shape.ok()) return Done(context, shape.status(), "lookup", start);
  std::vector<BlockHash> chain(request->chain().begin(), request->chain().end());
  absl::StatusOr<int64_t> n = core_->LookupHistory(*shape, chain);
  if (n.ok()) response->set_matched_blocks(static_cast<uint32_t>(*n));
  return Done(context, n.status(), "lookup", start);
}

grpc::ServerUnaryReactor* MemoryNodeService::OpenRead(grpc::CallbackServerContext* context,
                                                      const v1::OpenReadRequest* request,
                                                      v1::OpenReadResponse* response) {
  const absl::Time start = absl::Now();
  absl::StatusOr<KvBlockShape> shape = ShapeFromProto(request->geometry());
  if (!shape.ok()) return Done(context, shape.status(), "open_read", start);
  std::vector<BlockHash> chain(request->chain().begin(), request->chain().end());
  absl::StatusOr<ReadLease> lease = core_->OpenRead(*shape, chain, request->max_blocks());
  if (lease.ok()) {
    response->set_lease_id(lease->id);
    FillRegion(response->mutable_region());
    response->mutable_offsets()->Add(lease->offsets.begin(), lease->offsets.end());
    response->set_lease_ttl_ms(
        static_cast<uint32_t>(absl::ToInt64Milliseconds(core_->lease_ttl())));
  }
  return Done(context, lease.status(), "open_read", start);
}

grpc::ServerUnaryReactor* MemoryNodeService::OpenWrite(grpc::CallbackServerContext* context,
                                                       const v1::OpenWriteRequest* request,
                                                       v1::OpenWriteResponse* response) {
  const absl::Time start = absl::Now();
  absl::StatusOr<KvBlockShape> shape = ShapeFromProto(request->geometry());
  if (!shape.ok()) return Done(context, shape.status(), "open_write", start);
  std::vector<HistoryBlockRef> blocks;
  blocks.reserve(static_cast<size_t>(request->blocks_size()));
  for (const v1::HistoryBlock& b : request->blocks()) blocks.push_back({b.hash(), b.parent()});
  absl::StatusOr<WriteLease> lease = core_->OpenWrite(*shape, blocks);
  if (lease.ok()) {
    response->set_lease_id(lease->id);
    FillRegion(response->mutable_region());
    for (const WriteSlot& s : lease->slots) {
      v1::WriteSlot* w = response->add_slots();
      w->set_index(s.index);
      w->set_offset(s.offset);
    }
    response->set_lease_ttl_ms(
        static_cast<uint32_t>(absl::ToInt64Milliseconds(core_->lease_ttl())));
  }
  return Done(context, lease.status(), "open_write", start);
}

grpc::ServerUnaryReactor* MemoryNodeService::CloseLease(grpc::CallbackServerContext* context,
                                                        const v1::CloseLeaseRequest* request,
                                                        v1::CloseLeaseResponse* response) {
  const absl::Time start = absl::Now();
  absl::StatusOr<int64_t> n = core_->CloseLease(request->lease_id(), request->commit());
  if (n.ok()) response->set_blocks(static_cast<uint32_t>(*n));
  return Done(context, n.status(), "close_lease", start);
}

grpc::ServerUnaryReactor* MemoryNodeService::SelectRelevant(
    grpc::CallbackServerContext* context, const v1::SelectRelevantRequest* request,
    v1::SelectRelevantResponse* response) {
  const absl::Time start = absl::Now();
  absl::StatusOr<KvBlockShape> shape = ShapeFromProto(request->geometry());
  if (!shape.ok()) return Done(context, shape.status(), "select_relevant", start);
  if (request->query().size() % sizeof(float) != 0) {
    return Done(context, absl::InvalidArgumentError("query bytes are not whole floats"),
                "select_relevant", start);
  }
  memory::RelevanceQuery q;
  q.num_heads = static_cast<int>(request->num_heads());
  for (uint32_t l : request->layers()) {
    if (l >= static_cast<uint32_t>(shape->num_layers)) {
      return Done(context, absl::InvalidArgumentError(absl::StrCat("layer ", l, " out of range")),
                  "select_relevant", start);
    }
    q.layers.push_back(static_cast<int>(l));
  }
  q.q.resize(request->query().size() / sizeof(float));
  std::memcpy(q.q.data(), request->query().data(), q.q.size() * sizeof(float));
  if (request->token_budget() > static_cast<uint64_t>(INT64_MAX) ||
      request->sink_blocks() > 1u << 20 || request->recent_blocks() > 1u << 20) {
    return Done(context, absl::InvalidArgumentError("budget or block counts out of range"),
                "select_relevant", start);
  }
  std::vector<BlockHash> chain(request->chain().begin(), request->chain().end());
  absl::StatusOr<std::vector<BlockHash>> chosen = core_->SelectRelevant(
      *shape, chain, q, static_cast<int64_t>(request->token_budget()),
      static_cast<int>(request->sink_blocks()), static_cast<int>(request->recent_blocks()));
  if (chosen.ok()) {
    response->mutable_hashes()->Add(chosen->begin(), chosen->end());
    // Min and max floats of every scored (layer, KV head) of every block.
    const uint64_t layers = q.layers.empty() ? shape->num_layers : q.layers.size();
    response->set_summary_bytes_scanned(chain.size() * layers * shape->num_kv_heads *
                                        shape->head_dim * 2 * sizeof(float));
  }
  return Done(context, chosen.status(), "select_relevant", start);
}

}  // namespace triptych::memory_service
