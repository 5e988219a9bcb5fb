#include "kernels/fpga/fpga_backend.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/fpga/kernel_limits.h"
#include "kernels/memory/memory_ops.h"

namespace triptych::kernels::fpga {

using memory::ScoredIndex;

absl::StatusOr<std::unique_ptr<FpgaBackend>> FpgaBackend::Create(
    const FpgaBackendOptions& options) {
  std::error_code ec;
  if (options.xclbin_path.empty() ||
      !std::filesystem::is_regular_file(options.xclbin_path, ec) ||
      !std::ifstream(options.xclbin_path).good()) {
    return absl::NotFoundError(absl::StrCat(
        "FPGA xclbin not found or unreadable: '", options.xclbin_path,
        "' (build it with v++, see docs/FPGA.md)"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<KernelRunner> runner,
                   MakeXrtRunner(options.xclbin_path, options.device_index));
  return std::unique_ptr<FpgaBackend>(new FpgaBackend(std::move(runner)));
}

std::unique_ptr<FpgaBackend> FpgaBackend::CreateCsim() {
  return std::unique_ptr<FpgaBackend>(new FpgaBackend(MakeCsimRunner()));
}

bool FpgaBackend::BuiltWithXrt() { return fpga::BuiltWithXrt(); }
int FpgaBackend::DeviceCount() { return XrtDeviceCount(); }

FpgaBackend::FpgaBackend(std::unique_ptr<KernelRunner> runner)
    : description_(runner->description()), runner_(std::move(runner)) {}

absl::Status FpgaBackend::RunQuest(const memory::QuestInput& in, int k,
                                   absl::Span<float> scores,
                                   std::vector<ScoredIndex>* top) {
  RETURN_IF_ERROR(memory::ValidateQuestInput(in));
  if (in.head_dim > kMaxHeadDim || in.num_heads > kMaxHeads) {
    return absl::InvalidArgumentError(absl::StrCat(
        "fpga quest kernel supports head_dim <= ", kMaxHeadDim, " and <= ",
        kMaxHeads, " query heads per group; got ", in.head_dim, " and ",
        in.num_heads));
  }
  if (static_cast<int64_t>(scores.size()) != in.num_blocks()) {
    return absl::InvalidArgumentError("quest: scores size != num_blocks");
  }
  const int num_blocks = static_cast<int>(in.num_blocks());
  const int kernel_k = (k > 0 && k <= kMaxTopK) ? std::min(k, num_blocks) : 0;
  std::vector<int32_t> index(kernel_k);
  std::vector<float> score(kernel_k);
  QuestKernelArgs args;
  args.query = in.query.data();
  args.mins = in.mins.data();
  args.maxs = in.maxs.data();
  args.scores = scores.data();
  args.topk_index = index.data();
  args.topk_score = score.data();
  args.num_heads = in.num_heads;
  args.head_dim = in.head_dim;
  args.num_blocks = num_blocks;
  args.k = kernel_k;
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(runner_->RunQuest(args));
  }
  if (top != nullptr) {
    top->clear();
    for (int i = 0; i < kernel_k; ++i) top->push_back({index[i], score[i]});
  }
  return absl::OkStatus();
}

absl::Status FpgaBackend::QuestScores(const memory::QuestInput& in,
                                      absl::Span<float> scores) {
  return RunQuest(in, 0, scores, nullptr);
}

absl::StatusOr<std::vector<ScoredIndex>> FpgaBackend::QuestTopK(
    const memory::QuestInput& in, int k) {
  std::vector<float> scores(std::max<int64_t>(in.num_blocks(), 0));
  std::vector<ScoredIndex> top;
  RETURN_IF_ERROR(RunQuest(in, k, absl::MakeSpan(scores), &top));
  if (k > kMaxTopK) return memory::TopK(scores, k);  // beyond the slots
  return top;
}

absl::Status FpgaBackend::RunBm25(const memory::Bm25Input& in, int k,
                                  absl::Span<float> scores,
                                  std::vector<ScoredIndex>* top) {
  RETURN_IF_ERROR(memory::ValidateBm25Input(in));
  const int num_terms = in.postings.num_terms();
  if (num_terms > kMaxTerms) {
    return absl::InvalidArgumentError(
        absl::StrCat("fpga bm25 kernel supports <= ", kMaxTerms,
                     " query terms per call; got ", num_terms));
  }
  if (scores.size() != in.doc_lengths.size()) {
    return absl::InvalidArgumentError("bm25: scores size != number of docs");
  }
  const int num_docs = static_cast<int>(in.doc_lengths.size());
  // idf on the host with the reference function, as the CPU path does.
  std::vector<float> idf(num_terms);
  for (int t = 0; t < num_terms; ++t) {
    idf[t] = memory::Bm25Idf(num_docs, in.postings.term_offsets[t + 1] -
                                           in.postings.term_offsets[t]);
  }
  const int kernel_k = (k > 0 && k <= kMaxTopK) ? std::min(k, num_docs) : 0;
  std::vector<int32_t> index(kernel_k);
  std::vector<float> score(kernel_k);
  // An empty query still needs a valid offsets array for the kernel.
  const int64_t zero_offset = 0;
  Bm25KernelArgs args;
  args.term_offsets =
      num_terms > 0 ? in.postings.term_offsets.data() : &zero_offset;
  args.doc_ids = in.postings.doc_ids.data();
  args.term_freqs = in.postings.term_freqs.data();
  args.idf = idf.data();
  args.doc_lengths = in.doc_lengths.data();
  args.scores = scores.data();
  args.topk_index = index.data();
  args.topk_score = score.data();
  args.num_terms = num_terms;
  args.num_docs = num_docs;
  args.num_postings = static_cast<int64_t>(in.postings.doc_ids.size());
  args.avg_doc_length = in.avg_doc_length;
  args.k1 = in.params.k1;
  args.b = in.params.b;
  args.k = kernel_k;
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(runner_->RunBm25(args));
  }
  if (top != nullptr) {
    top->clear();
    for (int i = 0; i < kernel_k; ++i) top->push_back({index[i], score[i]});
  }
  return absl::OkStatus();
}

absl::Status FpgaBackend::Bm25Scores(const memory::Bm25Input& in,
                                     absl::Span<float> scores) {
  return RunBm25(in, 0, scores, nullptr);
}

absl::StatusOr<std::vector<ScoredIndex>> FpgaBackend::Bm25TopK(
    const memory::Bm25Input& in, int k) {
  std::vector<float> scores(in.doc_lengths.size());
  std::vector<ScoredIndex> top;
  RETURN_IF_ERROR(RunBm25(in, k, absl::MakeSpan(scores), &top));
  if (k > kMaxTopK) return memory::TopK(scores, k);
  return top;
}

absl::StatusOr<std::vector<ScoredIndex>> FpgaBackend::DenseTopK(
    const memory::DenseInput& in, int k) {
  // No FPGA kernel: dense scans are bandwidth-bound streams the host does
  // well; see docs/MEMORY_KERNELS.md.
  RETURN_IF_ERROR(memory::ValidateDenseInput(in));
  return memory::DenseTopK(in.query.data(), in.docs.data(), in.num_docs(),
                           in.dim, k);
}

absl::Status FpgaBackend::BlockKeySummary(const memory::KeyBlockInput& in,
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

}  // namespace triptych::kernels::fpga
