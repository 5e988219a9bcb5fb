#ifndef TRIPTYCH_TRANSPORT_FORK_PEER_H_
#define TRIPTYCH_TRANSPORT_FORK_PEER_H_

// Test helper: a UcxNode in a forked child process, driven over pipes.
// The child registers a pool filled with FillPattern(seed), reports its
// address/rkey/base to the parent, then answers hash requests over ranges
// of its pool until told to quit, the pipe closes, or 60 s pass idle. It
// dies with the parent (PR_SET_PDEATHSIG). The parent side always reaps it.
//
// Fork before the parent creates any UcxNode in the test, so the child does
// not inherit UCX threads' state.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "transport/types.h"
#include "transport/ucx_options.h"

namespace triptych::transport {

// Deterministic bytes for pools and sources.
void FillPattern(char* data, size_t length, uint32_t seed);
// FNV-1a 64 continued over `length` bytes.
uint64_t HashBytes(uint64_t hash, const char* data, size_t length);
inline constexpr uint64_t kHashSeed = 1469598103934665603ull;

class ForkedPeer {
 public:
  struct Info {
    PeerAddress address;
    std::string packed_rkey;
    uint64_t base = 0;
    uint64_t length = 0;
  };
  using Range = std::pair<uint64_t, uint64_t>;  // (offset, length)

  static absl::StatusOr<std::unique_ptr<ForkedPeer>> Start(
      const UcxOptions& options, size_t pool_bytes, uint32_t seed);
  ~ForkedPeer();  // quit, bounded wait, SIGKILL if needed, always reaped

  const Info& info() const { return info_; }
  pid_t pid() const { return pid_; }
  // Hash (HashBytes from kHashSeed) of the child's pool over `ranges`.
  absl::StatusOr<uint64_t> HashRanges(const std::vector<Range>& ranges);
  // SIGKILL and reap now.
  void Kill();

 private:
  ForkedPeer() = default;
  pid_t pid_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
  Info info_;
};

}  // namespace triptych::transport

#endif  // TRIPTYCH_TRANSPORT_FORK_PEER_H_
