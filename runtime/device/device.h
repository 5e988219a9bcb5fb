#ifndef TRIPTYCH_RUNTIME_DEVICE_DEVICE_H_
#define TRIPTYCH_RUNTIME_DEVICE_DEVICE_H_

// Where a node runs the forward pass: the CPU kernels, or a GPU through the
// HIP or CUDA build of kernels/hip (forward_ops.h). This is the skeleton of
// the device backend (issue #7): parsing a `--device` flag, capability
// detection (hipGetDeviceCount / cudaGetDeviceCount behind GpuDeviceCount),
// and a clear error when the asked-for device is missing. The GPU forward
// pass itself (weights resident on the device, the layer loop over the ops)
// is not wired in yet; see docs/GPU_FORWARD.md.
//
// A binary holds one GPU runtime: the one kernels/hip's triptych_hip was
// built with (TRIPTYCH_GPU_RUNTIME at configure time: hip when hipcc is
// found, else cuda). Asking for the other one is a kFailedPrecondition that
// says which runtime the build has.
//
// Thread safety: the free functions are thread-safe; Device is immutable.

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace triptych::device {

// kGpu: whatever GPU runtime this build holds (hip, cuda or hip-cpu);
// kHip / kCuda: that runtime specifically.
enum class DeviceKind { kCpu, kGpu, kHip, kCuda };

// The GPU runtime this binary carries: "hip", "cuda", "hip-cpu" (AMD's HIP
// CPU Runtime: the GPU kernels executed on the host) or "none".
const char* GpuRuntime();

// "cpu", "gpu", "hip" or "cuda".
const char* DeviceKindName(DeviceKind kind);

// Parses a --device value ("cpu", "gpu", "hip", "cuda", case-insensitive).
// Errors: kInvalidArgument naming the value and the accepted ones.
absl::StatusOr<DeviceKind> ParseDeviceKind(std::string_view name);

// What this build and machine offer for one kind.
struct DeviceCapabilities {
  DeviceKind kind = DeviceKind::kCpu;
  bool compiled = false;        // the build has kernels for this kind
  int device_count = 0;         // devices the runtime sees (1 for the CPU)
  std::string why_unavailable;  // empty when device_count > 0
};

// Capability detection; never fails (the reason lands in why_unavailable).
DeviceCapabilities Probe(DeviceKind kind);

struct DeviceOptions {
  DeviceKind kind = DeviceKind::kCpu;
  int index = 0;  // GPU ordinal; ignored for the CPU
};

// A selected, usable device.
class Device {
 public:
  // Errors: kFailedPrecondition when the build has no kernels for the kind,
  // the runtime finds no device, or index is out of range; the message
  // names the device and says why (e.g. "--device hip: no usable GPU: ...").
  static absl::StatusOr<std::unique_ptr<Device>> Create(
      const DeviceOptions& options);

  DeviceKind kind() const { return kind_; }
  int index() const { return index_; }
  // "cpu" or e.g. "cuda device 0 (NVIDIA H100 80GB HBM3, 79.1 GiB, 132
  // compute units)".
  const std::string& description() const { return description_; }

 private:
  Device(DeviceKind kind, int index, std::string description)
      : kind_(kind), index_(index), description_(std::move(description)) {}

  const DeviceKind kind_;
  const int index_;
  const std::string description_;
};

// ParseDeviceKind + Device::Create: what a main does with --device.
absl::StatusOr<std::unique_ptr<Device>> SelectDevice(std::string_view flag,
                                                     int index = 0);

}  // namespace triptych::device

#endif  // TRIPTYCH_RUNTIME_DEVICE_DEVICE_H_
