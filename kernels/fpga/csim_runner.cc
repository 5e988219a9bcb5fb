// C-simulation KernelRunner: the HLS kernels called as plain C++ on the host
// buffers (what Vitis' csim does).

#include <memory>
#include <string>

#include "kernels/fpga/bm25_kernel.h"
#include "kernels/fpga/kernel_runner.h"
#include "kernels/fpga/quest_score_kernel.h"

namespace triptych::kernels::fpga {
namespace {

class CsimRunner final : public KernelRunner {
 public:
  std::string description() const override { return "fpga (C simulation)"; }

  absl::Status RunQuest(const QuestKernelArgs& a) override {
    quest_score_topk(a.query, a.mins, a.maxs, a.scores, a.topk_index,
                     a.topk_score, a.num_heads, a.head_dim, a.num_blocks, a.k);
    return absl::OkStatus();
  }

  absl::Status RunBm25(const Bm25KernelArgs& a) override {
    bm25_score_topk(a.term_offsets, a.doc_ids, a.term_freqs, a.idf,
                    a.doc_lengths, a.scores, a.topk_index, a.topk_score,
                    a.num_terms, a.num_docs, a.avg_doc_length, a.k1, a.b, a.k);
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<KernelRunner> MakeCsimRunner() {
  return std::make_unique<CsimRunner>();
}

}  // namespace triptych::kernels::fpga
