#include "services/memory/memory_server.h"

#include "absl/strings/str_cat.h"
#include "common/grpc/internal_grpc.h"
#include "common/status_macros.h"
#include "grpcpp/grpcpp.h"
#include "kernels/memory_backends/memory_backends.h"
#include "runtime/gguf/gguf_reader.h"
#include "runtime/model/model_config.h"
#include "services/node/admin.h"
#include "transport/ucx_kv_transport.h"

namespace triptych::memory_service {
namespace {

absl::StatusOr<KvBlockShape> ShapeFromModel(const MemoryServerOptions& o) {
  ASSIGN_OR_RETURN(auto file, gguf::GgufFile::Open(o.model_path));
  ASSIGN_OR_RETURN(model::ModelConfig c, model::ConfigFromGguf(*file));
  KvBlockShape s;
  s.num_layers = static_cast<int>(c.num_layers);
  s.num_kv_heads = static_cast<int>(c.num_kv_heads);
  s.head_dim = static_cast<int>(c.head_dim);
  s.block_tokens = o.block_size;
  if (o.kv_dtype == "f16") {
    s.dtype = kernels::memory::KeyDtype::kF16;
  } else if (o.kv_dtype == "f32") {
    s.dtype = kernels::memory::KeyDtype::kF32;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown kv dtype '", o.kv_dtype, "'"));
  }
  return s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MemoryServer>> MemoryServer::Start(MemoryServerOptions options) {
  auto s = std::unique_ptr<MemoryServer>(new MemoryServer());
  ASSIGN_OR_RETURN(options.core.history.geometry, ShapeFromModel(options));
  ASSIGN_OR_RETURN(kernels::memory::MemoryBackendKind kind,
                   kernels::memory::ParseMemoryBackendKind(options.backend));
  kernels::memory_backends::MemoryBackendOptions bo;
  bo.fpga_xclbin_path = options.fpga_xclbin;
  ASSIGN_OR_RETURN(s->backend_, kernels::memory_backends::CreateMemoryBackend(kind, bo));
  options.core.history.backend = s->backend_.get();
  options.core.collections.backend = s->backend_.get();
  ASSIGN_OR_RETURN(auto transport, transport::UcxKvTransport::Create(options.ucx));
  ASSIGN_OR_RETURN(s->core_, MemoryCore::Create(options.core, std::move(transport)));
  s->service_ = std::make_unique<MemoryNodeService>(s->core_.get(), &s->metrics_);
  s->retrieval_ = std::make_unique<RetrievalService>(s->core_->collections(), &s->metrics_);

  grpc::ServerBuilder builder;
  AddInternalListeningPort(&builder, absl::StrCat(options.host, ":", options.port),
                           &s->port_);
  builder.RegisterService(s->service_.get());
  builder.RegisterService(s->retrieval_.get());
  builder.SetMaxReceiveMessageSize(64 << 20);
  s->grpc_ = builder.BuildAndStart();
  if (s->grpc_ == nullptr || s->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.host, ":", options.port));
  }
  MemoryServer* self = s.get();
  ASSIGN_OR_RETURN(s->admin_, node::StartAdminServer(
                                  options.host, options.admin_port, &s->metrics_,
                                  [self] { self->RefreshMetrics(); },
                                  [self] { return !self->draining_.load(); }));
  node::NodeAgentOptions ao;
  ao.scheduler_address = options.scheduler_address;
  ao.cluster_token = options.cluster_token;
  ao.info.set_node_id(options.node_id.empty() ? absl::StrCat("memory-", s->port_)
                                              : options.node_id);
  ao.info.set_role(triptych::v1::NODE_ROLE_MEMORY);
  ao.info.set_grpc_address(options.advertise_address.empty()
                               ? absl::StrCat(options.host, ":", s->port_)
                               : options.advertise_address);
  ao.info.set_block_size(static_cast<uint32_t>(options.block_size));
  ao.info.set_kv_blocks_total(static_cast<uint64_t>(options.core.history.ram_capacity_blocks +
                                                    options.core.history.disk_capacity_blocks));
  s->agent_ = std::make_unique<node::NodeAgent>(
      ao,
      [self] {
        const memory::KvHistoryStats st = self->core_->history()->stats();
        const MemoryCoreOptions& o = self->core_->options();
        triptych::v1::NodeLoad load;
        load.set_running(static_cast<uint32_t>(self->core_->stats().open_leases));
        const int64_t total = o.history.ram_capacity_blocks + o.history.disk_capacity_blocks;
        load.set_kv_blocks_total(static_cast<uint64_t>(total));
        load.set_kv_blocks_free(
            static_cast<uint64_t>(std::max<int64_t>(0, total - st.ram_blocks - st.disk_blocks)));
        return load;
      },
      [self] {
        std::vector<kv::BlockEvent> events;
        for (const memory::HistoryEvent& e : self->core_->history()->DrainEvents()) {
          events.push_back({e.kind == memory::HistoryEvent::Kind::kStored
                                ? kv::BlockEvent::Kind::kStored
                                : kv::BlockEvent::Kind::kEvicted,
                            e.hash});
        }
        return node::ToProtoEvents(events);
      });
  s->agent_->Start();
  return s;
}

MemoryServer::~MemoryServer() { Shutdown(); }

void MemoryServer::RefreshMetrics() {
  const memory::KvHistoryStats h = core_->history()->stats();
  const MemoryCoreStats c = core_->stats();
  const transport::TransferStats t = core_->transport()->stats();
  auto gauge = [&](const char* name, const char* help, double v) {
    metrics_.GetGauge(name, help)->Set(v);
  };
  auto counter = [&](const char* name, const char* help, double v) {
    metrics_.GetCounter(name, help)->MirrorTo(v);
  };
  gauge("triptych_memory_history_ram_blocks", "KV history blocks in the RAM tier.", h.ram_blocks);
  gauge("triptych_memory_history_disk_blocks", "KV history blocks in the disk tier.",
        h.disk_blocks);
  gauge("triptych_memory_history_pinned_blocks", "Blocks pinned by read or write leases.",
        h.pinned_blocks);
  gauge("triptych_memory_leases_open", "Open read/write leases.", c.open_leases);
  counter("triptych_memory_leases_expired_total", "Leases expired (peer never closed them).",
          c.leases_expired);
  counter("triptych_memory_history_hits_total", "Blocks found by lookups, reads and pins.",
          h.hits);
  counter("triptych_memory_history_misses_total", "Blocks not found by lookups and pins.",
          h.misses);
  counter("triptych_memory_lookup_blocks_queried_total", "Chain blocks asked for by lookups.",
          c.lookup_blocks_queried);
  counter("triptych_memory_lookup_blocks_matched_total", "Chain blocks lookups found stored.",
          c.lookup_blocks_matched);
  counter("triptych_memory_history_spills_total", "Blocks moved RAM -> disk.", h.spills);
  counter("triptych_memory_history_reloads_total", "Blocks moved disk -> RAM.", h.reloads);
  counter("triptych_memory_history_evictions_total", "Blocks dropped from the store.",
          h.evictions);
  counter("triptych_memory_history_blocks_committed_total", "Blocks written by peers.",
          c.blocks_committed);
  counter("triptych_memory_history_blocks_aborted_total",
          "Reserved blocks dropped (aborted or expired writes).", c.blocks_aborted);
  counter("triptych_memory_disk_bytes_written_total", "Disk tier bytes written.",
          h.disk_bytes_written);
  counter("triptych_memory_disk_bytes_read_total", "Disk tier bytes read.", h.disk_bytes_read);
  counter("triptych_memory_relevance_queries_total", "Relevance selections run.",
          h.relevance_queries);
  counter("triptych_memory_relevance_blocks_scored_total", "Blocks scored for relevance.",
          h.relevance_blocks_scored);
  counter("triptych_memory_relevance_blocks_selected_total", "Blocks selected as relevant.",
          h.relevance_blocks_selected);
  counter("triptych_memory_relevance_summary_bytes_total", "Key summary bytes scanned.",
          h.relevance_summary_bytes);
  counter("triptych_ucx_errors_total", "UCX operations that failed.", t.errors);
}

void MemoryServer::Shutdown() {
  if (shut_down_.exchange(true)) return;
  draining_ = true;
  if (agent_) agent_->Stop(/*draining=*/true);
  if (grpc_) grpc_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
  if (admin_) admin_->Stop(absl::Seconds(1));
}

}  // namespace triptych::memory_service
