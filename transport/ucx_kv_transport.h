#ifndef TRIPTYCH_TRANSPORT_UCX_KV_TRANSPORT_H_
#define TRIPTYCH_TRANSPORT_UCX_KV_TRANSPORT_H_

#include <memory>
#include <string>

#include "transport/kv_transport.h"
#include "transport/ucx_node.h"
#include "transport/ucx_options.h"

namespace triptych::transport {

// KvTransport over a UcxNode: endpoints are connected on first use and
// cached; a failed endpoint is replaced on the next call. Thread-safe.
class UcxKvTransport : public KvTransport {
 public:
  static absl::StatusOr<std::unique_ptr<UcxKvTransport>> Create(
      const UcxOptions& options);

  absl::StatusOr<std::unique_ptr<KvRegion>> Register(void* base,
                                                     size_t length) override;
  PeerAddress address() const override;
  absl::Status Put(const PeerAddress& peer, absl::Span<const Copy> copies,
                   const std::string& packed_rkey,
                   absl::Duration timeout) override;
  // Connects (blocking, first use of a peer only), then starts the put on
  // the progress thread.
  std::unique_ptr<PendingPut> PutAsync(const PeerAddress& peer,
                                       absl::Span<const Copy> copies,
                                       const std::string& packed_rkey,
                                       absl::Duration timeout) override;
  absl::Status Get(const PeerAddress& peer, absl::Span<const GetCopy> copies,
                   const std::string& packed_rkey,
                   absl::Duration timeout) override;
  TransferStats stats() const override;
  bool HandlesDeviceMemory(const std::string& gpu_runtime) const override {
    return node_->HandlesDeviceMemory(gpu_runtime);
  }

  UcxNode& node() { return *node_; }

 private:
  explicit UcxKvTransport(std::unique_ptr<UcxNode> node)
      : node_(std::move(node)) {}
  std::unique_ptr<UcxNode> node_;
};

}  // namespace triptych::transport

#endif  // TRIPTYCH_TRANSPORT_UCX_KV_TRANSPORT_H_
