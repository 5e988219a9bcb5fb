// Writes the seed corpus of wire_format_fuzzer (docs/FUZZING.md): framed
// rkeys and worker addresses as wire_format_test builds them, behind the
// fuzzer's 17-byte prefix (flags, remote address, length), plus sockaddrs.
//
// Usage: wire_format_fuzz_seeds OUT_DIR

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include "transport/wire_format.h"

namespace {

std::string Prefix(uint8_t flags, uint64_t addr, uint64_t length) {
  std::string out(1, static_cast<char>(flags));
  for (uint64_t v : {addr, length}) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  int n = 0;
  auto write = [&](const std::string& bytes) {
    std::ofstream(dir + "/seed_" + std::to_string(n++), std::ios::binary) << bytes;
  };
  using triptych::transport::WrapRkey;
  using triptych::transport::WrapWorkerAddress;
  write(Prefix(0, 0x1000, 64) + WrapRkey(0x1000, 4096, "rkey-bytes"));
  write(Prefix(1, 0x1000 + 4032, 64) + WrapRkey(0x1000, 4096, std::string(100, 'k')));
  write(Prefix(0, UINT64_MAX - 8, 16) + WrapRkey(UINT64_MAX - 4096, 4096, "k"));
  write(Prefix(1, 0, 0) + WrapWorkerAddress(std::string(200, '\x02')));
  write(Prefix(3, 0, 0) + WrapRkey(0, 0, "addr"));
  write("127.0.0.1:13337");
  write("[fe80::1%eth0]:65535");
  write("host:0");
  std::printf("wrote %d seeds to %s\n", n, dir.c_str());
  return 0;
}
