// Stand-in for xrt_runner.cc when the build has no XRT (libxrt-dev not
// installed, or TRIPTYCH_WITH_XRT=OFF): the device path reports a clear
// error, the C simulation still works.

#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/fpga/kernel_runner.h"

namespace triptych::kernels::fpga {

bool BuiltWithXrt() { return false; }
int XrtDeviceCount() { return 0; }

absl::StatusOr<std::unique_ptr<KernelRunner>> MakeXrtRunner(
    const std::string& xclbin_path, int device_index) {
  return absl::FailedPreconditionError(absl::StrCat(
      "FPGA backend unavailable: this build has no XRT (install libxrt-dev "
      "and reconfigure with -DTRIPTYCH_WITH_XRT=ON); cannot open device ",
      device_index, " with '", xclbin_path, "'"));
}

}  // namespace triptych::kernels::fpga
