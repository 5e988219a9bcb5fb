#ifndef TRIPTYCH_KERNELS_HIP_GPU_BACKEND_H_
#define TRIPTYCH_KERNELS_HIP_GPU_BACKEND_H_

// GpuBackend: the MemoryBackend on a GPU. Quest scores, dense inner
// products and BM25 run as the kernels of this folder (HIP sources, built
// by hipcc for AMD or by nvcc for NVIDIA through gpu_compat.h), each with a
// block-level top-k whose candidates the host merges. BlockKeySummary runs on
// the host CPU (a block's keys are summarised where they are stored).
//
// Data moves per call (inputs up, scores and candidates down); keeping
// summary tables resident on the device is future work (docs/MEMORY_KERNELS.md).
//
// Thread safety: thread-safe; calls are serialised by an internal mutex.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "kernels/memory/memory_backend.h"

namespace triptych::kernels::hip {

struct GpuBackendOptions {
  int device_index = 0;
};

class GpuBackend final : public memory::MemoryBackend {
 public:
  // kFailedPrecondition when the build has no GPU kernels, the runtime finds
  // no device, or device_index is out of range (the message says which).
  static absl::StatusOr<std::unique_ptr<GpuBackend>> Create(
      const GpuBackendOptions& options);

  // Capability detection: "hip", "cuda" or "none", and the device count (0
  // with the runtime's reason in *why).
  static const char* RuntimeName();
  static int DeviceCount(std::string* why);

  memory::MemoryBackendKind kind() const override {
    return memory::MemoryBackendKind::kHip;
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
  GpuBackend(int device, std::string description);

  absl::Status RunQuest(const memory::QuestInput& in, int k,
                        absl::Span<float> scores,
                        std::vector<int32_t>* candidates);
  absl::Status RunBm25(const memory::Bm25Input& in, int k,
                       absl::Span<float> scores,
                       std::vector<int32_t>* candidates);

  const int device_;
  const std::string description_;
  absl::Mutex mu_;  // serialises device use
};

}  // namespace triptych::kernels::hip

#endif  // TRIPTYCH_KERNELS_HIP_GPU_BACKEND_H_
