#include "transport/wire_format.h"

#include <string>

#include "gtest/gtest.h"

namespace triptych::transport {
namespace {

TEST(WireFormat, RkeyRoundTrip) {
  const std::string wrapped = WrapRkey(0x1000, 4096, "ucx-bytes");
  absl::StatusOr<RkeyInfo> info = UnwrapRkey(wrapped);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->region_base, 0x1000u);
  EXPECT_EQ(info->region_length, 4096u);
  EXPECT_EQ(info->payload, "ucx-bytes");
}

TEST(WireFormat, RejectsEveryTruncation) {
  const std::string wrapped = WrapRkey(0x1000, 4096, "ucx-bytes");
  for (size_t n = 0; n < wrapped.size(); ++n) {
    EXPECT_EQ(UnwrapRkey(wrapped.substr(0, n)).status().code(),
              absl::StatusCode::kInvalidArgument)
        << n;
  }
}

TEST(WireFormat, RejectsEveryBitFlip) {
  const std::string wrapped = WrapRkey(0x1000, 4096, "ucx-bytes");
  for (size_t byte = 0; byte < wrapped.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = wrapped;
      bad[byte] ^= static_cast<char>(1 << bit);
      EXPECT_FALSE(UnwrapRkey(bad).ok()) << byte << ":" << bit;
    }
  }
}

TEST(WireFormat, RejectsAddressAsRkeyAndGarbage) {
  EXPECT_FALSE(UnwrapRkey(WrapWorkerAddress("addr")).ok());
  EXPECT_FALSE(UnwrapWorkerAddress(WrapRkey(1, 1, "rkey")).ok());
  EXPECT_FALSE(UnwrapRkey(std::string(100, '\xff')).ok());
  EXPECT_FALSE(UnwrapRkey("").ok());
  EXPECT_FALSE(UnwrapRkey(WrapRkey(1, 0, "x")).ok());  // empty region
  EXPECT_FALSE(UnwrapRkey(WrapRkey(~0ull, 2, "x")).ok());  // wraps around
  // The view points into the frame, which must outlive it.
  const std::string frame = WrapWorkerAddress("addr");
  absl::StatusOr<std::string_view> address = UnwrapWorkerAddress(frame);
  ASSERT_TRUE(address.ok());
  EXPECT_EQ(*address, "addr");
}

TEST(WireFormat, RemoteRangeChecks) {
  RkeyInfo rkey{1000, 100, ""};
  EXPECT_TRUE(CheckRemoteRange(rkey, 1000, 100).ok());
  EXPECT_TRUE(CheckRemoteRange(rkey, 1099, 1).ok());
  EXPECT_TRUE(CheckRemoteRange(rkey, 1050, 0).ok());
  EXPECT_FALSE(CheckRemoteRange(rkey, 999, 1).ok());
  EXPECT_FALSE(CheckRemoteRange(rkey, 1000, 101).ok());
  EXPECT_FALSE(CheckRemoteRange(rkey, 1099, 2).ok());
  EXPECT_FALSE(CheckRemoteRange(rkey, ~0ull, 2).ok());
  EXPECT_FALSE(CheckRemoteRange(rkey, 1001, ~size_t{0}).ok());
}

TEST(WireFormat, ParsesHostPort) {
  absl::StatusOr<HostPort> v4 = ParseHostPort("127.0.0.1:13337");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 13337);
  absl::StatusOr<HostPort> v6 = ParseHostPort("[::1]:80");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 80);
  for (const char* bad : {"", "host", "host:", ":80", "h:0", "h:65536",
                          "h:-1", "h:8x", "::1:80", "[::1]80", "[::1]:",
                          "h:123456"}) {
    EXPECT_FALSE(ParseHostPort(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace triptych::transport
