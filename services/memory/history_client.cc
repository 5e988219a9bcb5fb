#include "services/memory/history_client.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/grpc/internal_grpc.h"
#include "common/grpc/status_convert.h"
#include "grpcpp/grpcpp.h"
#include "services/memory/kv_geometry.h"

namespace triptych::memory_service {

absl::StatusOr<std::unique_ptr<KvHistoryClient>> KvHistoryClient::Create(
    const HistoryClientOptions& options, transport::KvTransport* transport) {
  if (options.memory_address.empty() || transport == nullptr) {
    return absl::InvalidArgumentError("history client needs a memory address and a transport");
  }
  if (options.geometry.num_layers <= 0 || options.geometry.num_kv_heads <= 0 ||
      options.geometry.head_dim <= 0 || options.geometry.block_tokens <= 0) {
    return absl::InvalidArgumentError("history client needs a positive KV geometry");
  }
  auto c = std::unique_ptr<KvHistoryClient>(new KvHistoryClient());
  c->options_ = options;
  c->transport_ = transport;
  c->stub_ = v1::MemoryNode::NewStub(
      InternalChannel(options.memory_address));
  c->geometry_ = ShapeToProto(options.geometry);
  c->block_bytes_ = kernels::memory::KvBlockBytes(options.geometry);
  return c;
}

void KvHistoryClient::SetDeadline(grpc::ClientContext* ctx) const {
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + options_.rpc_timeout));
}

absl::StatusOr<transport::PeerAddress> KvHistoryClient::CheckRegion(
    const v1::MemoryRegion& region) const {
  if (region.kv_layout_version() != kKvLayoutVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "memory node uses KV layout version ", region.kv_layout_version(), "; this node ",
        kKvLayoutVersion));
  }
  if (region.block_bytes() != static_cast<uint64_t>(block_bytes_)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "memory node blocks are ", region.block_bytes(), " bytes; ours are ", block_bytes_));
  }
  transport::PeerAddress peer;
  peer.worker_address = region.ucx_worker_address();
  peer.sockaddr = region.ucx_sockaddr();
  return peer;
}

void KvHistoryClient::CloseQuietly(const std::string& lease_id, bool commit) {
  v1::CloseLeaseRequest req;
  req.set_lease_id(lease_id);
  req.set_commit(commit);
  v1::CloseLeaseResponse resp;
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  // A lease that cannot be closed expires on the memory node (lease_ttl).
  (void)stub_->CloseLease(&ctx, req, &resp);
}

absl::StatusOr<int64_t> KvHistoryClient::Fetch(absl::Span<const uint64_t> chain,
                                               absl::Span<uint8_t* const> dest) {
  ++fetches_;
  const size_t n = std::min(chain.size(), dest.size());
  if (n == 0) return 0;
  v1::OpenReadRequest req;
  *req.mutable_geometry() = geometry_;
  req.mutable_chain()->Add(chain.begin(), chain.begin() + static_cast<int64_t>(n));
  req.set_max_blocks(static_cast<uint32_t>(n));
  v1::OpenReadResponse resp;
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  absl::Status st = FromGrpcStatus(stub_->OpenRead(&ctx, req, &resp));
  if (!st.ok()) {
    ++errors_;
    return st;
  }
  if (resp.lease_id().empty()) return 0;
  auto fail = [&](absl::Status s) -> absl::StatusOr<int64_t> {
    ++errors_;
    CloseQuietly(resp.lease_id(), /*commit=*/false);
    return s;
  };
  if (static_cast<size_t>(resp.offsets_size()) > n) {
    return fail(absl::InternalError("memory node pinned more blocks than asked for"));
  }
  absl::StatusOr<transport::PeerAddress> peer = CheckRegion(resp.region());
  if (!peer.ok()) return fail(peer.status());
  std::vector<transport::GetCopy> copies;
  for (int i = 0; i < resp.offsets_size(); ++i) {
    copies.push_back({dest[static_cast<size_t>(i)], resp.region().pool_base() + resp.offsets(i),
                      static_cast<size_t>(block_bytes_)});
  }
  st = transport_->Get(*peer, copies, resp.region().rkey(), options_.transfer_timeout);
  if (!st.ok()) return fail(st);
  CloseQuietly(resp.lease_id(), /*commit=*/false);
  blocks_fetched_ += resp.offsets_size();
  return resp.offsets_size();
}

absl::StatusOr<int64_t> KvHistoryClient::Store(absl::Span<const StoreBlock> blocks) {
  ++stores_;
  if (blocks.empty()) return 0;
  v1::OpenWriteRequest req;
  *req.mutable_geometry() = geometry_;
  for (const StoreBlock& b : blocks) {
    v1::HistoryBlock* h = req.add_blocks();
    h->set_hash(b.hash);
    h->set_parent(b.parent);
  }
  v1::OpenWriteResponse resp;
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  absl::Status st = FromGrpcStatus(stub_->OpenWrite(&ctx, req, &resp));
  if (!st.ok()) {
    ++errors_;
    return st;
  }
  if (resp.lease_id().empty()) return 0;
  auto fail = [&](absl::Status s) -> absl::StatusOr<int64_t> {
    ++errors_;
    CloseQuietly(resp.lease_id(), /*commit=*/false);
    return s;
  };
  absl::StatusOr<transport::PeerAddress> peer = CheckRegion(resp.region());
  if (!peer.ok()) return fail(peer.status());
  std::vector<transport::Copy> copies;
  for (const v1::WriteSlot& s : resp.slots()) {
    if (s.index() >= blocks.size()) {
      return fail(absl::InternalError("memory node returned a slot for an unknown block"));
    }
    copies.push_back({blocks[s.index()].data, resp.region().pool_base() + s.offset(),
                      static_cast<size_t>(block_bytes_)});
  }
  st = transport_->Put(*peer, copies, resp.region().rkey(), options_.transfer_timeout);
  if (!st.ok()) return fail(st);
  v1::CloseLeaseRequest close;
  close.set_lease_id(resp.lease_id());
  close.set_commit(true);
  v1::CloseLeaseResponse closed;
  grpc::ClientContext cctx;
  SetDeadline(&cctx);
  st = FromGrpcStatus(stub_->CloseLease(&cctx, close, &closed));
  if (!st.ok()) {
    ++errors_;
    return st;
  }
  blocks_stored_ += closed.blocks();
  return closed.blocks();
}

HistoryClientStats KvHistoryClient::stats() const {
  HistoryClientStats s;
  s.fetches = fetches_.load();
  s.blocks_fetched = blocks_fetched_.load();
  s.bytes_fetched = s.blocks_fetched * block_bytes_;
  s.stores = stores_.load();
  s.blocks_stored = blocks_stored_.load();
  s.bytes_stored = s.blocks_stored * block_bytes_;
  s.errors = errors_.load();
  return s;
}

}  // namespace triptych::memory_service
