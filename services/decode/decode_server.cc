#include "services/decode/decode_server.h"

#include "absl/strings/str_cat.h"
#include "common/grpc/internal_grpc.h"
#include "common/status_macros.h"
#include "grpcpp/grpcpp.h"
#include "runtime/device/device.h"
#include "services/node/admin.h"
#include "transport/ucx_kv_transport.h"

namespace triptych::decode {

absl::StatusOr<std::unique_ptr<DecodeServer>> DecodeServer::Start(
    DecodeServerOptions options) {
  auto s = std::unique_ptr<DecodeServer>(new DecodeServer());
  s->options_ = options;
  ASSIGN_OR_RETURN(s->transport_, transport::UcxKvTransport::Create(options.ucx));
  DecodeCoreOptions co;
  co.model_path = options.model_path;
  co.device = options.device;
  co.engine = options.engine;
  co.metrics = &s->metrics_;
  co.kv_history = !options.memory_address.empty();
  ASSIGN_OR_RETURN(s->core_, DecodeCore::Create(co));

  // Register the whole KV pool once; prefill nodes put blocks straight into
  // it. Or, when the pool is device memory this UCX cannot take, register a
  // host staging area instead (docs/TRANSPORT.md).
  kv::KvCache* cache = s->core_->kv_cache();
  ASSIGN_OR_RETURN(
      const bool staged,
      prefill::UseKvStaging(
          options.kv_staging, cache->host_accessible(),
          s->transport_->HandlesDeviceMemory(device::GpuRuntime())));
  KvStagingTarget staging;
  if (staged) {
    ASSIGN_OR_RETURN(s->staging_,
                     kv::StagingArea::Create(options.kv_staging_blocks > 0
                                                 ? options.kv_staging_blocks
                                                 : cache->options().num_blocks,
                                             cache->block_bytes()));
    ASSIGN_OR_RETURN(s->region_, s->transport_->Register(s->staging_->base(),
                                                         s->staging_->bytes()));
    const kv::KvCacheOptions& o = cache->options();
    staging = KvStagingTarget{
        s->staging_.get(), cache,
        prefill::BlockLayout{o.num_layers, o.block_size,
                             static_cast<uint64_t>(cache->token_bytes())}};
  } else {
    ASSIGN_OR_RETURN(s->region_,
                     s->transport_->Register(
                         cache->BlockData(0),
                         static_cast<size_t>(cache->block_bytes() *
                                             cache->options().num_blocks)));
  }
  KvTargetInfo target;
  target.address = s->transport_->address();
  // A sockaddr connection needs UCX's tcp transport; on shared-memory-only
  // configurations peers connect by worker address instead.
  if (!options.ucx.transports.empty() &&
      options.ucx.transports.find("tcp") == std::string::npos) {
    target.address.sockaddr.clear();
  }
  target.rkey = s->region_->packed_rkey();
  target.pool_base = s->region_->base_address();
  target.block_bytes = static_cast<uint64_t>(cache->block_bytes());
  target.layer_stride_bytes = static_cast<uint64_t>(cache->layer_stride_bytes());
  const kv::KvCacheOptions& ko = cache->options();
  target.geometry.set_num_layers(ko.num_layers);
  target.geometry.set_num_kv_heads(ko.num_kv_heads);
  target.geometry.set_head_dim(ko.head_dim);
  target.geometry.set_block_size(ko.block_size);
  target.geometry.set_dtype(ko.dtype == kv::KvDtype::kF16 ? "f16" : "f32");
  auto client = std::make_unique<GrpcPrefillClient>(
      target, options.prefill_client_threads, options.prefill_timeout, staging);
  s->prefill_client_ = client.get();
  s->core_->SetPrefillClient(std::move(client));
  if (co.kv_history) {
    memory_service::HistoryClientOptions ho;
    ho.memory_address = options.memory_address;
    ho.geometry.num_layers = ko.num_layers;
    ho.geometry.num_kv_heads = ko.num_kv_heads;
    ho.geometry.head_dim = ko.head_dim;
    ho.geometry.block_tokens = ko.block_size;
    ho.geometry.dtype = ko.dtype == kv::KvDtype::kF16 ? kernels::memory::KeyDtype::kF16
                                                      : kernels::memory::KeyDtype::kF32;
    ASSIGN_OR_RETURN(auto history_client,
                     memory_service::KvHistoryClient::Create(ho, s->transport_.get()));
    auto history = std::make_unique<GrpcKvHistory>(
        std::move(history_client), cache, options.history_threads,
        s->staging_.get());
    s->history_ = history.get();
    s->core_->SetKvHistory(std::move(history));
  }

  s->service_ = std::make_unique<DecodeService>(s->core_.get());
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
  DecodeServer* self = s.get();
  ASSIGN_OR_RETURN(
      s->admin_,
      node::StartAdminServer(
          options.host, options.admin_port, &s->metrics_,
          [self] { self->RefreshMetrics(); },
          [self] { return !self->core_->draining(); },
          node::DeviceHealthFields(s->core_->device(), device::GpuRuntime(),
                                   staged ? "staged" : "direct")));

  node::NodeAgentOptions ao;
  ao.scheduler_address = options.scheduler_address;
  ao.cluster_token = options.cluster_token;
  ao.info.set_node_id(options.node_id.empty() ? absl::StrCat("decode-", s->port_)
                                              : options.node_id);
  ao.info.set_role(triptych::v1::NODE_ROLE_DECODE);
  ao.info.set_grpc_address(options.advertise_address.empty()
                               ? absl::StrCat(options.host, ":", s->port_)
                               : options.advertise_address);
  ao.info.set_model(s->core_->bundle().model->config().name);
  ao.info.set_block_size(ko.block_size);
  ao.info.set_kv_blocks_total(ko.num_blocks);
  ao.info.set_max_running(options.engine.max_running);
  s->agent_ = std::make_unique<node::NodeAgent>(
      ao,
      [self] {
        const engine::EngineStats st = self->core_->stats();
        triptych::v1::NodeLoad load;
        load.set_running(static_cast<uint32_t>(st.running));
        load.set_waiting(static_cast<uint32_t>(st.waiting));
        load.set_kv_blocks_free(static_cast<uint64_t>(self->core_->kv_cache()->NumAvailableBlocks()));
        load.set_kv_blocks_total(static_cast<uint64_t>(st.kv_blocks_total));
        return load;
      },
      [self] { return node::ToProtoEvents(self->core_->DrainKvEvents()); });
  s->agent_->Start();
  return s;
}

DecodeServer::~DecodeServer() { Shutdown(absl::ZeroDuration()); }

KvHistoryStats DecodeServer::history_stats() const {
  return history_ != nullptr ? history_->stats() : KvHistoryStats{};
}

PrefillClientStats DecodeServer::prefill_stats() const {
  return prefill_client_ != nullptr ? prefill_client_->stats() : PrefillClientStats{};
}

void DecodeServer::RefreshMetrics() {
  const engine::EngineStats st = core_->stats();
  const kv::KvCacheStats ks = core_->kv_cache()->stats();
  auto gauge = [&](const char* name, const char* help, double v) {
    metrics_.GetGauge(name, help)->Set(v);
  };
  auto counter = [&](const char* name, const char* help, double v) {
    metrics_.GetCounter(name, help)->MirrorTo(v);
  };
  gauge("triptych_decode_running", "Sequences in the running batch.", st.running);
  gauge("triptych_decode_waiting", "Sequences waiting for admission.", st.waiting);
  gauge("triptych_kv_blocks_total", "KV blocks in the pool.", st.kv_blocks_total);
  gauge("triptych_kv_blocks_free", "KV blocks that can be allocated (free or evictable).",
        core_->kv_cache()->NumAvailableBlocks());
  gauge("triptych_kv_blocks_used", "KV blocks referenced by sequences.", ks.used_blocks);
  counter("triptych_prompt_tokens_computed_total",
          "Prompt tokens whose KV this node computed itself.", st.prompt_tokens_computed);
  counter("triptych_decode_tokens_computed_total", "Decode steps' tokens computed.",
          st.decode_tokens_computed);
  counter("triptych_remote_prefill_tokens_total",
          "Prompt tokens whose KV a prefill node wrote here.", st.remote_prefill_tokens);
  counter("triptych_remote_prefill_failures_total",
          "Remote prefills that failed (prefilled locally instead).", st.remote_prefill_failures);
  counter("triptych_prefix_cached_tokens_total", "Prompt tokens served from the prefix cache.",
          st.prefix_cached_tokens);
  counter("triptych_prefix_cache_hit_blocks_total", "Prefix-cache block lookups that hit.",
          ks.prefix_hit_blocks);
  counter("triptych_prefix_cache_miss_blocks_total", "Prefix-cache block lookups that missed.",
          ks.prefix_miss_blocks);
  counter("triptych_preemptions_total", "Sequences preempted for recompute.", st.preemptions);
  counter("triptych_forked_choices_total",
          "Choices (n > 1) forked from a computed prompt's KV blocks.", st.forked_choices);
  const PrefillClientStats ps = prefill_stats();
  counter("triptych_kv_bytes_unstaged_total",
          "KV bytes copied from host staging slots into the device pool after "
          "a remote "
          "prefill (device memory the transport cannot take).",
          ps.kv_bytes_staged);
  counter("triptych_kv_bytes_received_total",
          "KV bytes prefill nodes wrote into this node over UCX (confirmed).",
          ps.kv_bytes_received);
  counter("triptych_kv_transfer_seconds_total", "Transfer time reported for those bytes.",
          ps.transfer_ms / 1000.0);
  counter("triptych_history_fetched_tokens_total",
          "Prompt tokens whose KV came from the memory node's history.",
          st.history_fetched_tokens);
  const KvHistoryStats hs = history_stats();
  counter("triptych_history_blocks_fetched_total", "KV blocks read from the memory node.",
          hs.client.blocks_fetched);
  counter("triptych_history_blocks_stored_total", "KV blocks the memory node newly stored.",
          hs.client.blocks_stored);
  counter("triptych_history_fetch_failures_total", "KV history fetches that failed.",
          hs.fetch_failures);
  counter("triptych_history_store_failures_total", "KV history stores that failed.",
          hs.store_failures);
  const transport::TransferStats ts = transport_->stats();
  counter("triptych_ucx_bytes_put_total", "Bytes this node wrote with UCX puts.", ts.bytes_put);
  counter("triptych_ucx_errors_total", "UCX operations that failed.", ts.errors);
}

void DecodeServer::Shutdown(absl::Duration deadline) {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  if (agent_) agent_->Stop(/*draining=*/true);
  if (core_) core_->Shutdown(deadline);
  if (grpc_) grpc_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
  if (admin_) admin_->Stop(absl::Seconds(1));
  region_.reset();
}

}  // namespace triptych::decode
