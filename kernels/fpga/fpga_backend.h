#ifndef TRIPTYCH_KERNELS_FPGA_FPGA_BACKEND_H_
#define TRIPTYCH_KERNELS_FPGA_FPGA_BACKEND_H_

// FpgaBackend: the MemoryBackend that runs relevancy scoring + top-k
// (quest_score_topk) and BM25 + top-k (bm25_score_topk) as FPGA kernels,
// either on a device through XRT (Create) or as their C simulation on this
// CPU (CreateCsim). Both go through the same host code (argument packing,
// limits, top-k fallback), so the C-simulation tests cover it.
//
// Ops without an FPGA kernel (DenseTopK, BlockKeySummary) run on the host
// CPU with the reference ops; so do top-k requests with k > kMaxTopK (the
// kernel still computes the scores). Kernel limits (kernel_limits.h):
// head_dim <= 256 and <= 16 query heads per group for Quest, <= 64 query
// terms and < 2^31 docs for BM25; larger requests get kInvalidArgument.
//
// Thread safety: all methods are thread-safe; device runs are serialised by
// an internal mutex (one compute unit per kernel).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "kernels/fpga/kernel_runner.h"
#include "kernels/memory/memory_backend.h"

namespace triptych::kernels::fpga {

struct FpgaBackendOptions {
  // The xclbin built from this folder's kernels (docs/FPGA.md).
  std::string xclbin_path;
  // XRT device index (as `xbutil examine` lists them).
  int device_index = 0;
};

class FpgaBackend final : public memory::MemoryBackend {
 public:
  // Opens the device and loads the xclbin. Errors: kNotFound when
  // xclbin_path does not name a readable file; kFailedPrecondition when the
  // build has no XRT or there is no FPGA device at device_index;
  // kInvalidArgument when the file is not a loadable xclbin or lacks the
  // kernels.
  static absl::StatusOr<std::unique_ptr<FpgaBackend>> Create(
      const FpgaBackendOptions& options);
  // The kernels' C simulation on this CPU (no device needed).
  static std::unique_ptr<FpgaBackend> CreateCsim();

  // Capability detection for the backend selector.
  static bool BuiltWithXrt();
  static int DeviceCount();

  memory::MemoryBackendKind kind() const override {
    return memory::MemoryBackendKind::kFpga;
  }
  std::string_view description() const override { return description_; }

  absl::Status QuestScores(const memory::QuestInput& in,
                           absl::Span<float> scores) override;
  absl::StatusOr<std::vector<memory::ScoredIndex>> QuestTopK(
      const memory::QuestInput& in, int k) override;
  absl::Status Bm25Scores(const memory::Bm25Input& in,
                          absl::Span<float> scores) override;
  absl::StatusOr<std::vector<memory::ScoredIndex>> Bm25TopK(
      const memory::Bm25Input& in, int k) override;
  absl::StatusOr<std::vector<memory::ScoredIndex>> DenseTopK(
      const memory::DenseInput& in, int k) override;
  absl::Status BlockKeySummary(const memory::KeyBlockInput& in,
                               absl::Span<float> mins,
                               absl::Span<float> maxs) override;

 private:
  explicit FpgaBackend(std::unique_ptr<KernelRunner> runner);

  // Scores into `scores` and, for 0 < k <= kMaxTopK, the kernel's top-k
  // into `top` (else `top` is left empty).
  absl::Status RunQuest(const memory::QuestInput& in, int k,
                        absl::Span<float> scores,
                        std::vector<memory::ScoredIndex>* top);
  absl::Status RunBm25(const memory::Bm25Input& in, int k,
                       absl::Span<float> scores,
                       std::vector<memory::ScoredIndex>* top);

  const std::string description_;
  absl::Mutex mu_;
  const std::unique_ptr<KernelRunner> runner_ ABSL_PT_GUARDED_BY(mu_);
};

}  // namespace triptych::kernels::fpga

#endif  // TRIPTYCH_KERNELS_FPGA_FPGA_BACKEND_H_
