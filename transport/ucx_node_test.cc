// UcxNode between two nodes of one process (loopback). Cross-process
// behaviour (shared memory, peer death) is in ucx_cross_process_test.cc.
#include "transport/ucx_node.h"

#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <numeric>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "transport/ucx_kv_transport.h"
#include "transport/ucx_worker.h"
#include "transport/wire_format.h"

namespace triptych::transport {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(10);

UcxOptions TcpOptions() {
  UcxOptions options;
  options.transports = "tcp,self";
  return options;
}

std::vector<char> Pattern(size_t n, int seed) {
  std::vector<char> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<char>(i * 31 + seed);
  return v;
}

struct Pair {
  std::unique_ptr<UcxNode> a;
  std::unique_ptr<UcxNode> b;
};

Pair MakePair(const UcxOptions& options) {
  Pair pair;
  auto a = UcxNode::Create(options);
  auto b = UcxNode::Create(options);
  EXPECT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(b.ok()) << b.status();
  if (a.ok()) pair.a = std::move(*a);
  if (b.ok()) pair.b = std::move(*b);
  return pair;
}

class UcxNodeRoundTrip : public testing::TestWithParam<bool> {};

TEST_P(UcxNodeRoundTrip, PutThenGet) {
  Pair nodes = MakePair(TcpOptions());
  ASSERT_NE(nodes.a, nullptr);
  ASSERT_NE(nodes.b, nullptr);
  EXPECT_NE(nodes.b->listen_port(), 0);
  std::vector<char> src = Pattern(1 << 20, 7), back(1 << 20, 0);
  std::vector<char> pool(4 << 20, 0);
  auto src_reg = nodes.a->Register(src.data(), src.size()).value();
  auto back_reg = nodes.a->Register(back.data(), back.size()).value();
  auto pool_reg = nodes.b->Register(pool.data(), pool.size()).value();

  PeerAddress peer = nodes.b->address();
  if (!GetParam()) peer.sockaddr.clear();  // worker address path
  auto ep = nodes.a->Connect(peer);
  ASSERT_TRUE(ep.ok()) << ep.status();
  EXPECT_EQ(*nodes.a->Connect(peer), *ep);  // cached

  const uint64_t base = pool_reg->base_address();
  std::vector<Copy> copies;
  std::vector<GetCopy> gets;
  for (int i = 0; i < 16; ++i) {  // 64 KiB blocks, reversed order, strided
    const size_t off = static_cast<size_t>(i) * 65536;
    const uint64_t remote = base + (15 - i) * 262144 + 4096;
    copies.push_back({src.data() + off, remote, 65536});
    gets.push_back({back.data() + off, remote, 65536});
  }
  ASSERT_TRUE((*ep)->Put(copies, pool_reg->packed_rkey(), kTimeout).ok());
  for (int i = 0; i < 16; ++i) {
    ASSERT_EQ(0, memcmp(pool.data() + (15 - i) * 262144 + 4096,
                        src.data() + i * 65536, 65536))
        << i;
  }
  ASSERT_TRUE((*ep)->Get(gets, pool_reg->packed_rkey(), kTimeout).ok());
  EXPECT_EQ(src, back);

  TransferStats stats = nodes.a->stats();
  EXPECT_EQ(stats.bytes_put, 1u << 20);
  EXPECT_EQ(stats.bytes_got, 1u << 20);
  EXPECT_EQ(stats.ops, 2u);
  EXPECT_EQ(stats.errors, 0u);
  EXPECT_GT(stats.transfer_time, absl::ZeroDuration());
}

INSTANTIATE_TEST_SUITE_P(SockaddrOrWorkerAddress, UcxNodeRoundTrip,
                         testing::Bool());

// Containers often cap locked memory at 8 MiB (compose's TRIPTYCH_MEMLOCK
// when `memlock: -1` is refused): a KV pool far above the limit must still
// register and take puts over tcp, which needs no pinned memory.
TEST(UcxNode, RegistersAndPutsAboveTheLockedMemoryLimit) {
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_MEMLOCK, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = 64 << 10;  // lowering the soft limit needs no privilege
  if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max < low.rlim_cur) low.rlim_cur = saved.rlim_max;
  ASSERT_EQ(setrlimit(RLIMIT_MEMLOCK, &low), 0);
  ASSERT_EQ(LockedMemoryLimit(), std::optional<uint64_t>(low.rlim_cur));
  {
    Pair nodes = MakePair(TcpOptions());
    ASSERT_NE(nodes.a, nullptr);
    ASSERT_NE(nodes.b, nullptr);
    std::vector<char> src = Pattern(1 << 20, 3);
    std::vector<char> pool(16 << 20, 0);  // 256 x the limit
    auto src_reg = nodes.a->Register(src.data(), src.size());
    auto pool_reg = nodes.b->Register(pool.data(), pool.size());
    ASSERT_TRUE(src_reg.ok()) << src_reg.status();
    ASSERT_TRUE(pool_reg.ok()) << pool_reg.status();
    auto ep = nodes.a->Connect(nodes.b->address());
    ASSERT_TRUE(ep.ok()) << ep.status();
    const uint64_t remote = (*pool_reg)->base_address() + (15 << 20);
    ASSERT_TRUE((*ep)->Put({{src.data(), remote, src.size()}}, (*pool_reg)->packed_rkey(),
                           kTimeout)
                    .ok());
    EXPECT_EQ(0, memcmp(pool.data() + (15 << 20), src.data(), src.size()));
  }
  ASSERT_EQ(setrlimit(RLIMIT_MEMLOCK, &saved), 0);
}

