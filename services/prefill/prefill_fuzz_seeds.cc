// Writes the seed corpus of prefill_request_fuzzer (docs/FUZZING.md):
// serialized PrefillRequests shaped like the ones decode nodes send (see
// services/decode/prefill_client.cc), valid for FuzzNodeLimits(), and a few
// that each fail one check.
//
// Usage: prefill_fuzz_seeds OUT_DIR

#include <cstdio>
#include <fstream>
#include <string>

#include "proto/triptych.pb.h"
#include "services/prefill/prefill_fuzz_node.h"
#include "transport/wire_format.h"

namespace {

using triptych::prefill::FuzzNodeLimits;

triptych::v1::PrefillRequest Valid(int tokens, int skip, bool sockaddr) {
  const auto limits = FuzzNodeLimits();
  triptych::v1::PrefillRequest r;
  r.set_request_id("req-" + std::to_string(tokens));
  for (int i = 0; i < tokens; ++i) r.add_tokens((i * 37 + 1) % 512);
  r.set_skip_tokens(skip);
  auto* g = r.mutable_geometry();
  g->set_num_layers(2);
  g->set_num_kv_heads(2);
  g->set_head_dim(8);
  g->set_block_size(16);
  g->set_dtype("f16");
  auto* t = r.mutable_target();
  t->set_kv_layout_version(1);
  const uint64_t base = 0x7f0000000000ull;
  const int blocks = (tokens + 15) / 16;
  if (sockaddr) {
    t->set_ucx_sockaddr("127.0.0.1:13337");
  } else {
    t->set_ucx_worker_address(triptych::transport::WrapWorkerAddress(std::string(48, '\x5a')));
  }
  t->set_rkey(triptych::transport::WrapRkey(base, limits.block_bytes * 64, std::string(20, '\x01')));
  t->set_pool_base(base);
  t->set_block_bytes(limits.block_bytes);
  t->set_layer_stride_bytes(limits.block_bytes / 2);
  for (int b = 0; b < blocks; ++b) t->add_block_ids(60 - b);  // last ones reach the end
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  int n = 0;
  auto write = [&](const triptych::v1::PrefillRequest& r) {
    std::ofstream(dir + "/seed_" + std::to_string(n++), std::ios::binary)
        << r.SerializeAsString();
  };
  write(Valid(1, 0, true));
  write(Valid(16, 0, false));
  write(Valid(40, 16, true));
  write(Valid(255, 128, false));
  auto r = Valid(33, 0, true);
  r.mutable_target()->add_block_ids(64);  // one past the region
  write(r);
  r = Valid(20, 0, true);
  r.mutable_target()->set_kv_layout_version(2);
  write(r);
  r = Valid(20, 0, true);
  r.mutable_geometry()->set_dtype("f32");
  write(r);
  r = Valid(20, 0, true);
  r.mutable_target()->set_ucx_sockaddr("[::1]:0");
  write(r);
  std::printf("wrote %d seeds to %s\n", n, dir.c_str());
  return 0;
}
