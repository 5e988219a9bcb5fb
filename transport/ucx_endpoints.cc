// UcxWorker: endpoints and transfers (the progress-thread state machine).
//
// Endpoint life cycle (progress thread):
//
//   created --(wire-up flush ok)--> connected --(error cb / timeout /
//   request error)--> failed --StartClose--> closing --(close request
//   done)--> closed --(no owner)--> freed
//
// Release() of a healthy endpoint goes connected -> closing directly (flush
// close). Failed endpoints are force-closed when peer error handling is on,
// which completes their outstanding requests with UCS_ERR_CANCELED.

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "transport/ucx_worker.h"
#include "transport/wire_format.h"

namespace triptych::transport {
namespace {

constexpr absl::Duration kAbandonGrace = absl::Seconds(2);
constexpr size_t kMaxCachedRkeys = 256;

const char* KindName(Transfer::Kind kind) {
  switch (kind) {
    case Transfer::Kind::kPut:
      return "put";
    case Transfer::Kind::kGet:
      return "get";
    case Transfer::Kind::kConnect:
      return "connect";
  }
  return "?";
}

}  // namespace

absl::StatusOr<uint64_t> UcxWorker::Connect(const PeerAddress& peer) {
  auto transfer = std::make_shared<Transfer>();
  transfer->owner = this;
  transfer->kind = Transfer::Kind::kConnect;
  transfer->start = absl::Now();
  transfer->deadline = transfer->start + options_.connect_timeout;
  std::string peer_name;
  if (!peer.sockaddr.empty()) {
    ASSIGN_OR_RETURN(HostPort host_port, ParseHostPort(peer.sockaddr));
    absl::StatusOr<std::pair<sockaddr_storage, socklen_t>> resolved =
        ResolveSockaddr(host_port.host, host_port.port, /*passive=*/false);
    if (!resolved.ok()) {
      ++errors_;
      return resolved.status();
    }
    auto sockaddr = std::make_shared<sockaddr_storage>(resolved->first);
    const socklen_t length = resolved->second;
    peer_name = peer.sockaddr;
    Post([this, transfer, sockaddr, length, peer_name] {
      CreateEndpoint(transfer, peer_name, sockaddr.get(), length, nullptr);
    });
  } else if (!peer.worker_address.empty()) {
    ASSIGN_OR_RETURN(std::string_view payload,
                     UnwrapWorkerAddress(peer.worker_address));
    auto address = std::make_shared<std::string>(payload);
    peer_name = "worker-address peer";
    Post([this, transfer, address, peer_name] {
      CreateEndpoint(transfer, peer_name, nullptr, 0, address.get());
    });
  } else {
    return absl::InvalidArgumentError("Connect: empty peer address");
  }
  absl::Status status = transfer->Wait();
  if (!status.ok()) {
    if (transfer->ep_id != 0) Release(transfer->ep_id);
    if (absl::IsDeadlineExceeded(status)) {
      return absl::UnavailableError(absl::StrCat(
          "connect to ", peer_name, " timed out after ",
          absl::FormatDuration(options_.connect_timeout)));
    }
    return status;
  }
  return transfer->ep_id;
}

void UcxWorker::Release(uint64_t ep_id) {
  {
    absl::MutexLock lock(&failed_mu_);
    failed_flags_.erase(ep_id);
  }
  Post([this, ep_id] {
    auto it = endpoints_.find(ep_id);
    if (it == endpoints_.end()) return;
    it->second->owned = false;
    StartClose(it->second.get());
  });
}

bool UcxWorker::Failed(uint64_t ep_id) const {
  absl::MutexLock lock(&failed_mu_);
  auto it = failed_flags_.find(ep_id);
  return it == failed_flags_.end() || it->second->load();
}

std::shared_ptr<Transfer> UcxWorker::StartPut(uint64_t ep_id,
                                              absl::Span<const Copy> copies,
                                              const std::string& packed_rkey,
                                              absl::Duration timeout) {
  std::vector<LocalOp> ops;
  ops.reserve(copies.size());
  for (const Copy& copy : copies) {
    ops.push_back({const_cast<void*>(copy.local), copy.remote_addr,
                   copy.length, nullptr});
  }
  return Start(Transfer::Kind::kPut, ep_id, std::move(ops), packed_rkey,
               timeout);
}

std::shared_ptr<Transfer> UcxWorker::StartGet(uint64_t ep_id,
                                              absl::Span<const GetCopy> copies,
                                              const std::string& packed_rkey,
                                              absl::Duration timeout) {
  std::vector<LocalOp> ops;
  ops.reserve(copies.size());
  for (const GetCopy& copy : copies) {
    ops.push_back({copy.local, copy.remote_addr, copy.length, nullptr});
  }
  return Start(Transfer::Kind::kGet, ep_id, std::move(ops), packed_rkey,
               timeout);
}

std::shared_ptr<Transfer> UcxWorker::Start(Transfer::Kind kind,
                                           uint64_t ep_id,
                                           std::vector<LocalOp> ops,
                                           const std::string& packed_rkey,
                                           absl::Duration timeout) {
  auto transfer = std::make_shared<Transfer>();
  transfer->owner = this;
  transfer->kind = kind;
  transfer->ep_id = ep_id;
  transfer->start = absl::Now();
  transfer->deadline = transfer->start + timeout;
  // Everything derived from untrusted metadata is checked here, on the
  // calling thread, before UCX sees it.
  absl::Status status = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(RkeyInfo rkey, UnwrapRkey(packed_rkey));
    for (const LocalOp& op : ops) {
      RETURN_IF_ERROR(CheckRemoteRange(rkey, op.remote_addr, op.length));
      transfer->bytes += op.length;
    }
    ASSIGN_OR_RETURN(ops, Resolve(ops));
    return absl::OkStatus();
  }();
  if (!status.ok()) {
    ++ops_;
    ++errors_;
    transfer->result = std::move(status);
    transfer->notified = true;
    transfer->done.Notify();
    return transfer;
  }
  Post([this, transfer, ops = std::move(ops), packed_rkey] {
    IssueTransfer(transfer, ops, packed_rkey);
  });
  return transfer;
}