TEST(UcxNode, LayerByLayerPutAsync) {
  Pair nodes = MakePair(TcpOptions());
  ASSERT_NE(nodes.b, nullptr);
  constexpr int kLayers = 8;
  constexpr size_t kLayerBytes = 32768;
  std::vector<char> src = Pattern(kLayers * kLayerBytes, 3);
  std::vector<char> pool(kLayers * kLayerBytes, 0);
  auto src_reg = nodes.a->Register(src.data(), src.size()).value();
  auto pool_reg = nodes.b->Register(pool.data(), pool.size()).value();
  auto ep = nodes.a->Connect(nodes.b->address()).value();
  std::vector<PendingTransfer> pending;
  for (int layer = 0; layer < kLayers; ++layer) {
    Copy copy{src.data() + layer * kLayerBytes,
              pool_reg->base_address() + layer * kLayerBytes, kLayerBytes};
    pending.push_back(ep->PutAsync({copy}, pool_reg->packed_rkey(), kTimeout));
  }
  for (PendingTransfer& p : pending) ASSERT_TRUE(p.Wait().ok());
  EXPECT_EQ(src, pool);
}

TEST(UcxNode, MalformedMetadataIsInvalidArgument) {
  Pair nodes = MakePair(TcpOptions());
  ASSERT_NE(nodes.b, nullptr);
  std::vector<char> src(4096, 1), pool(4096, 0), unregistered(4096);
  auto src_reg = nodes.a->Register(src.data(), src.size()).value();
  auto pool_reg = nodes.b->Register(pool.data(), pool.size()).value();
  auto ep = nodes.a->Connect(nodes.b->address()).value();
  const std::string rkey = pool_reg->packed_rkey();
  const uint64_t base = pool_reg->base_address();
  std::vector<Copy> copy = {{src.data(), base, 4096}};

  std::vector<std::string> bad_rkeys = {
      "", "x", std::string(256, '\0'), std::string(4096, '\xa5'),
      rkey.substr(0, rkey.size() - 1), rkey + "x",
      nodes.b->address().worker_address};
  for (size_t i = 0; i < rkey.size(); i += 7) {
    std::string flipped = rkey;
    flipped[i] ^= 0x40;
    bad_rkeys.push_back(flipped);
  }
  for (const std::string& bad : bad_rkeys) {
    EXPECT_EQ(ep->Put(copy, bad, kTimeout).code(),
              absl::StatusCode::kInvalidArgument);
    std::vector<GetCopy> get = {{src.data(), base, 4096}};
    EXPECT_EQ(ep->Get(get, bad, kTimeout).code(),
              absl::StatusCode::kInvalidArgument);
  }
  std::vector<Copy> outside = {{src.data(), base + 1, 4096}};
  EXPECT_EQ(ep->Put(outside, rkey, kTimeout).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<Copy> wild = {{src.data(), 0xdeadbeef000, 16}};
  EXPECT_EQ(ep->Put(wild, rkey, kTimeout).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<Copy> local_unregistered = {{unregistered.data(), base, 4096}};
  EXPECT_EQ(ep->Put(local_unregistered, rkey, kTimeout).code(),
            absl::StatusCode::kInvalidArgument);
  // The endpoint is still healthy afterwards.
  EXPECT_FALSE(ep->failed());
  EXPECT_TRUE(ep->Put(copy, rkey, kTimeout).ok());
  EXPECT_EQ(pool, src);
  EXPECT_GE(nodes.a->stats().errors, bad_rkeys.size() * 2);

  for (const std::string& bad_address :
       {std::string(""), std::string("garbage"), rkey,
        std::string(100, '\0')}) {
    EXPECT_EQ(nodes.a->Connect({bad_address, ""}).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  for (const char* bad_sockaddr : {"nohostport", "1.2.3.4:0", ":99"}) {
    EXPECT_EQ(nodes.a->Connect({"", bad_sockaddr}).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(UcxNode, ConnectToDeadPortIsUnavailable) {
  // A port that was just free: bind, read the port, close.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  for (bool error_handling : {true, false}) {
    UcxOptions options = TcpOptions();
    options.peer_error_handling = error_handling;
    options.connect_timeout = absl::Seconds(3);
    auto node = UcxNode::Create(options);
    ASSERT_TRUE(node.ok()) << node.status();
    const absl::Time start = absl::Now();
    auto ep = (*node)->Connect(
        {"", absl::StrCat("127.0.0.1:", ntohs(addr.sin_port))});
    EXPECT_EQ(ep.status().code(), absl::StatusCode::kUnavailable)
        << ep.status();
    EXPECT_LT(absl::Now() - start, absl::Seconds(8));
  }
}

TEST(UcxNode, BadTransportsFailCreate) {
  UcxOptions options;
  options.transports = "no-such-transport";
  EXPECT_FALSE(UcxNode::Create(options).ok());
}

TEST(UcxKvTransport, PutGetThroughInterface) {
  auto a = UcxKvTransport::Create(TcpOptions());
  auto b = UcxKvTransport::Create(TcpOptions());
  ASSERT_TRUE(a.ok() && b.ok());
  KvTransport& sender = **a;
  std::vector<char> src = Pattern(8192, 1), pool(8192, 0), back(8192, 0);
  auto src_reg = sender.Register(src.data(), src.size()).value();
  auto back_reg = sender.Register(back.data(), back.size()).value();
  auto pool_reg = (*b)->Register(pool.data(), pool.size()).value();
  const uint64_t base = pool_reg->base_address();
  ASSERT_TRUE(sender.Put((*b)->address(), {{src.data(), base, 8192}},
                         pool_reg->packed_rkey(), kTimeout)
                  .ok());
  EXPECT_EQ(src, pool);
  ASSERT_TRUE(sender.Get((*b)->address(), {{back.data(), base, 8192}},
                         pool_reg->packed_rkey(), kTimeout)
                  .ok());
  EXPECT_EQ(src, back);
  EXPECT_EQ(sender.stats().bytes_put, 8192u);
}

}  // namespace
}  // namespace triptych::transport
