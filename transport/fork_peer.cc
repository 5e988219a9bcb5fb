#include "transport/fork_peer.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "transport/ucx_node.h"

namespace triptych::transport {
namespace {

constexpr int kIoTimeoutMs = 30000;
constexpr int kChildIdleMs = 60000;

bool WriteAll(int fd, const void* data, size_t length) {
  const char* p = static_cast<const char*>(data);
  while (length > 0) {
    const ssize_t n = write(fd, p, length);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    length -= static_cast<size_t>(n);
  }
  return true;
}

bool ReadAll(int fd, void* data, size_t length, int timeout_ms) {
  char* p = static_cast<char*>(data);
  while (length > 0) {
    pollfd pfd{fd, POLLIN, 0};
    const int ready = poll(&pfd, 1, timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    const ssize_t n = read(fd, p, length);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    length -= static_cast<size_t>(n);
  }
  return true;
}

bool WriteString(int fd, const std::string& s) {
  const uint32_t n = static_cast<uint32_t>(s.size());
  return WriteAll(fd, &n, sizeof(n)) && WriteAll(fd, s.data(), s.size());
}

bool ReadString(int fd, std::string* s) {
  uint32_t n = 0;
  if (!ReadAll(fd, &n, sizeof(n), kIoTimeoutMs) || n > (1u << 20)) {
    return false;
  }
  s->resize(n);
  return ReadAll(fd, s->data(), n, kIoTimeoutMs);
}

// The child's whole life; returns its exit code.
int ChildMain(const UcxOptions& options, size_t pool_bytes, uint32_t seed,
              int in, int out) {
  std::vector<char> pool(pool_bytes);
  FillPattern(pool.data(), pool.size(), seed);
  auto node = UcxNode::Create(options);
  if (!node.ok()) return 2;
  auto region = (*node)->Register(pool.data(), pool.size());
  if (!region.ok()) return 3;
  const PeerAddress address = (*node)->address();
  const uint64_t base = (*region)->base_address();
  if (!WriteString(out, address.worker_address) ||
      !WriteString(out, address.sockaddr) ||
      !WriteString(out, (*region)->packed_rkey()) ||
      !WriteAll(out, &base, sizeof(base))) {
    return 4;
  }
  for (;;) {
    char command = 0;
    if (!ReadAll(in, &command, 1, kChildIdleMs)) return 5;
    if (command == 'Q') break;
    if (command != 'H') return 6;
    uint32_t count = 0;
    if (!ReadAll(in, &count, sizeof(count), kIoTimeoutMs)) return 7;
    uint64_t hash = kHashSeed;
    for (uint32_t i = 0; i < count; ++i) {
      uint64_t range[2];
      if (!ReadAll(in, range, sizeof(range), kIoTimeoutMs)) return 8;
      if (range[0] > pool.size() || range[1] > pool.size() - range[0]) {
        return 9;
      }
      hash = HashBytes(hash, pool.data() + range[0], range[1]);
    }
    if (!WriteAll(out, &hash, sizeof(hash))) return 10;
  }
  region->reset();
  node->reset();
  return 0;
}

}  // namespace

void FillPattern(char* data, size_t length, uint32_t seed) {
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
  for (size_t i = 0; i < length; ++i) {
    if (i % 8 == 0) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
    }
    data[i] = static_cast<char>(x >> (8 * (i % 8)));
  }
}

uint64_t HashBytes(uint64_t hash, const char* data, size_t length) {
  for (size_t i = 0; i < length; ++i) {
    hash ^= static_cast<uint8_t>(data[i]);
    hash *= 1099511628211ull;
  }
  return hash;
}

absl::StatusOr<std::unique_ptr<ForkedPeer>> ForkedPeer::Start(
    const UcxOptions& options, size_t pool_bytes, uint32_t seed) {
  int to_child[2];
  int from_child[2];
  if (pipe2(to_child, O_CLOEXEC) != 0) return absl::InternalError("pipe");
  if (pipe2(from_child, O_CLOEXEC) != 0) {
    close(to_child[0]);
    close(to_child[1]);
    return absl::InternalError("pipe");
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    close(to_child[1]);
    close(from_child[0]);
    _exit(ChildMain(options, pool_bytes, seed, to_child[0], from_child[1]));
  }
  std::unique_ptr<ForkedPeer> peer(new ForkedPeer);
  peer->pid_ = pid;
  close(to_child[0]);
  close(from_child[1]);
  peer->to_child_ = to_child[1];
  peer->from_child_ = from_child[0];
  Info& info = peer->info_;
  if (!ReadString(peer->from_child_, &info.address.worker_address) ||
      !ReadString(peer->from_child_, &info.address.sockaddr) ||
      !ReadString(peer->from_child_, &info.packed_rkey) ||
      !ReadAll(peer->from_child_, &info.base, sizeof(info.base),
               kIoTimeoutMs)) {
    return absl::InternalError("child did not report its address");
  }
  info.length = pool_bytes;
  return peer;
}

absl::StatusOr<uint64_t> ForkedPeer::HashRanges(
    const std::vector<Range>& ranges) {
  const char command = 'H';
  const uint32_t count = static_cast<uint32_t>(ranges.size());
  bool ok = WriteAll(to_child_, &command, 1) &&
            WriteAll(to_child_, &count, sizeof(count));
  for (const Range& range : ranges) {
    const uint64_t wire[2] = {range.first, range.second};
    ok = ok && WriteAll(to_child_, wire, sizeof(wire));
  }
  uint64_t hash = 0;
  if (!ok || !ReadAll(from_child_, &hash, sizeof(hash), kIoTimeoutMs)) {
    return absl::UnavailableError("child did not answer");
  }
  return hash;
}

void ForkedPeer::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

ForkedPeer::~ForkedPeer() {
  if (pid_ > 0) {
    const char quit = 'Q';
    (void)WriteAll(to_child_, &quit, 1);
    // Bounded: poll for a clean exit, then SIGKILL.
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    for (;;) {
      const pid_t done = waitpid(pid_, nullptr, WNOHANG);
      if (done == pid_ || done < 0) break;
      if (absl::Now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        break;
      }
      // Waiting for a child to exit has no fd to block on; a short poll
      // on the (closing) pipe doubles as the back-off.
      pollfd pfd{from_child_, POLLIN, 0};
      poll(&pfd, 1, 10);
    }
  }
  if (to_child_ >= 0) close(to_child_);
  if (from_child_ >= 0) close(from_child_);
}

}  // namespace triptych::transport
