// FpgaBackend::Create's errors on a machine without an FPGA: a missing
// xclbin is kNotFound, a present file without a device is
// kFailedPrecondition (with or without XRT in the build).

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/fpga/fpga_backend.h"

namespace triptych::kernels::fpga {
namespace {

using ::testing::HasSubstr;

TEST(FpgaBackend, MissingXclbinIsNotFound) {
  auto r = FpgaBackend::Create({.xclbin_path = "/nonexistent/memory.xclbin"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("/nonexistent/memory.xclbin"));
  EXPECT_EQ(FpgaBackend::Create({}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(FpgaBackend, NoDeviceIsFailedPrecondition) {
  GTEST_LOG_(INFO) << "built with XRT: " << FpgaBackend::BuiltWithXrt()
                   << ", devices: " << FpgaBackend::DeviceCount();
  if (FpgaBackend::DeviceCount() > 0) {
    GTEST_SKIP() << "an FPGA device is present; this test needs none";
  }
  const std::string path =
      (std::filesystem::temp_directory_path() / "triptych_fake.xclbin").string();
  { std::ofstream(path) << "not an xclbin"; }
  auto r = FpgaBackend::Create({.xclbin_path = path, .device_index = 0});
  std::remove(path.c_str());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition)
      << r.status();
  EXPECT_THAT(r.status().message(),
              FpgaBackend::BuiltWithXrt() ? HasSubstr("no FPGA device")
                                          : HasSubstr("no XRT"));
}

TEST(FpgaBackend, DeviceIndexOutOfRangeIsFailedPrecondition) {
  const std::string path =
      (std::filesystem::temp_directory_path() / "triptych_fake2.xclbin").string();
  { std::ofstream(path) << "x"; }
  auto r = FpgaBackend::Create({.xclbin_path = path, .device_index = 1000});
  std::remove(path.c_str());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace triptych::kernels::fpga
