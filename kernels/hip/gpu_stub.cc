// Stand-in for the .hip files when neither hipcc nor nvcc is installed: the
// GPU backend reports that it was built without a GPU compiler.

#include <string>
#include <vector>

#include "kernels/hip/gpu_ops.h"

namespace triptych::kernels::hip {
namespace {
const char kNoGpu[] =
    "this build has no GPU kernels (neither hipcc nor nvcc was found at "
    "configure time)";
}  // namespace

const char* GpuRuntimeName() { return "none"; }
int GpuDeviceCount(std::string* error) {
  *error = kNoGpu;
  return 0;
}
std::string GpuSetDevice(int) { return kNoGpu; }
std::string GpuQuestScores(const float*, int, int, const float*, const float*,
                           int64_t, int, float*, std::vector<int32_t>*) {
  return kNoGpu;
}
std::string GpuDenseScores(const float*, const float*, int64_t, int, int,
                           float*, std::vector<int32_t>*) {
  return kNoGpu;
}
std::string GpuBm25Scores(const int64_t*, int, const int32_t*, const uint32_t*,
                          int64_t, const float*, const int32_t*, int64_t,
                          float, float, float, int, float*,
                          std::vector<int32_t>*) {
  return kNoGpu;
}

}  // namespace triptych::kernels::hip
