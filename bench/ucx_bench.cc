// Cross-process KV put bandwidth through triptych_transport.
//
// One forked peer per transport configuration owns a 64 MiB registered pool
// (the decode node's role); this process puts batches of `msg` bytes into
// it. Each iteration is one Endpoint::Put of 16 MiB (or 256 messages for
// 16 KiB) ending in ucp_ep_flush_nbx, i.e. remote completion, as the
// prefill -> decode path uses it. Peers are forked in main() before any
// UcxNode exists in this process.
//
//   ucx_bench [--benchmark_filter=...]
//   args: config index (see kConfigs), message bytes.

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "transport/fork_peer.h"
#include "transport/ucx_node.h"

namespace triptych::transport {
namespace {

struct BenchConfig {
  const char* name;
  const char* transports;
  bool peer_error_handling;
};

constexpr BenchConfig kConfigs[] = {
    {"shm/noerr", "posix,sysv,cma,self", false},
    {"shm+tcp/peererr", "posix,sysv,cma,tcp,self", true},
    {"shm+tcp/noerr", "posix,sysv,cma,tcp,self", false},
    {"tcp/peererr", "tcp,self", true},
    {"tcp/noerr", "tcp,self", false},
};
constexpr size_t kPoolBytes = 64 << 20;
constexpr size_t kBatchBytes = 16 << 20;

struct Setup {
  std::unique_ptr<ForkedPeer> peer;
  std::unique_ptr<UcxNode> node;
  std::vector<char> src;
  std::unique_ptr<RegisteredMemory> src_reg;
  std::shared_ptr<Endpoint> ep;
};

std::vector<Setup>& Setups() {
  static auto* setups = new std::vector<Setup>(std::size(kConfigs));
  return *setups;
}

UcxOptions OptionsFor(const BenchConfig& config) {
  UcxOptions options;
  options.transports = config.transports;
  options.peer_error_handling = config.peer_error_handling;
  return options;
}

void BM_Put(benchmark::State& state) {
  const int index = static_cast<int>(state.range(0));
  const size_t msg = static_cast<size_t>(state.range(1));
  Setup& setup = Setups()[index];
  state.SetLabel(kConfigs[index].name);
  if (setup.peer == nullptr) {
    state.SkipWithError("peer failed to start");
    return;
  }
  if (setup.node != nullptr && setup.ep == nullptr) {
    state.SkipWithError("connect failed earlier");
    return;
  }
  if (setup.node == nullptr) {
    auto node = UcxNode::Create(OptionsFor(kConfigs[index]));
    if (!node.ok()) {
      state.SkipWithError(node.status().ToString().c_str());
      return;
    }
    setup.node = std::move(*node);
    setup.src.assign(kBatchBytes, 'k');
    setup.src_reg =
        setup.node->Register(setup.src.data(), setup.src.size()).value();
    // Worker address: pure shared memory has no sockaddr connection manager.
    auto ep = setup.node->Connect({setup.peer->info().address.worker_address, ""});
    if (!ep.ok()) {
      state.SkipWithError(ep.status().ToString().c_str());
      return;
    }
    setup.ep = *ep;
  }
  const ForkedPeer::Info& info = setup.peer->info();
  // Messages land at strided offsets across the pool, like scattered KV
  // blocks; 16 KiB messages are batched 256 per call.
  const size_t count = msg >= kBatchBytes / 256 ? kBatchBytes / msg : 256;
  std::vector<Copy> copies;
  for (size_t i = 0; i < count; ++i) {
    const size_t src_off = (i * msg) % kBatchBytes;
    const size_t dst_off = (i * 2 * msg) % (kPoolBytes - msg);
    copies.push_back({setup.src.data() + src_off, info.base + dst_off, msg});
  }
  for (auto _ : state) {
    absl::Status status =
        setup.ep->Put(copies, info.packed_rkey, absl::Seconds(30));
    if (!status.ok()) {
      state.SkipWithError(status.ToString().c_str());
      break;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(count * msg));
}

BENCHMARK(BM_Put)
    ->ArgsProduct({{0, 1, 2, 3, 4}, {16 << 10, 256 << 10, 4 << 20}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace triptych::transport

int main(int argc, char** argv) {
  using namespace triptych::transport;
  // Fork every peer before this process creates a UcxNode.
  for (size_t i = 0; i < std::size(kConfigs); ++i) {
    auto peer = ForkedPeer::Start(OptionsFor(kConfigs[i]), kPoolBytes, 1);
    if (!peer.ok()) {
      std::fprintf(stderr, "%s: %s\n", kConfigs[i].name,
                   peer.status().ToString().c_str());
      continue;
    }
    Setups()[i].peer = std::move(*peer);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  // Endpoints and nodes first, then the peers (which reap their children).
  for (Setup& setup : Setups()) {
    setup.ep.reset();
    setup.src_reg.reset();
    setup.node.reset();
    setup.peer.reset();
  }
  return 0;
}
