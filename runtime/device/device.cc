#include "runtime/device/device.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/hip/forward_ops.h"
#include "kernels/hip/gpu_ops.h"

namespace triptych::device {

const char* DeviceKindName(DeviceKind kind) {
  switch (kind) {
    case DeviceKind::kCpu:
      return "cpu";
    case DeviceKind::kGpu:
      return "gpu";
    case DeviceKind::kHip:
      return "hip";
    case DeviceKind::kCuda:
      return "cuda";
  }
  return "?";
}

const char* GpuRuntime() { return kernels::hip::GpuRuntimeName(); }

absl::StatusOr<DeviceKind> ParseDeviceKind(std::string_view name) {
  // This Abseil's string_view is its own type, not std::string_view.
  const std::string given(name);
  const std::string lower = absl::AsciiStrToLower(given);
  for (DeviceKind k : {DeviceKind::kCpu, DeviceKind::kGpu, DeviceKind::kHip,
                       DeviceKind::kCuda}) {
    if (lower == DeviceKindName(k)) return k;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--device: unknown device '", given,
                   "' (expected cpu, gpu, hip or cuda)"));
}

DeviceCapabilities Probe(DeviceKind kind) {
  DeviceCapabilities caps;
  caps.kind = kind;
  if (kind == DeviceKind::kCpu) {
    caps.compiled = true;
    caps.device_count = 1;
    return caps;
  }
  const std::string runtime = kernels::hip::GpuRuntimeName();
  const bool matches = kind == DeviceKind::kGpu
                           ? runtime != "none"
                           : runtime == DeviceKindName(kind);
  if (!matches) {
    caps.why_unavailable =
        runtime == "none"
            ? std::string(
                  "this build has no GPU kernels (neither hipcc nor "
                  "nvcc was found at configure time)")
            : absl::StrCat("this build's GPU runtime is ", runtime,
                           " (configure with -DTRIPTYCH_GPU_RUNTIME=",
                           DeviceKindName(kind), " for ", DeviceKindName(kind),
                           ")");
    return caps;
  }
  caps.compiled = true;
  caps.device_count = kernels::hip::GpuDeviceCount(&caps.why_unavailable);
  return caps;
}

absl::StatusOr<std::unique_ptr<Device>> Device::Create(
    const DeviceOptions& options) {
  if (options.kind == DeviceKind::kCpu) {
    return std::unique_ptr<Device>(new Device(DeviceKind::kCpu, 0, "cpu"));
  }
  const char* name = DeviceKindName(options.kind);
  const DeviceCapabilities caps = Probe(options.kind);
  if (caps.device_count == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--device ", name, ": no usable GPU: ", caps.why_unavailable));
  }
  if (options.index < 0 || options.index >= caps.device_count) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--device ", name, ": device index ", options.index, " out of range; ",
        caps.device_count, " device(s) present"));
  }
  if (std::string e = kernels::hip::GpuSetDevice(options.index); !e.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("--device ", name, ": ", e));
  }
  return std::unique_ptr<Device>(new Device(
      options.kind, options.index,
      absl::StrCat(kernels::hip::GpuRuntimeName(), " device ", options.index,
                   " (", kernels::hip::GpuDeviceDescription(options.index),
                   ")")));
}

absl::StatusOr<std::unique_ptr<Device>> SelectDevice(std::string_view flag,
                                                     int index) {
  ASSIGN_OR_RETURN(const DeviceKind kind, ParseDeviceKind(flag));
  return Device::Create({kind, index});
}

}  // namespace triptych::device
