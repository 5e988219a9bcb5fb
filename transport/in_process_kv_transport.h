#ifndef TRIPTYCH_TRANSPORT_IN_PROCESS_KV_TRANSPORT_H_
#define TRIPTYCH_TRANSPORT_IN_PROCESS_KV_TRANSPORT_H_

// The KvTransport fake for tests: several "nodes" in one process share an
// InProcessFabric and copy with memcpy between their registered regions.
// Same validation and error codes as UcxKvTransport: framed rkeys
// (kInvalidArgument when malformed, unknown or out of range), unregistered
// local memory (kInvalidArgument), unknown or killed peers (kUnavailable),
// and the same TransferStats.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "transport/kv_transport.h"

namespace triptych::transport {

class InProcessKvTransport;

// Directory of live in-process nodes. Thread-safe.
class InProcessFabric {
 public:
  InProcessFabric() = default;
  InProcessFabric(const InProcessFabric&) = delete;
  InProcessFabric& operator=(const InProcessFabric&) = delete;

 private:
  friend class InProcessKvTransport;
  // Held shared while copying, exclusive while nodes join or leave, so a
  // peer cannot disappear mid-copy.
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, InProcessKvTransport*> nodes_
      ABSL_GUARDED_BY(mu_);
};

class InProcessKvTransport : public KvTransport {
 public:
  // `name` must be unique within the fabric; kInvalidArgument otherwise.
  static absl::StatusOr<std::unique_ptr<InProcessKvTransport>> Create(
      std::shared_ptr<InProcessFabric> fabric, const std::string& name);
  ~InProcessKvTransport() override;

  absl::StatusOr<std::unique_ptr<KvRegion>> Register(void* base,
                                                     size_t length) override;
  PeerAddress address() const override;
  absl::Status Put(const PeerAddress& peer, absl::Span<const Copy> copies,
                   const std::string& packed_rkey,
                   absl::Duration timeout) override;
  absl::Status Get(const PeerAddress& peer, absl::Span<const GetCopy> copies,
                   const std::string& packed_rkey,
                   absl::Duration timeout) override;
  TransferStats stats() const override;

  // Simulates the death of this node: later transfers to it fail with
  // kUnavailable.
  void Kill();

 private:
  class Region;
  struct RegionInfo {
    uintptr_t base;
    size_t length;
  };
  InProcessKvTransport(std::shared_ptr<InProcessFabric> fabric,
                       std::string name);
  // Resolves the peer and both sides' ranges, then runs `copy(local,
  // remote, length)` for each range with the fabric lock held.
  template <typename CopyT, typename Fn>
  absl::Status Transfer(const PeerAddress& peer, absl::Span<const CopyT> copies,
                        const std::string& packed_rkey, bool is_put, Fn copy);
  bool HoldsLocal(uintptr_t addr, size_t length) const;
  bool HoldsRegion(uint64_t id, uint64_t base, uint64_t length) const;
  void Unregister(uint64_t id);

  const std::shared_ptr<InProcessFabric> fabric_;
  const std::string name_;
  std::atomic<bool> killed_{false};
  mutable absl::Mutex mu_;
  uint64_t next_region_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint64_t, RegionInfo> regions_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> bytes_put_{0};
  std::atomic<uint64_t> bytes_got_{0};
  std::atomic<uint64_t> ops_{0};
  std::atomic<uint64_t> errors_{0};
  std::atomic<int64_t> transfer_ns_{0};
};

}  // namespace triptych::transport

#endif  // TRIPTYCH_TRANSPORT_IN_PROCESS_KV_TRANSPORT_H_
