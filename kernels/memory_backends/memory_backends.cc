#include "kernels/memory_backends/memory_backends.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/fpga/fpga_backend.h"
#include "kernels/hip/gpu_backend.h"
#include "kernels/memory/cpu_backend.h"

namespace triptych::kernels::memory_backends {

BackendCapabilities DetectCapabilities() {
  BackendCapabilities caps;
  caps.cpu_isa = memory::IsaName(memory::BestIsa());
  caps.fpga_xrt_built = fpga::FpgaBackend::BuiltWithXrt();
  caps.fpga_devices = fpga::FpgaBackend::DeviceCount();
  caps.gpu_runtime = hip::GpuBackend::RuntimeName();
  caps.gpu_devices = hip::GpuBackend::DeviceCount(&caps.gpu_why);
  return caps;
}

std::string DescribeCapabilities(const BackendCapabilities& caps) {
  return absl::StrCat(
      "cpu: ", caps.cpu_isa, "; fpga: ",
      caps.fpga_xrt_built ? absl::StrCat(caps.fpga_devices, " XRT device(s)")
                          : std::string("built without XRT"),
      "; hip: ", caps.gpu_runtime, " runtime, ", caps.gpu_devices,
      " device(s)",
      caps.gpu_devices == 0 && !caps.gpu_why.empty()
          ? absl::StrCat(" (", caps.gpu_why, ")")
          : std::string());
}

absl::StatusOr<std::unique_ptr<memory::MemoryBackend>> CreateMemoryBackend(
    memory::MemoryBackendKind kind, const MemoryBackendOptions& options) {
  switch (kind) {
    case memory::MemoryBackendKind::kCpu: {
      auto b = memory::CpuMemoryBackend::Create(options.cpu_isa);
      if (!b.ok()) return b.status();
      return std::unique_ptr<memory::MemoryBackend>(std::move(*b));
    }
    case memory::MemoryBackendKind::kFpga: {
      if (options.fpga_csim) {
        return std::unique_ptr<memory::MemoryBackend>(
            fpga::FpgaBackend::CreateCsim());
      }
      auto b = fpga::FpgaBackend::Create(
          {.xclbin_path = options.fpga_xclbin_path,
           .device_index = options.fpga_device_index});
      if (!b.ok()) {
        return absl::Status(
            b.status().code(),
            absl::StrCat("--memory-backend=fpga: ", b.status().message()));
      }
      return std::unique_ptr<memory::MemoryBackend>(std::move(*b));
    }
    case memory::MemoryBackendKind::kHip: {
      auto b = hip::GpuBackend::Create(
          {.device_index = options.gpu_device_index});
      if (!b.ok()) {
        return absl::Status(
            b.status().code(),
            absl::StrCat("--memory-backend=hip: ", b.status().message()));
      }
      return std::unique_ptr<memory::MemoryBackend>(std::move(*b));
    }
  }
  return absl::InvalidArgumentError("unknown memory backend kind");
}

}  // namespace triptych::kernels::memory_backends
