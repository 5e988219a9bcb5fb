#ifndef TRIPTYCH_KERNELS_MEMORY_CPU_BACKEND_H_
#define TRIPTYCH_KERNELS_MEMORY_CPU_BACKEND_H_

// The CPU MemoryBackend: validation + the CPU ops of memory_ops.h on the
// calling thread. Always available. Thread-safe (stateless apart from the
// ISA chosen at construction).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/memory/isa.h"
#include "kernels/memory/memory_backend.h"

namespace triptych::kernels::memory {

class CpuMemoryBackend final : public MemoryBackend {
 public:
  // kFailedPrecondition when `isa` is not available on this CPU.
  static absl::StatusOr<std::unique_ptr<CpuMemoryBackend>> Create(
      Isa isa = Isa::kAuto);

  MemoryBackendKind kind() const override { return MemoryBackendKind::kCpu; }
  std::string_view description() const override { return description_; }
  Isa isa() const { return isa_; }

  absl::Status QuestScores(const QuestInput& in,
                           absl::Span<float> scores) override;
  absl::StatusOr<std::vector<ScoredIndex>> QuestTopK(const QuestInput& in,
                                                     int k) override;
  absl::Status Bm25Scores(const Bm25Input& in,
                          absl::Span<float> scores) override;
  absl::StatusOr<std::vector<ScoredIndex>> Bm25TopK(const Bm25Input& in,
                                                    int k) override;
  absl::StatusOr<std::vector<ScoredIndex>> DenseTopK(const DenseInput& in,
                                                     int k) override;
  absl::Status BlockKeySummary(const KeyBlockInput& in, absl::Span<float> mins,
                               absl::Span<float> maxs) override;

 private:
  explicit CpuMemoryBackend(Isa isa);

  const Isa isa_;
  const std::string description_;
};

// Elements of one block's summary: num_layers * num_kv_heads * head_dim.
int64_t KeySummarySize(const KvBlockShape& shape);

}  // namespace triptych::kernels::memory

#endif  // TRIPTYCH_KERNELS_MEMORY_CPU_BACKEND_H_
