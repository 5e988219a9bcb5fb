#include "kernels/memory/cpu_backend.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/memory/memory_ops.h"

namespace triptych::kernels::memory {

int64_t KeySummarySize(const KvBlockShape& shape) {
  return int64_t{shape.num_layers} * shape.num_kv_heads * shape.head_dim;
}

absl::StatusOr<std::unique_ptr<CpuMemoryBackend>> CpuMemoryBackend::Create(
    Isa isa) {
  if (isa == Isa::kAuto) isa = BestIsa();
  if (!IsaAvailable(isa)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cpu memory backend: ISA ", IsaName(isa),
                     " is not available on this CPU"));
  }
  return std::unique_ptr<CpuMemoryBackend>(new CpuMemoryBackend(isa));
}

CpuMemoryBackend::CpuMemoryBackend(Isa isa)
    : isa_(isa), description_(absl::StrCat("cpu (", IsaName(isa), ")")) {}

absl::Status CpuMemoryBackend::QuestScores(const QuestInput& in,
                                           absl::Span<float> scores) {
  RETURN_IF_ERROR(ValidateQuestInput(in));
  if (static_cast<int64_t>(scores.size()) != in.num_blocks()) {
    return absl::InvalidArgumentError("quest: scores size != num_blocks");
  }
  memory::QuestScores(in.query.data(), in.num_heads, in.head_dim,
                      in.mins.data(), in.maxs.data(), in.num_blocks(),
                      scores.data(), isa_);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ScoredIndex>> CpuMemoryBackend::QuestTopK(
    const QuestInput& in, int k) {
  std::vector<float> scores(in.num_blocks() > 0 ? in.num_blocks() : 0);
  RETURN_IF_ERROR(QuestScores(in, absl::MakeSpan(scores)));
  return TopK(scores, k);
}

absl::Status CpuMemoryBackend::Bm25Scores(const Bm25Input& in,
                                          absl::Span<float> scores) {
  RETURN_IF_ERROR(ValidateBm25Input(in));
  if (scores.size() != in.doc_lengths.size()) {
    return absl::InvalidArgumentError("bm25: scores size != number of docs");
  }
  memory::Bm25Scores(in.postings, in.doc_lengths, in.avg_doc_length, scores,
                     in.params);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ScoredIndex>> CpuMemoryBackend::Bm25TopK(
    const Bm25Input& in, int k) {
  std::vector<float> scores(in.doc_lengths.size());
  RETURN_IF_ERROR(Bm25Scores(in, absl::MakeSpan(scores)));
  return TopK(scores, k);
}

absl::StatusOr<std::vector<ScoredIndex>> CpuMemoryBackend::DenseTopK(
    const DenseInput& in, int k) {
  RETURN_IF_ERROR(ValidateDenseInput(in));
  return memory::DenseTopK(in.query.data(), in.docs.data(), in.num_docs(),
                           in.dim, k, isa_);
}

absl::Status CpuMemoryBackend::BlockKeySummary(const KeyBlockInput& in,
                                               absl::Span<float> mins,
                                               absl::Span<float> maxs) {
  RETURN_IF_ERROR(ValidateKeyBlockInput(in));
  const int64_t n = KeySummarySize(in.shape);
  if (static_cast<int64_t>(mins.size()) != n ||
      static_cast<int64_t>(maxs.size()) != n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key summary: mins/maxs must hold ", n, " floats each"));
  }
  memory::BlockKeySummary(in.shape, in.block.data(), in.num_tokens,
                          mins.data(), maxs.data(), isa_);
  return absl::OkStatus();
}

}  // namespace triptych::kernels::memory
