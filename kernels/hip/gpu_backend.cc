#include "kernels/hip/gpu_backend.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/hip/gpu_ops.h"
#include "kernels/memory/memory_ops.h"

namespace triptych::kernels::hip {
namespace {

using memory::ScoredIndex;

absl::Status FromGpu(const std::string& error, const char* op) {
  if (error.empty()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("gpu ", op, ": ", error));
}

// The k best among the chunk candidates (or all scores when k exceeds what
// the device kernel keeps per chunk).
std::vector<ScoredIndex> Merge(absl::Span<const float> scores,
                               const std::vector<int32_t>& candidates, int k) {
  if (k > kGpuMaxTopK) return memory::TopK(scores, k);
  std::vector<ScoredIndex> c;
  c.reserve(candidates.size());
  for (int32_t i : candidates) {
    if (i >= 0) c.push_back({i, scores[i]});
  }
  const size_t keep = std::min<size_t>(std::max(k, 0), c.size());
  std::partial_sort(c.begin(), c.begin() + keep, c.end(),
                    [](const ScoredIndex& a, const ScoredIndex& b) {
                      return memory::RanksBefore(a.score, a.index, b.score,
                                                 b.index);
                    });
  c.resize(keep);
  return c;
}

int DeviceK(int k) { return std::clamp(k, 0, kGpuMaxTopK); }

}  // namespace

const char* GpuBackend::RuntimeName() { return GpuRuntimeName(); }

int GpuBackend::DeviceCount(std::string* why) { return GpuDeviceCount(why); }

absl::StatusOr<std::unique_ptr<GpuBackend>> GpuBackend::Create(
    const GpuBackendOptions& options) {
  std::string why;
  const int count = GpuDeviceCount(&why);
  if (count == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "hip memory backend: no GPU available (runtime ", GpuRuntimeName(),
        "): ", why));
  }
  if (options.device_index < 0 || options.device_index >= count) {
    return absl::FailedPreconditionError(
        absl::StrCat("hip memory backend: device index ", options.device_index,
                     " out of range; ", count, " device(s) present"));
  }
  if (std::string e = GpuSetDevice(options.device_index); !e.empty()) {
    return absl::FailedPreconditionError(e);
  }
  return std::unique_ptr<GpuBackend>(new GpuBackend(
      options.device_index, absl::StrCat("hip (", GpuRuntimeName(),
                                         " device ", options.device_index,
                                         ")")));
}

GpuBackend::GpuBackend(int device, std::string description)
    : device_(device), description_(std::move(description)) {}

absl::Status GpuBackend::RunQuest(const memory::QuestInput& in, int k,
                                  absl::Span<float> scores,
                                  std::vector<int32_t>* candidates) {
  RETURN_IF_ERROR(memory::ValidateQuestInput(in));
  if (static_cast<int64_t>(scores.size()) != in.num_blocks()) {
    return absl::InvalidArgumentError("quest: scores size != num_blocks");
  }
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(FromGpu(GpuSetDevice(device_), "set device"));
  return FromGpu(
      GpuQuestScores(in.query.data(), in.num_heads, in.head_dim,
                     in.mins.data(), in.maxs.data(), in.num_blocks(), k,
                     scores.data(), candidates),
      "quest scores");
}

absl::Status GpuBackend::QuestScores(const memory::QuestInput& in,
                                     absl::Span<float> scores) {
  std::vector<int32_t> unused;
  return RunQuest(in, 0, scores, &unused);
}

absl::StatusOr<std::vector<ScoredIndex>> GpuBackend::QuestTopK(
    const memory::QuestInput& in, int k) {
  std::vector<float> scores(std::max<int64_t>(in.num_blocks(), 0));
  std::vector<int32_t> candidates;
  RETURN_IF_ERROR(RunQuest(in, DeviceK(k), absl::MakeSpan(scores), &candidates));
  return Merge(scores, candidates, k);
}

absl::Status GpuBackend::RunBm25(const memory::Bm25Input& in, int k,
                                 absl::Span<float> scores,
                                 std::vector<int32_t>* candidates) {
  RETURN_IF_ERROR(memory::ValidateBm25Input(in));
  if (scores.size() != in.doc_lengths.size()) {
    return absl::InvalidArgumentError("bm25: scores size != number of docs");
  }
  const int num_terms = in.postings.num_terms();
  const int64_t num_docs = static_cast<int64_t>(in.doc_lengths.size());
  std::vector<float> idf(num_terms);
  for (int t = 0; t < num_terms; ++t) {
    idf[t] = memory::Bm25Idf(num_docs, in.postings.term_offsets[t + 1] -
                                           in.postings.term_offsets[t]);
  }
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(FromGpu(GpuSetDevice(device_), "set device"));
  return FromGpu(
      GpuBm25Scores(in.postings.term_offsets.data(), num_terms,
                    in.postings.doc_ids.data(), in.postings.term_freqs.data(),
                    static_cast<int64_t>(in.postings.doc_ids.size()),
                    idf.data(), in.doc_lengths.data(), num_docs,
                    in.avg_doc_length, in.params.k1, in.params.b, k,
                    scores.data(), candidates),
      "bm25 scores");
}

absl::Status GpuBackend::Bm25Scores(const memory::Bm25Input& in,
                                    absl::Span<float> scores) {
  std::vector<int32_t> unused;
  return RunBm25(in, 0, scores, &unused);
}

absl::StatusOr<std::vector<ScoredIndex>> GpuBackend::Bm25TopK(
    const memory::Bm25Input& in, int k) {
  std::vector<float> scores(in.doc_lengths.size());
  std::vector<int32_t> candidates;
  RETURN_IF_ERROR(RunBm25(in, DeviceK(k), absl::MakeSpan(scores), &candidates));
  return Merge(scores, candidates, k);
}

absl::StatusOr<std::vector<ScoredIndex>> GpuBackend::DenseTopK(
    const memory::DenseInput& in, int k) {
  RETURN_IF_ERROR(memory::ValidateDenseInput(in));
  std::vector<float> scores(in.num_docs());
  std::vector<int32_t> candidates;
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(FromGpu(GpuSetDevice(device_), "set device"));
    RETURN_IF_ERROR(FromGpu(
        GpuDenseScores(in.query.data(), in.docs.data(), in.num_docs(), in.dim,
                       DeviceK(k), scores.data(), &candidates),
        "dense scores"));
  }
  return Merge(scores, candidates, k);
}

absl::Status GpuBackend::BlockKeySummary(const memory::KeyBlockInput& in,
                                         absl::Span<float> mins,
                                         absl::Span<float> maxs) {
  RETURN_IF_ERROR(memory::ValidateKeyBlockInput(in));
  const int64_t n = int64_t{in.shape.num_layers} * in.shape.num_kv_heads *
                    in.shape.head_dim;
  if (static_cast<int64_t>(mins.size()) != n ||
      static_cast<int64_t>(maxs.size()) != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("key summary: mins/maxs must hold ", n, " floats each"));
  }
  memory::BlockKeySummary(in.shape, in.block.data(), in.num_tokens,
                          mins.data(), maxs.data());
  return absl::OkStatus();
}

}  // namespace triptych::kernels::hip
