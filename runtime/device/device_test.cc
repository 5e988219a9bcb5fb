#include "runtime/device/device.h"

#include <string>

#include "gtest/gtest.h"

namespace triptych::device {
namespace {

TEST(ParseDeviceKind, AcceptsTheFourNames) {
  EXPECT_EQ(*ParseDeviceKind("cpu"), DeviceKind::kCpu);
  EXPECT_EQ(*ParseDeviceKind("HIP"), DeviceKind::kHip);
  EXPECT_EQ(*ParseDeviceKind("cuda"), DeviceKind::kCuda);
  EXPECT_EQ(*ParseDeviceKind("GPU"), DeviceKind::kGpu);
  auto bad = ParseDeviceKind("tpu");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("'tpu'"), std::string::npos);
}

TEST(Device, CpuIsAlwaysThere) {
  auto d = SelectDevice("cpu");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ((*d)->kind(), DeviceKind::kCpu);
  EXPECT_EQ((*d)->description(), "cpu");
  EXPECT_EQ(Probe(DeviceKind::kCpu).device_count, 1);
}

// Without a usable GPU of a kind, selecting it fails with
// kFailedPrecondition naming the device and the reason.
TEST(Device, MissingGpuIsAClearFailedPrecondition) {
  for (DeviceKind kind : {DeviceKind::kHip, DeviceKind::kCuda}) {
    const DeviceCapabilities caps = Probe(kind);
    if (caps.device_count > 0) continue;  // this one is usable here
    EXPECT_FALSE(caps.why_unavailable.empty());
    auto d = Device::Create({kind, 0});
    ASSERT_EQ(d.status().code(), absl::StatusCode::kFailedPrecondition);
    const std::string msg(d.status().message());
    EXPECT_NE(msg.find(std::string("--device ") + DeviceKindName(kind)),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find(caps.why_unavailable), std::string::npos) << msg;
    GTEST_LOG_(INFO) << msg;
  }
}

TEST(Device, IndexOutOfRange) {
  for (DeviceKind kind : {DeviceKind::kHip, DeviceKind::kCuda}) {
    const DeviceCapabilities caps = Probe(kind);
    if (caps.device_count == 0) continue;
    auto d = Device::Create({kind, caps.device_count});
    EXPECT_EQ(d.status().code(), absl::StatusCode::kFailedPrecondition);
    auto ok = Device::Create({kind, 0});
    ASSERT_TRUE(ok.ok()) << ok.status();
    GTEST_LOG_(INFO) << (*ok)->description();
  }
}

}  // namespace
}  // namespace triptych::device
