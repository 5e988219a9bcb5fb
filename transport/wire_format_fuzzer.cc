// libFuzzer target for the KV transfer metadata framing (built with
// -DTRIPTYCH_FUZZ=ON and clang; see docs/FUZZING.md).
//
// Packed rkeys, worker addresses and sockaddrs arrive from remote nodes in
// gRPC requests and are checked here before any byte reaches UCX. Input
// layout: 1 flag byte, 8-byte remote address, 8-byte length, then the frame.
// Flag bit 0 recomputes the frame's checksum so that the checks behind it
// are reached; bit 1 stamps the worker-address magic instead of the rkey's.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "transport/wire_format.h"

namespace {

using triptych::transport::CheckRemoteRange;
using triptych::transport::kMaxWirePayloadBytes;
using triptych::transport::kWireHeaderBytes;
using triptych::transport::ParseHostPort;
using triptych::transport::UnwrapRkey;
using triptych::transport::UnwrapWorkerAddress;
using triptych::transport::WrapRkey;
using triptych::transport::WrapWorkerAddress;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

uint64_t Le(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

// FNV-1a-32 over bytes [0, 28) and the payload, as wire_format.h specifies.
void FixChecksum(std::string& frame) {
  if (frame.size() < kWireHeaderBytes) return;
  uint32_t hash = 2166136261u;
  for (size_t i = 0; i < frame.size(); ++i) {
    if (i >= 28 && i < kWireHeaderBytes) continue;
    hash ^= static_cast<uint8_t>(frame[i]);
    hash *= 16777619u;
  }
  for (int i = 0; i < 4; ++i) frame[28 + i] = static_cast<char>((hash >> (8 * i)) & 0xff);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Every input is also a sockaddr candidate.
  auto hp = ParseHostPort(std::string_view(reinterpret_cast<const char*>(data), size));
  if (hp.ok()) Check(!hp->host.empty() && hp->port != 0);
  else Check(hp.status().code() == absl::StatusCode::kInvalidArgument);

  if (size < 17) return 0;
  const uint8_t flags = data[0];
  const uint64_t addr = Le(data + 1, 8);
  const uint64_t length = Le(data + 9, 8);
  std::string frame(reinterpret_cast<const char*>(data + 17), size - 17);
  if ((flags & 2) && frame.size() >= 4) std::memcpy(frame.data(), "TTWA", 4);
  if (flags & 1) FixChecksum(frame);

  auto rkey = UnwrapRkey(frame);
  if (rkey.ok()) {
    Check(rkey->region_length > 0);
    Check(rkey->region_base + rkey->region_length >= rkey->region_base);
    Check(!rkey->payload.empty() && rkey->payload.size() <= kMaxWirePayloadBytes);
    // Re-wrapping gives the same bytes: nothing in the frame goes unchecked.
    Check(WrapRkey(rkey->region_base, rkey->region_length, rkey->payload) == frame);
    const absl::Status in_range = CheckRemoteRange(*rkey, addr, static_cast<size_t>(length));
    const unsigned __int128 end = static_cast<unsigned __int128>(addr) + length;
    const bool inside = addr >= rkey->region_base &&
                        end <= static_cast<unsigned __int128>(rkey->region_base) +
                                   rkey->region_length;
    Check(in_range.ok() == inside);
  } else {
    Check(rkey.status().code() == absl::StatusCode::kInvalidArgument);
  }

  auto address = UnwrapWorkerAddress(frame);
  if (address.ok()) {
    Check(!address->empty() && address->size() <= kMaxWirePayloadBytes);
    Check(WrapWorkerAddress(*address) == frame);
  } else {
    Check(address.status().code() == absl::StatusCode::kInvalidArgument);
  }
  Check(!(rkey.ok() && address.ok()));
  return 0;
}
