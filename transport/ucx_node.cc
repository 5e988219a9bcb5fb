#include "transport/ucx_node.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "transport/ucx_worker.h"

namespace triptych::transport {

RegisteredMemory::RegisteredMemory(std::shared_ptr<UcxWorker> worker,
                                   std::unique_ptr<MappedRegion> region)
    : worker_(std::move(worker)), region_(std::move(region)) {}

RegisteredMemory::~RegisteredMemory() { worker_->Unmap(*region_); }

std::string RegisteredMemory::packed_rkey() const {
  return region_->wrapped_rkey;
}
uint64_t RegisteredMemory::base_address() const { return region_->base; }
size_t RegisteredMemory::length() const { return region_->length; }

PendingTransfer::PendingTransfer(std::shared_ptr<Transfer> transfer,
                                 std::shared_ptr<UcxWorker> worker)
    : transfer_(std::move(transfer)), worker_(std::move(worker)) {}

PendingTransfer::~PendingTransfer() {
  if (transfer_ != nullptr) transfer_->Wait().IgnoreError();
}

absl::Status PendingTransfer::Wait() {
  if (transfer_ == nullptr) {
    return absl::FailedPreconditionError("PendingTransfer moved from");
  }
  return transfer_->Wait();
}

Endpoint::Endpoint(std::shared_ptr<UcxWorker> worker, uint64_t id)
    : worker_(std::move(worker)), id_(id) {}

Endpoint::~Endpoint() { worker_->Release(id_); }

absl::Status Endpoint::Put(absl::Span<const Copy> copies,
                           const std::string& packed_rkey,
                           absl::Duration timeout) {
  return worker_->StartPut(id_, copies, packed_rkey, timeout)->Wait();
}

absl::Status Endpoint::Get(absl::Span<const GetCopy> copies,
                           const std::string& packed_rkey,
                           absl::Duration timeout) {
  return worker_->StartGet(id_, copies, packed_rkey, timeout)->Wait();
}

PendingTransfer Endpoint::PutAsync(absl::Span<const Copy> copies,
                                   const std::string& packed_rkey,
                                   absl::Duration timeout) {
  return PendingTransfer(worker_->StartPut(id_, copies, packed_rkey, timeout),
                         worker_);
}

bool Endpoint::failed() const { return worker_->Failed(id_); }

UcxNode::UcxNode(std::shared_ptr<UcxWorker> worker)
    : worker_(std::move(worker)) {}

UcxNode::~UcxNode() {
  absl::MutexLock lock(&mu_);
  endpoints_.clear();
}

absl::StatusOr<std::unique_ptr<UcxNode>> UcxNode::Create(
    const UcxOptions& options) {
  ASSIGN_OR_RETURN(std::shared_ptr<UcxWorker> worker,
                   UcxWorker::Create(options));
  return std::unique_ptr<UcxNode>(new UcxNode(std::move(worker)));
}

absl::StatusOr<std::unique_ptr<RegisteredMemory>> UcxNode::Register(
    void* base, size_t length) {
  ASSIGN_OR_RETURN(MappedRegion region, worker_->Map(base, length));
  return std::unique_ptr<RegisteredMemory>(new RegisteredMemory(
      worker_, std::make_unique<MappedRegion>(std::move(region))));
}

absl::StatusOr<std::shared_ptr<Endpoint>> UcxNode::Connect(
    const PeerAddress& peer) {
  const std::string key =
      peer.sockaddr.empty() ? peer.worker_address : peer.sockaddr;
  {
    absl::MutexLock lock(&mu_);
    auto it = endpoints_.find(key);
    if (it != endpoints_.end()) {
      if (!it->second->failed()) return it->second;
      endpoints_.erase(it);  // dead peer: the next attempt reconnects
    }
  }
  // Connect without the lock: wire-up can take up to connect_timeout.
  ASSIGN_OR_RETURN(uint64_t id, worker_->Connect(peer));
  auto endpoint = std::shared_ptr<Endpoint>(new Endpoint(worker_, id));
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = endpoints_.emplace(key, endpoint);
  if (!inserted) {
    if (!it->second->failed()) return it->second;  // lost a benign race
    it->second = endpoint;
  }
  return endpoint;
}

PeerAddress UcxNode::address() const {
  PeerAddress address;
  address.worker_address = worker_->wrapped_address();
  if (worker_->listen_port() != 0) {
    const std::string& host = worker_->options().listen_host;
    address.sockaddr =
        host.find(':') != std::string::npos
            ? absl::StrCat("[", host, "]:", worker_->listen_port())
            : absl::StrCat(host, ":", worker_->listen_port());
  }
  return address;
}

uint16_t UcxNode::listen_port() const { return worker_->listen_port(); }

bool UcxNode::HandlesDeviceMemory(const std::string& gpu_runtime) const {
  const uint64_t types = worker_->memory_types();
  if (gpu_runtime == "cuda")
    return (types & (uint64_t{1} << UCS_MEMORY_TYPE_CUDA)) != 0;
  if (gpu_runtime == "hip")
    return (types & (uint64_t{1} << UCS_MEMORY_TYPE_ROCM)) != 0;
  return false;
}

TransferStats UcxNode::stats() const { return worker_->stats(); }

}  // namespace triptych::transport
