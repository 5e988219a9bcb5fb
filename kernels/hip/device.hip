// Device discovery for the GPU backend.

#include <string>

#include "kernels/hip/device_buffer.h"
#include "kernels/hip/gpu_ops.h"

namespace triptych::kernels::hip {

const char* GpuRuntimeName() { return TRIPTYCH_GPU_RUNTIME; }

int GpuDeviceCount(std::string* error) {
  int count = 0;
  const hipError_t e = hipGetDeviceCount(&count);
  if (e != hipSuccess) {
    *error = ErrorText(e, "GPU device count");
    return 0;
  }
  if (count == 0) *error = "no GPU device found";
  return count;
}

std::string GpuSetDevice(int device) {
  const hipError_t e = hipSetDevice(device);
  return e == hipSuccess ? std::string() : ErrorText(e, "hipSetDevice");
}

}  // namespace triptych::kernels::hip