void UcxWorker::IssueTransfer(const std::shared_ptr<Transfer>& transfer,
                              const std::vector<LocalOp>& ops,
                              const std::string& packed_rkey) {
  Transfer* t = transfer.get();
  auto it = endpoints_.find(t->ep_id);
  if (it == endpoints_.end() || it->second->failed->load() ||
      it->second->close_started) {
    Finish(t, absl::UnavailableError(absl::StrCat(
                  KindName(t->kind), ": endpoint failed or closed")));
    return;
  }
  EpState* state = it->second.get();
  ucp_rkey_h rkey = nullptr;
  if (auto cached = state->rkeys.find(packed_rkey);
      cached != state->rkeys.end()) {
    rkey = cached->second;
  } else {
    if (state->rkeys.size() >= kMaxCachedRkeys &&
        state->active_transfers == 0) {
      for (auto& [bytes, old] : state->rkeys) ucp_rkey_destroy(old);
      state->rkeys.clear();
    }
    // Already verified by Start(); the payload is bytes ucp_rkey_pack made.
    const std::string_view payload = UnwrapRkey(packed_rkey)->payload;
    const ucs_status_t status =
        ucp_ep_rkey_unpack(state->ep, payload.data(), &rkey);
    if (status != UCS_OK) {
      Finish(t, absl::InvalidArgumentError(absl::StrCat(
                    "ucp_ep_rkey_unpack: ", ucs_status_string(status))));
      return;
    }
    state->rkeys.emplace(packed_rkey, rkey);
  }
  ++state->active_transfers;
  active_[t] = transfer;
  ucp_request_param_t param{};
  param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK |
                       UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_MEMH;
  param.cb.send = &UcxWorker::OnRequestDone;
  param.user_data = t;
  for (const LocalOp& op : ops) {
    param.memh = op.memh;
    ucs_status_ptr_t request =
        t->kind == Transfer::Kind::kPut
            ? ucp_put_nbx(state->ep, op.local, op.length, op.remote_addr,
                          rkey, &param)
            : ucp_get_nbx(state->ep, op.local, op.length, op.remote_addr,
                          rkey, &param);
    TrackRequest(t, request);
    if (t->status != UCS_OK) break;
  }
  if (t->status == UCS_OK) {
    // Remote completion: the flush finishes once every put above is
    // visible in the target's memory (and every get has landed here).
    param.op_attr_mask =
        UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    TrackRequest(t, ucp_ep_flush_nbx(state->ep, &param));
  }
  MaybeFinish(t);
}

void UcxWorker::TrackRequest(Transfer* transfer, ucs_status_ptr_t request) {
  if (request == nullptr) return;
  if (UCS_PTR_IS_ERR(request)) {
    if (transfer->status == UCS_OK) transfer->status = UCS_PTR_STATUS(request);
    return;
  }
  ++transfer->pending;
}

void UcxWorker::OnRequestDone(void* request, ucs_status_t status,
                              void* user_data) {
  auto* transfer = static_cast<Transfer*>(user_data);
  if (status != UCS_OK && transfer->status == UCS_OK) {
    transfer->status = status;
  }
  ucp_request_free(request);
  --transfer->pending;
  transfer->owner->MaybeFinish(transfer);
}

