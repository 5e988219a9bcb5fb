// Backend selection: cpu always works; fpga and hip fail with a clear error
// on a machine without the device (and are skipped when one is present).

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/memory_backends/memory_backends.h"

namespace triptych::kernels::memory_backends {
namespace {

using memory::MemoryBackendKind;
using ::testing::HasSubstr;

TEST(CreateMemoryBackend, CpuAlwaysAvailable) {
  auto b = CreateMemoryBackend(MemoryBackendKind::kCpu, {});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->kind(), MemoryBackendKind::kCpu);
  GTEST_LOG_(INFO) << (*b)->description() << " | "
                   << DescribeCapabilities(DetectCapabilities());
}

TEST(CreateMemoryBackend, FpgaWithoutXclbinIsNotFound) {
  auto b = CreateMemoryBackend(MemoryBackendKind::kFpga,
                               {.fpga_xclbin_path = "/no/such.xclbin"});
  EXPECT_EQ(b.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(b.status().message(), HasSubstr("--memory-backend=fpga"));
}

TEST(CreateMemoryBackend, FpgaCsimNeedsNoDevice) {
  auto b = CreateMemoryBackend(MemoryBackendKind::kFpga, {.fpga_csim = true});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->kind(), MemoryBackendKind::kFpga);
}

TEST(CreateMemoryBackend, HipWithoutDeviceIsFailedPrecondition) {
  if (DetectCapabilities().gpu_devices > 0) {
    GTEST_SKIP() << "a GPU is present; this test needs none";
  }
  auto b = CreateMemoryBackend(MemoryBackendKind::kHip, {});
  EXPECT_EQ(b.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(b.status().message(), HasSubstr("--memory-backend=hip"));
  EXPECT_THAT(b.status().message(), HasSubstr("no GPU"));
}

TEST(CreateMemoryBackend, UnavailableIsaIsFailedPrecondition) {
  for (memory::Isa isa : {memory::Isa::kAvx2, memory::Isa::kAvx512}) {
    if (memory::IsaAvailable(isa)) continue;
    auto b = CreateMemoryBackend(MemoryBackendKind::kCpu, {.cpu_isa = isa});
    EXPECT_EQ(b.status().code(), absl::StatusCode::kFailedPrecondition);
  }
}

}  // namespace
}  // namespace triptych::kernels::memory_backends
