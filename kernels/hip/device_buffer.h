#ifndef TRIPTYCH_KERNELS_HIP_DEVICE_BUFFER_H_
#define TRIPTYCH_KERNELS_HIP_DEVICE_BUFFER_H_

// RAII device allocation + the error plumbing shared by the .hip files.
// Included only by hipcc / nvcc translation units.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/hip/gpu_compat.h"

namespace triptych::kernels::hip {

inline std::string ErrorText(hipError_t e, const char* what) {
  return std::string(what) + ": " + hipGetErrorString(e);
}

// Owns `bytes` of device memory (at least one byte, so empty inputs still
// get a valid pointer). Check error() after construction.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
    status_ = hipMalloc(&ptr_, bytes > 0 ? bytes : 1);
    if (status_ != hipSuccess) ptr_ = nullptr;
  }
  ~DeviceBuffer() {
    if (ptr_ != nullptr) (void)hipFree(ptr_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  std::string error() const {
    return status_ == hipSuccess ? std::string() : ErrorText(status_, "hipMalloc");
  }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  std::string Upload(const void* src) {
    if (bytes_ == 0) return {};
    const hipError_t e = hipMemcpy(ptr_, src, bytes_, hipMemcpyHostToDevice);
    return e == hipSuccess ? std::string() : ErrorText(e, "upload");
  }
  std::string Download(void* dst, size_t bytes) const {
    if (bytes == 0) return {};
    const hipError_t e = hipMemcpy(dst, ptr_, bytes, hipMemcpyDeviceToHost);
    return e == hipSuccess ? std::string() : ErrorText(e, "download");
  }

 private:
  void* ptr_ = nullptr;
  size_t bytes_;
  hipError_t status_;
};

inline std::string LaunchError(const char* kernel) {
  const hipError_t e = hipGetLastError();
  return e == hipSuccess ? std::string() : ErrorText(e, kernel);
}

// Runs the block top-k over `n` device scores (topk.hip) and copies the
// candidates to the host. k == 0 clears `candidates`.
std::string BlockTopKCandidates(const float* d_scores, int64_t n, int k,
                                std::vector<int32_t>* candidates);

}  // namespace triptych::kernels::hip

#endif  // TRIPTYCH_KERNELS_HIP_DEVICE_BUFFER_H_
