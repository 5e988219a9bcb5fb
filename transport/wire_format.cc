#include "transport/wire_format.h"

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace triptych::transport {
namespace {

constexpr uint32_t kRkeyMagic = 0x4b525454;     // "TTRK" little-endian
constexpr uint32_t kAddressMagic = 0x41575454;  // "TTWA" little-endian
constexpr uint16_t kVersion = 1;

void PutLe(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  }
}

uint64_t GetLe(std::string_view in, size_t offset, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) {
    value |= static_cast<uint64_t>(static_cast<uint8_t>(in[offset + i]))
             << (8 * i);
  }
  return value;
}

uint32_t Fnv1a(std::string_view a, std::string_view b) {
  uint32_t hash = 2166136261u;
  for (std::string_view part : {a, b}) {
    for (char c : part) {
      hash ^= static_cast<uint8_t>(c);
      hash *= 16777619u;
    }
  }
  return hash;
}

std::string Wrap(uint32_t magic, uint64_t base, uint64_t length,
                 std::string_view payload) {
  std::string out;
  out.reserve(kWireHeaderBytes + payload.size());
  PutLe(out, magic, 4);
  PutLe(out, kVersion, 2);
  PutLe(out, 0, 2);
  PutLe(out, base, 8);
  PutLe(out, length, 8);
  PutLe(out, payload.size(), 4);
  PutLe(out, Fnv1a(out, payload), 4);
  out.append(payload.data(), payload.size());
  return out;
}

struct Frame {
  uint64_t base;
  uint64_t length;
  std::string_view payload;
};

absl::StatusOr<Frame> Unwrap(uint32_t magic, std::string_view what,
                             std::string_view wrapped) {
  if (wrapped.size() < kWireHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(what), ": ", wrapped.size(), " bytes, shorter than the ",
        kWireHeaderBytes, "-byte header"));
  }
  if (GetLe(wrapped, 0, 4) != magic) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(what), ": bad magic"));
  }
  if (GetLe(wrapped, 4, 2) != kVersion || GetLe(wrapped, 6, 2) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(what), ": unsupported version"));
  }
  const uint64_t payload_length = GetLe(wrapped, 24, 4);
  if (payload_length == 0 || payload_length > kMaxWirePayloadBytes ||
      payload_length != wrapped.size() - kWireHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(what), ": payload length ", payload_length,
        " does not match the ", wrapped.size() - kWireHeaderBytes,
        " bytes present"));
  }
  std::string_view payload = wrapped.substr(kWireHeaderBytes);
  if (GetLe(wrapped, 28, 4) != Fnv1a(wrapped.substr(0, 28), payload)) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(what), ": checksum mismatch"));
  }
  return Frame{GetLe(wrapped, 8, 8), GetLe(wrapped, 16, 8), payload};
}

}  // namespace

std::string WrapRkey(uint64_t region_base, uint64_t region_length,
                     std::string_view payload) {
  return Wrap(kRkeyMagic, region_base, region_length, payload);
}

absl::StatusOr<RkeyInfo> UnwrapRkey(std::string_view wrapped) {
  absl::StatusOr<Frame> frame = Unwrap(kRkeyMagic, "packed rkey", wrapped);
  if (!frame.ok()) return frame.status();
  if (frame->length == 0 || frame->base + frame->length < frame->base) {
    return absl::InvalidArgumentError("packed rkey: bad region bounds");
  }
  return RkeyInfo{frame->base, frame->length, frame->payload};
}

std::string WrapWorkerAddress(std::string_view payload) {
  return Wrap(kAddressMagic, 0, 0, payload);
}

absl::StatusOr<std::string_view> UnwrapWorkerAddress(
    std::string_view wrapped) {
  absl::StatusOr<Frame> frame =
      Unwrap(kAddressMagic, "worker address", wrapped);
  if (!frame.ok()) return frame.status();
  if (frame->base != 0 || frame->length != 0) {
    return absl::InvalidArgumentError("worker address: bad header");
  }
  return frame->payload;
}

absl::Status CheckRemoteRange(const RkeyInfo& rkey, uint64_t addr,
                              size_t length) {
  if (addr < rkey.region_base || length > rkey.region_length ||
      addr - rkey.region_base > rkey.region_length - length) {
    return absl::InvalidArgumentError(absl::StrCat(
        "remote range [", addr, ", +", length,
        ") outside the registered region [", rkey.region_base, ", +",
        rkey.region_length, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<HostPort> ParseHostPort(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() ||
        text[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("bad sockaddr '", std::string(text), "'"));
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos ||
        text.find(':') != colon) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad sockaddr '", std::string(text), "': want host:port"));
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  uint32_t port_number = 0;
  if (host.empty() || port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string_view::npos ||
      !absl::SimpleAtoi(std::string(port), &port_number) ||
      port_number == 0 || port_number > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad sockaddr '", std::string(text), "'"));
  }
  return HostPort{std::string(host), static_cast<uint16_t>(port_number)};
}

}  // namespace triptych::transport