void UcxWorker::MaybeFinish(Transfer* transfer) {
  if (transfer->pending > 0) return;
  std::shared_ptr<Transfer> keep;
  if (auto it = active_.find(transfer); it != active_.end()) {
    keep = std::move(it->second);
    active_.erase(it);
  } else if (auto it2 = abandoned_.find(transfer); it2 != abandoned_.end()) {
    keep = std::move(it2->second);
    abandoned_.erase(it2);
  } else {
    return;  // already finished
  }
  auto ep = endpoints_.find(transfer->ep_id);
  if (ep != endpoints_.end()) {
    --ep->second->active_transfers;
    if (transfer->status != UCS_OK && !ep->second->failed->load()) {
      // Any request error leaves the endpoint suspect: close it (deferred:
      // this may run inside a UCX callback) so the next Connect is fresh.
      ep->second->failed->store(true);
      ep->second->error = transfer->status;
      to_fail_.push_back(transfer->ep_id);
    }
  }
  Finish(transfer, TransferResult(*transfer));
}

absl::Status UcxWorker::TransferResult(const Transfer& transfer) {
  const char* kind = KindName(transfer.kind);
  std::string peer = "peer";
  ucs_status_t ep_error = UCS_OK;
  if (auto it = endpoints_.find(transfer.ep_id); it != endpoints_.end()) {
    peer = it->second->peer;
    ep_error = it->second->error;
  }
  if (transfer.timed_out) {
    return absl::DeadlineExceededError(absl::StrCat(
        kind, " to ", peer, " did not complete in time; endpoint dropped"));
  }
  if (transfer.status == UCS_OK) return absl::OkStatus();
  if (ep_error != UCS_OK && ep_error != transfer.status) {
    return absl::UnavailableError(absl::StrCat(
        kind, " to ", peer, " failed: endpoint error ",
        ucs_status_string(ep_error)));
  }
  return UcsToStatus(transfer.status, absl::StrCat(kind, " to ", peer));
}

void UcxWorker::Finish(Transfer* transfer, absl::Status result) {
  if (transfer->notified) return;
  const absl::Duration elapsed = absl::Now() - transfer->start;
  if (transfer->kind != Transfer::Kind::kConnect) {
    ++ops_;
    transfer_ns_ += absl::ToInt64Nanoseconds(elapsed);
    if (result.ok()) {
      (transfer->kind == Transfer::Kind::kPut ? bytes_put_ : bytes_got_) +=
          transfer->bytes;
    }
  }
  if (!result.ok()) ++errors_;
  transfer->result = std::move(result);
  transfer->notified = true;
  transfer->done.Notify();
}

void UcxWorker::CheckDeadlines() {
  if (active_.empty()) return;
  const absl::Time now = absl::Now();
  std::vector<Transfer*> expired;
  std::vector<Transfer*> abandon;
  for (const auto& [ptr, transfer] : active_) {
    if (!transfer->timed_out && now >= transfer->deadline) {
      expired.push_back(ptr);
    } else if (transfer->timed_out && !transfer->notified &&
               (transfer->kind == Transfer::Kind::kConnect ||
                now >= transfer->deadline + kAbandonGrace)) {
      abandon.push_back(ptr);
    }
  }
  for (Transfer* ptr : expired) {
    auto it = active_.find(ptr);
    if (it == active_.end()) continue;
    ptr->timed_out = true;
    auto ep = endpoints_.find(ptr->ep_id);
    if (ep == endpoints_.end()) continue;
    EpState* state = ep->second.get();
    state->failed->store(true);
    if (state->error == UCS_OK) state->error = UCS_ERR_TIMED_OUT;
    // Force close (peer error handling) cancels the outstanding requests,
    // which finishes this transfer through OnRequestDone.
    StartClose(state);
  }
  for (Transfer* ptr : abandon) {
    auto it = active_.find(ptr);
    if (it == active_.end()) continue;
    // UCX never returned the requests (no peer error handling): release the
    // caller; the Transfer stays alive until the requests complete.
    abandoned_[ptr] = std::move(it->second);
    active_.erase(it);
    Finish(ptr, absl::DeadlineExceededError(absl::StrCat(
                    KindName(ptr->kind),
                    " timed out and could not be cancelled (no peer error "
                    "handling)")));
  }
}

void UcxWorker::StartClose(EpState* state) {
  if (state->close_started) return;
  state->close_started = true;
  state->failed->store(true);
  ucp_request_param_t param{};
  param.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
  // Force close is only defined when both sides use peer error handling.
  const bool force = options_.peer_error_handling &&
                     (state->error != UCS_OK || !state->owned);
  param.flags = force ? UCP_EP_CLOSE_FLAG_FORCE : 0;
  ucs_status_ptr_t request = ucp_ep_close_nbx(state->ep, &param);
  if (request == nullptr || UCS_PTR_IS_ERR(request)) {
    state->closed = true;
  } else {
    state->close_request = request;
  }
}

