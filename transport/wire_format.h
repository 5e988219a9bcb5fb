#ifndef TRIPTYCH_TRANSPORT_WIRE_FORMAT_H_
#define TRIPTYCH_TRANSPORT_WIRE_FORMAT_H_

// Framing of the metadata that crosses the network before bytes move: packed
// rkeys and worker addresses. Remote metadata is untrusted, and UCX parses
// rkey and address bytes without validating them (garbage can crash the
// process), so every blob this library hands out is wrapped in a 32-byte
// header and verified before any byte reaches UCX:
//
//   offset size field
//        0    4 magic ("TTRK" rkey / "TTWA" worker address), little-endian
//        4    2 version (1)
//        6    2 reserved (0)
//        8    8 region base address (rkeys; 0 for addresses)
//       16    8 region length in bytes (rkeys; 0 for addresses)
//       24    4 payload length (1 .. 64 KiB)
//       28    4 FNV-1a-32 over bytes [0, 28) and the payload
//       32    n payload (the UCX bytes)
//
// The checksum catches truncation, corruption and mix-ups (e.g. an address
// passed where an rkey belongs); it is not a MAC. Authenticating peers is the
// control plane's job. The region bounds let Put/Get reject remote ranges
// outside the registered pool before UCX sees them.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace triptych::transport {

inline constexpr size_t kWireHeaderBytes = 32;
inline constexpr size_t kMaxWirePayloadBytes = 64 * 1024;

// A verified, unwrapped rkey.
struct RkeyInfo {
  uint64_t region_base = 0;
  uint64_t region_length = 0;
  std::string_view payload;  // points into the wrapped string
};

std::string WrapRkey(uint64_t region_base, uint64_t region_length,
                     std::string_view payload);
// kInvalidArgument unless `wrapped` is a well-formed rkey frame.
absl::StatusOr<RkeyInfo> UnwrapRkey(std::string_view wrapped);

std::string WrapWorkerAddress(std::string_view payload);
// kInvalidArgument unless `wrapped` is a well-formed worker-address frame.
absl::StatusOr<std::string_view> UnwrapWorkerAddress(std::string_view wrapped);

// kInvalidArgument unless [addr, addr + length) lies inside the region.
absl::Status CheckRemoteRange(const RkeyInfo& rkey, uint64_t addr,
                              size_t length);

struct HostPort {
  std::string host;
  uint16_t port = 0;
};
// Parses "host:port" or "[v6addr]:port" (port 1..65535); kInvalidArgument
// otherwise.
absl::StatusOr<HostPort> ParseHostPort(std::string_view text);

}  // namespace triptych::transport

#endif  // TRIPTYCH_TRANSPORT_WIRE_FORMAT_H_
