#ifndef TRIPTYCH_KERNELS_MEMORY_BACKENDS_MEMORY_BACKENDS_H_
#define TRIPTYCH_KERNELS_MEMORY_BACKENDS_MEMORY_BACKENDS_H_

// The memory backend selector behind the memory node's
// `--memory-backend cpu|fpga|hip` flag: capability detection and
// construction of the chosen MemoryBackend (kernels/memory/memory_backend.h),
// with a clear error when the asked-for device is missing. No fallback: a
// node told to use the FPGA must not silently run on the CPU.
//
// Thread-safe (stateless).

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kernels/memory/isa.h"
#include "kernels/memory/memory_backend.h"

namespace triptych::kernels::memory_backends {

struct MemoryBackendOptions {
  // cpu: the instruction set (kAuto: the best this CPU has).
  memory::Isa cpu_isa = memory::Isa::kAuto;
  // fpga: the xclbin with quest_score_topk and bm25_score_topk, and the XRT
  // device index. fpga_csim runs the kernels' C simulation on the CPU
  // instead of a device (testing and demos; slow).
  std::string fpga_xclbin_path;
  int fpga_device_index = 0;
  bool fpga_csim = false;
  // hip: the GPU index.
  int gpu_device_index = 0;
};

// What this build and machine can run.
struct BackendCapabilities {
  std::string cpu_isa;        // best ISA, e.g. "avx512"
  bool fpga_xrt_built = false;
  int fpga_devices = 0;
  std::string gpu_runtime;    // "hip", "cuda" or "none"
  int gpu_devices = 0;
  std::string gpu_why;        // why gpu_devices is 0
};

BackendCapabilities DetectCapabilities();
// One line for logs and `--help`-style diagnostics.
std::string DescribeCapabilities(const BackendCapabilities& caps);

// Creates the backend of `kind`. Errors: kFailedPrecondition when the device
// (or the build support for it) is missing, kNotFound when the FPGA xclbin
// does not exist, kInvalidArgument for a bad xclbin; the message names the
// backend and what to do.
absl::StatusOr<std::unique_ptr<memory::MemoryBackend>> CreateMemoryBackend(
    memory::MemoryBackendKind kind, const MemoryBackendOptions& options);

}  // namespace triptych::kernels::memory_backends

#endif  // TRIPTYCH_KERNELS_MEMORY_BACKENDS_MEMORY_BACKENDS_H_