void UcxWorker::ReapClosed() {
  std::vector<uint64_t> freed;
  for (auto& [id, state] : endpoints_) {
    if (state->close_request != nullptr &&
        ucp_request_check_status(state->close_request) != UCS_INPROGRESS) {
      ucp_request_free(state->close_request);
      state->close_request = nullptr;
      state->closed = true;
    }
    if (!state->closed) continue;
    // No request can use the rkeys once the endpoint is closed.
    for (auto& [bytes, rkey] : state->rkeys) ucp_rkey_destroy(rkey);
    state->rkeys.clear();
    if (!state->owned && state->active_transfers == 0) freed.push_back(id);
  }
  for (uint64_t id : freed) endpoints_.erase(id);
}

UcxWorker::EpState* UcxWorker::AddEndpoint(ucp_ep_params_t* params,
                                           const std::string& peer_name,
                                           bool owned, ucs_status_t* status) {
  auto state = std::make_unique<EpState>();
  state->owner = this;
  state->id = next_ep_id_++;
  state->peer = peer_name;
  state->owned = owned;
  params->field_mask |= UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE;
  params->err_mode = options_.peer_error_handling ? UCP_ERR_HANDLING_MODE_PEER
                                                  : UCP_ERR_HANDLING_MODE_NONE;
  if (options_.peer_error_handling) {
    params->field_mask |= UCP_EP_PARAM_FIELD_ERR_HANDLER;
    params->err_handler.cb = &UcxWorker::OnEndpointError;
    params->err_handler.arg = state.get();
  }
  *status = ucp_ep_create(worker_, params, &state->ep);
  if (*status != UCS_OK) return nullptr;
  EpState* raw = state.get();
  if (owned) {
    absl::MutexLock lock(&failed_mu_);
    failed_flags_[raw->id] = raw->failed;
  }
  endpoints_.emplace(raw->id, std::move(state));
  return raw;
}

void UcxWorker::CreateEndpoint(const std::shared_ptr<Transfer>& transfer,
                               const std::string& peer_name,
                               const sockaddr_storage* sockaddr,
                               socklen_t addrlen,
                               const std::string* worker_address) {
  ucp_ep_params_t params{};
  if (sockaddr != nullptr) {
    params.field_mask = UCP_EP_PARAM_FIELD_FLAGS | UCP_EP_PARAM_FIELD_SOCK_ADDR;
    params.flags = UCP_EP_PARAMS_FLAGS_CLIENT_SERVER;
    params.sockaddr.addr = reinterpret_cast<const struct sockaddr*>(sockaddr);
    params.sockaddr.addrlen = addrlen;
  } else {
    params.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS;
    params.address =
        reinterpret_cast<const ucp_address_t*>(worker_address->data());
  }
  ucs_status_t status = UCS_OK;
  EpState* state = AddEndpoint(&params, peer_name, /*owned=*/true, &status);
  if (state == nullptr) {
    Finish(transfer.get(),
           UcsToStatus(status == UCS_ERR_INVALID_PARAM ? UCS_ERR_UNREACHABLE
                                                       : status,
                       absl::StrCat("ucp_ep_create to ", peer_name)));
    return;
  }
  Transfer* t = transfer.get();
  t->ep_id = state->id;
  ++state->active_transfers;
  active_[t] = transfer;
  // The flush completes once wire-up did: the peer is reachable.
  ucp_request_param_t param{};
  param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  param.cb.send = &UcxWorker::OnRequestDone;
  param.user_data = t;
  TrackRequest(t, ucp_ep_flush_nbx(state->ep, &param));
  MaybeFinish(t);
}

void UcxWorker::OnEndpointError(void* arg, ucp_ep_h /*ep*/,
                                ucs_status_t status) {
  auto* state = static_cast<EpState*>(arg);
  state->failed->store(true);
  if (state->error == UCS_OK) state->error = status;
  // Closing inside a UCX callback is not allowed; the loop does it.
  state->owner->to_fail_.push_back(state->id);
}

void UcxWorker::OnConnectionRequest(ucp_conn_request_h request, void* arg) {
  auto* self = static_cast<UcxWorker*>(arg);
  ucp_ep_params_t params{};
  params.field_mask = UCP_EP_PARAM_FIELD_CONN_REQUEST;
  params.conn_request = request;
  ucs_status_t status = UCS_OK;
  if (self->AddEndpoint(&params, "accepted client", /*owned=*/false,
                        &status) == nullptr) {
    ucp_listener_reject(self->listener_, request);
  }
}

TransferStats UcxWorker::stats() const {
  TransferStats stats;
  stats.bytes_put = bytes_put_.load();
  stats.bytes_got = bytes_got_.load();
  stats.ops = ops_.load();
  stats.errors = errors_.load();
  stats.transfer_time = absl::Nanoseconds(transfer_ns_.load());
  return stats;
}

}  // namespace triptych::transport
