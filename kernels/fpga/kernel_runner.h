#ifndef TRIPTYCH_KERNELS_FPGA_KERNEL_RUNNER_H_
#define TRIPTYCH_KERNELS_FPGA_KERNEL_RUNNER_H_

// Internal to FpgaBackend: runs one FPGA kernel invocation on host buffers.
// Two implementations: the C simulation (calls the HLS C++ functions
// directly) and XRT (moves the buffers to device memory, starts the compute
// unit, moves the outputs back). The backend packs arguments identically for
// both, so the C-simulation tests exercise the host path the device uses.
// Not thread-safe; FpgaBackend serialises calls.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace triptych::kernels::fpga {

// quest_score_topk's arguments (quest_score_kernel.h) on host memory.
struct QuestKernelArgs {
  const float* query = nullptr;  // [num_heads][head_dim]
  const float* mins = nullptr;   // [num_blocks][head_dim]
  const float* maxs = nullptr;
  float* scores = nullptr;        // [num_blocks]
  int32_t* topk_index = nullptr;  // [k]
  float* topk_score = nullptr;    // [k]
  int num_heads = 0, head_dim = 0, num_blocks = 0, k = 0;
};

// bm25_score_topk's arguments (bm25_kernel.h) on host memory.
struct Bm25KernelArgs {
  const int64_t* term_offsets = nullptr;  // [num_terms + 1]
  const int32_t* doc_ids = nullptr;       // [num_postings]
  const uint32_t* term_freqs = nullptr;   // [num_postings]
  const float* idf = nullptr;             // [num_terms]
  const int32_t* doc_lengths = nullptr;   // [num_docs]
  float* scores = nullptr;                // [num_docs]
  int32_t* topk_index = nullptr;          // [k]
  float* topk_score = nullptr;            // [k]
  int num_terms = 0, num_docs = 0;
  int64_t num_postings = 0;
  float avg_doc_length = 0, k1 = 0, b = 0;
  int k = 0;
};

class KernelRunner {
 public:
  virtual ~KernelRunner() = default;
  virtual std::string description() const = 0;
  // kInternal when the device run fails.
  virtual absl::Status RunQuest(const QuestKernelArgs& args) = 0;
  virtual absl::Status RunBm25(const Bm25KernelArgs& args) = 0;
};

std::unique_ptr<KernelRunner> MakeCsimRunner();

// Opens XRT device `device_index`, loads the xclbin and finds both kernels.
// kFailedPrecondition: no such device, or built without XRT.
// kInvalidArgument: the file is not a loadable xclbin or lacks a kernel.
// (The caller has checked that the file exists.)
absl::StatusOr<std::unique_ptr<KernelRunner>> MakeXrtRunner(
    const std::string& xclbin_path, int device_index);

// Devices XRT sees (0 when built without XRT).
int XrtDeviceCount();
bool BuiltWithXrt();

}  // namespace triptych::kernels::fpga

#endif  // TRIPTYCH_KERNELS_FPGA_KERNEL_RUNNER_H_
