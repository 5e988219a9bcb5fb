#include "transport/in_process_kv_transport.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "transport/wire_format.h"

namespace triptych::transport {
namespace {

constexpr std::string_view kAddressPrefix = "inproc:";

// Rkey payload: 8-byte little-endian region id, then the owner's name.
std::string RkeyPayload(uint64_t id, const std::string& owner) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(id >> (8 * i));
  return out + owner;
}

}  // namespace

class InProcessKvTransport::Region : public KvRegion {
 public:
  Region(InProcessKvTransport* owner, uint64_t id, void* base, size_t length)
      : owner_(owner),
        id_(id),
        base_(reinterpret_cast<uintptr_t>(base)),
        length_(length),
        rkey_(WrapRkey(base_, length, RkeyPayload(id, owner->name_))) {}
  ~Region() override { owner_->Unregister(id_); }
  std::string packed_rkey() const override { return rkey_; }
  uint64_t base_address() const override { return base_; }
  size_t length() const override { return length_; }

 private:
  InProcessKvTransport* const owner_;
  const uint64_t id_;
  const uintptr_t base_;
  const size_t length_;
  const std::string rkey_;
};

InProcessKvTransport::InProcessKvTransport(
    std::shared_ptr<InProcessFabric> fabric, std::string name)
    : fabric_(std::move(fabric)), name_(std::move(name)) {}

absl::StatusOr<std::unique_ptr<InProcessKvTransport>>
InProcessKvTransport::Create(std::shared_ptr<InProcessFabric> fabric,
                             const std::string& name) {
  if (fabric == nullptr || name.empty()) {
    return absl::InvalidArgumentError("InProcessKvTransport: need a fabric "
                                      "and a name");
  }
  std::unique_ptr<InProcessKvTransport> node(
      new InProcessKvTransport(fabric, name));
  absl::MutexLock lock(&fabric->mu_);
  if (!fabric->nodes_.emplace(name, node.get()).second) {
    return absl::InvalidArgumentError(
        absl::StrCat("in-process node '", name, "' exists"));
  }
  return node;
}

InProcessKvTransport::~InProcessKvTransport() {
  absl::MutexLock lock(&fabric_->mu_);
  fabric_->nodes_.erase(name_);
}

void InProcessKvTransport::Kill() { killed_ = true; }

absl::StatusOr<std::unique_ptr<KvRegion>> InProcessKvTransport::Register(
    void* base, size_t length) {
  if (base == nullptr || length == 0) {
    return absl::InvalidArgumentError("Register: empty memory range");
  }
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_region_++;
  regions_[id] = {reinterpret_cast<uintptr_t>(base), length};
  return std::unique_ptr<KvRegion>(new Region(this, id, base, length));
}

void InProcessKvTransport::Unregister(uint64_t id) {
  absl::MutexLock lock(&mu_);
  regions_.erase(id);
}

PeerAddress InProcessKvTransport::address() const {
  return {WrapWorkerAddress(std::string(kAddressPrefix) + name_), ""};
}

bool InProcessKvTransport::HoldsLocal(uintptr_t addr, size_t length) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [id, region] : regions_) {
    if (addr >= region.base && length <= region.length &&
        addr - region.base <= region.length - length) {
      return true;
    }
  }
  return false;
}

bool InProcessKvTransport::HoldsRegion(uint64_t id, uint64_t base,
                                       uint64_t length) const {
  absl::MutexLock lock(&mu_);
  auto it = regions_.find(id);
  return it != regions_.end() && it->second.base == base &&
         it->second.length == length;
}

template <typename CopyT, typename Fn>
absl::Status InProcessKvTransport::Transfer(const PeerAddress& peer,
                                            absl::Span<const CopyT> copies,
                                            const std::string& packed_rkey,
                                            bool is_put, Fn copy) {
  const absl::Time start = absl::Now();
  uint64_t bytes = 0;
  absl::Status status = [&]() -> absl::Status {
    if (peer.worker_address.empty() && peer.sockaddr.empty()) {
      return absl::InvalidArgumentError("empty peer address");
    }
    std::string peer_name;
    if (!peer.worker_address.empty()) {
      ASSIGN_OR_RETURN(std::string_view address,
                       UnwrapWorkerAddress(peer.worker_address));
      if (address.substr(0, kAddressPrefix.size()) != kAddressPrefix) {
        return absl::InvalidArgumentError("not an in-process address");
      }
      peer_name = std::string(address.substr(kAddressPrefix.size()));
    }
    ASSIGN_OR_RETURN(RkeyInfo rkey, UnwrapRkey(packed_rkey));
    if (rkey.payload.size() < 8) {
      return absl::InvalidArgumentError("in-process rkey too short");
    }
    uint64_t region_id = 0;
    for (int i = 0; i < 8; ++i) {
      region_id |= static_cast<uint64_t>(static_cast<uint8_t>(rkey.payload[i]))
                   << (8 * i);
    }
    for (const CopyT& c : copies) {
      RETURN_IF_ERROR(CheckRemoteRange(rkey, c.remote_addr, c.length));
      if (c.length != 0 &&
          !HoldsLocal(reinterpret_cast<uintptr_t>(c.local), c.length)) {
        return absl::InvalidArgumentError(
            "local range is not inside memory registered with this node");
      }
      bytes += c.length;
    }
    absl::ReaderMutexLock lock(&fabric_->mu_);
    auto it = fabric_->nodes_.find(peer_name);
    if (it == fabric_->nodes_.end() || it->second->killed_) {
      return absl::UnavailableError(
          absl::StrCat("in-process peer '", peer_name, "' is not alive"));
    }
    if (rkey.payload.substr(8) != peer_name ||
        !it->second->HoldsRegion(region_id, rkey.region_base,
                                 rkey.region_length)) {
      return absl::InvalidArgumentError(
          "rkey names no region registered at the peer");
    }
    for (const CopyT& c : copies) {
      if (c.length == 0) continue;
      copy(c.local, reinterpret_cast<void*>(c.remote_addr), c.length);
    }
    return absl::OkStatus();
  }();
  ++ops_;
  transfer_ns_ += absl::ToInt64Nanoseconds(absl::Now() - start);
  if (!status.ok()) {
    ++errors_;
  } else {
    (is_put ? bytes_put_ : bytes_got_) += bytes;
  }
  return status;
}

absl::Status InProcessKvTransport::Put(const PeerAddress& peer,
                                       absl::Span<const Copy> copies,
                                       const std::string& packed_rkey,
                                       absl::Duration /*timeout*/) {
  return Transfer(peer, copies, packed_rkey, /*is_put=*/true,
                  [](const void* local, void* remote, size_t length) {
                    std::memmove(remote, local, length);
                  });
}

absl::Status InProcessKvTransport::Get(const PeerAddress& peer,
                                       absl::Span<const GetCopy> copies,
                                       const std::string& packed_rkey,
                                       absl::Duration /*timeout*/) {
  return Transfer(peer, copies, packed_rkey, /*is_put=*/false,
                  [](void* local, const void* remote, size_t length) {
                    std::memmove(local, remote, length);
                  });
}

TransferStats InProcessKvTransport::stats() const {
  TransferStats stats;
  stats.bytes_put = bytes_put_.load();
  stats.bytes_got = bytes_got_.load();
  stats.ops = ops_.load();
  stats.errors = errors_.load();
  stats.transfer_time = absl::Nanoseconds(transfer_ns_.load());
  return stats;
}

}  // namespace triptych::transport
