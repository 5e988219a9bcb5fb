#include "transport/ucx_kv_transport.h"

#include <utility>

#include "common/status_macros.h"

namespace triptych::transport {

absl::StatusOr<std::unique_ptr<UcxKvTransport>> UcxKvTransport::Create(
    const UcxOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<UcxNode> node, UcxNode::Create(options));
  return std::unique_ptr<UcxKvTransport>(new UcxKvTransport(std::move(node)));
}

absl::StatusOr<std::unique_ptr<KvRegion>> UcxKvTransport::Register(
    void* base, size_t length) {
  ASSIGN_OR_RETURN(std::unique_ptr<RegisteredMemory> region,
                   node_->Register(base, length));
  return std::unique_ptr<KvRegion>(std::move(region));
}

PeerAddress UcxKvTransport::address() const { return node_->address(); }

absl::Status UcxKvTransport::Put(const PeerAddress& peer,
                                 absl::Span<const Copy> copies,
                                 const std::string& packed_rkey,
                                 absl::Duration timeout) {
  ASSIGN_OR_RETURN(std::shared_ptr<Endpoint> endpoint, node_->Connect(peer));
  return endpoint->Put(copies, packed_rkey, timeout);
}

namespace {

class UcxPendingPut final : public PendingPut {
 public:
  explicit UcxPendingPut(absl::StatusOr<PendingTransfer> transfer)
      : transfer_(std::move(transfer)) {}
  absl::Status Wait() override {
    if (!transfer_.ok()) return transfer_.status();
    return transfer_->Wait();
  }

 private:
  absl::StatusOr<PendingTransfer> transfer_;  // its destructor waits
};

}  // namespace

std::unique_ptr<PendingPut> UcxKvTransport::PutAsync(const PeerAddress& peer,
                                                     absl::Span<const Copy> copies,
                                                     const std::string& packed_rkey,
                                                     absl::Duration timeout) {
  absl::StatusOr<std::shared_ptr<Endpoint>> endpoint = node_->Connect(peer);
  if (!endpoint.ok()) return std::make_unique<UcxPendingPut>(endpoint.status());
  return std::make_unique<UcxPendingPut>((*endpoint)->PutAsync(copies, packed_rkey, timeout));
}

absl::Status UcxKvTransport::Get(const PeerAddress& peer,
                                 absl::Span<const GetCopy> copies,
                                 const std::string& packed_rkey,
                                 absl::Duration timeout) {
  ASSIGN_OR_RETURN(std::shared_ptr<Endpoint> endpoint, node_->Connect(peer));
  return endpoint->Get(copies, packed_rkey, timeout);
}

TransferStats UcxKvTransport::stats() const { return node_->stats(); }

}  // namespace triptych::transport
