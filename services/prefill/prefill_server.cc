#include "services/prefill/prefill_server.h"

#include "absl/strings/str_cat.h"
#include "common/grpc/internal_grpc.h"
#include "common/status_macros.h"
#include "grpcpp/grpcpp.h"
#include "runtime/device/device.h"
#include "services/node/admin.h"
#include "transport/ucx_kv_transport.h"

namespace triptych::prefill {

absl::StatusOr<std::unique_ptr<PrefillServer>> PrefillServer::Start(
    PrefillServerOptions options) {
  auto s = std::unique_ptr<PrefillServer>(new PrefillServer());
  ASSIGN_OR_RETURN(auto transport, transport::UcxKvTransport::Create(options.ucx));
  ASSIGN_OR_RETURN(s->core_, PrefillCore::Create(options.core, std::move(transport)));
  if (!options.memory_address.empty()) {
    const KvGeometry g = s->core_->geometry();
    memory_service::HistoryClientOptions ho;
    ho.memory_address = options.memory_address;
    ho.geometry.num_layers = static_cast<int>(g.num_layers);
    ho.geometry.num_kv_heads = static_cast<int>(g.num_kv_heads);
    ho.geometry.head_dim = static_cast<int>(g.head_dim);
    ho.geometry.block_tokens = static_cast<int>(g.block_size);
    ho.geometry.dtype = g.dtype == "f16" ? kernels::memory::KeyDtype::kF16
                                         : kernels::memory::KeyDtype::kF32;
    ASSIGN_OR_RETURN(s->history_,
                     memory_service::KvHistoryClient::Create(ho, s->core_->transport()));
    s->core_->SetHistoryFetch(
        [client = s->history_](absl::Span<const uint64_t> chain,
                               absl::Span<uint8_t* const> dest) {
          return client->Fetch(chain, dest);
        });
  }
  s->service_ = std::make_unique<PrefillService>(s->core_.get());
  grpc::ServerBuilder builder;
  AddInternalListeningPort(&builder, absl::StrCat(options.host, ":", options.port),
                           &s->port_);
  builder.RegisterService(s->service_.get());
  builder.SetMaxReceiveMessageSize(64 << 20);
  s->grpc_ = builder.BuildAndStart();
  if (s->grpc_ == nullptr || s->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.host, ":", options.port));
  }
  PrefillServer* self = s.get();
  ASSIGN_OR_RETURN(s->admin_,
                   node::StartAdminServer(
                       options.host, options.admin_port, &s->metrics_,
                       [self] { self->RefreshMetrics(); },
                       [self] { return !self->draining_.load(); },
                       node::DeviceHealthFields(
                           s->core_->device(), device::GpuRuntime(),
                           s->core_->kv_staged() ? "staged" : "direct")));
  node::NodeAgentOptions ao;
  ao.scheduler_address = options.scheduler_address;
  ao.cluster_token = options.cluster_token;
  ao.info.set_node_id(options.node_id.empty() ? absl::StrCat("prefill-", s->port_)
                                              : options.node_id);
  ao.info.set_role(triptych::v1::NODE_ROLE_PREFILL);
  ao.info.set_grpc_address(options.advertise_address.empty()
                               ? absl::StrCat(options.host, ":", s->port_)
                               : options.advertise_address);
  ao.info.set_model(s->core_->bundle().model->config().name);
  ao.info.set_block_size(options.core.block_size);
  ao.info.set_kv_blocks_total(options.core.num_kv_blocks);
  s->agent_ = std::make_unique<node::NodeAgent>(
      ao,
      [self] {
        const PrefillStats st = self->core_->stats();
        triptych::v1::NodeLoad load;
        load.set_waiting(static_cast<uint32_t>(st.queue_depth));
        load.set_kv_blocks_free(static_cast<uint64_t>(st.kv_blocks_free));
        load.set_kv_blocks_total(static_cast<uint64_t>(st.kv_blocks_total));
        return load;
      },
      [self] { return node::ToProtoEvents(self->core_->DrainKvEvents()); });
  s->agent_->Start();
  return s;
}

PrefillServer::~PrefillServer() { Shutdown(); }

void PrefillServer::RefreshMetrics() {
  const PrefillStats st = core_->stats();
  metrics_.GetGauge("triptych_prefill_queue_depth", "Prompts waiting for prefill.")
      ->Set(st.queue_depth);
  metrics_.GetGauge("triptych_kv_blocks_total", "KV blocks in the pool.")->Set(st.kv_blocks_total);
  metrics_.GetGauge("triptych_kv_blocks_free", "KV blocks that can be allocated.")
      ->Set(st.kv_blocks_free);
  metrics_.GetCounter("triptych_prefill_jobs_total", "Prefills finished.", {{"result", "ok"}})
      ->MirrorTo(st.jobs_done);
  metrics_.GetCounter("triptych_prefill_jobs_total", "Prefills finished.", {{"result", "error"}})
      ->MirrorTo(st.jobs_failed);
  metrics_.GetCounter("triptych_prompt_tokens_computed_total", "Prompt tokens computed here.")
      ->MirrorTo(st.tokens_computed);
  metrics_.GetCounter("triptych_prefix_cached_tokens_total",
                      "Prompt tokens served from this node's prefix cache.")
      ->MirrorTo(st.tokens_cached);
  metrics_.GetCounter("triptych_history_fetched_tokens_total",
                      "Prompt tokens whose KV came from the memory node's history.")
      ->MirrorTo(st.tokens_from_history);
  metrics_.GetCounter("triptych_history_fetch_failures_total", "KV history fetches that failed.")
      ->MirrorTo(st.history_fetch_failures);
  metrics_.GetCounter("triptych_kv_bytes_sent_total", "KV bytes written to decode nodes over UCX.")
      ->MirrorTo(static_cast<double>(st.kv_bytes_sent));
  metrics_.GetCounter("triptych_prefill_kv_bytes_streamed_total",
                      "KV bytes whose put started before the prompt's last layer was computed "
                      "(transfer overlapped with compute).")
      ->MirrorTo(static_cast<double>(st.kv_bytes_streamed));
  metrics_
      .GetCounter("triptych_prefill_kv_bytes_staged_total",
                  "KV bytes copied out of the pool into host staging slots "
                  "before their put "
                  "(device memory the transport cannot take).")
      ->MirrorTo(static_cast<double>(st.kv_bytes_staged));
  metrics_.GetCounter("triptych_prefill_transfer_tail_seconds_total",
                      "Time from a prompt's last layer computed to all its KV landed, summed.")
      ->MirrorTo(st.transfer_tail_ms / 1000.0);
  metrics_.GetGauge("triptych_prefill_live_jobs", "Prompts being computed together.")
      ->Set(st.live_jobs);
  const transport::TransferStats ts = core_->transport()->stats();
  metrics_.GetCounter("triptych_ucx_bytes_put_total", "Bytes written with UCX puts.")
      ->MirrorTo(static_cast<double>(ts.bytes_put));
  metrics_.GetCounter("triptych_kv_transfer_seconds_total", "Wall time of UCX transfers.")
      ->MirrorTo(absl::ToDoubleSeconds(ts.transfer_time));
  metrics_.GetCounter("triptych_ucx_errors_total", "UCX operations that failed.")
      ->MirrorTo(static_cast<double>(ts.errors));
}

void PrefillServer::Shutdown() {
  if (draining_.exchange(true)) return;
  if (agent_) agent_->Stop(/*draining=*/true);
  if (grpc_) grpc_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  if (core_) core_->Shutdown();
  if (admin_) admin_->Stop(absl::Seconds(1));
}

}  // namespace triptych::prefill
