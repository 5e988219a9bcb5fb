#ifndef TRIPTYCH_KERNELS_MEMORY_MEMORY_BACKEND_H_
#define TRIPTYCH_KERNELS_MEMORY_MEMORY_BACKEND_H_

// MemoryBackend: the device seam of the memory node's memory-bound steps
// (Prepare Memory, Compute Relevancy, Retrieval). Three implementations:
//   cpu   CpuMemoryBackend (cpu_backend.h): the reference, always available;
//   fpga  FpgaBackend (kernels/fpga/fpga_backend.h): XRT host code driving
//         the HLS kernels, or their C simulation on the CPU;
//   hip   GpuBackend (kernels/hip/gpu_backend.h): HIP kernels (or the same
//         sources built with nvcc).
// kernels/memory_backends/ picks one at run time (CreateMemoryBackend).
//
// Every op validates its input and returns kInvalidArgument for malformed
// input (sizes, out-of-range doc ids, unsorted postings); device failures are
// kInternal (kUnavailable when the device was lost). Results are defined by
// the CPU reference ops (memory_ops.h); the FPGA C simulation matches them bit
// for bit and the GPU kernels follow the same arithmetic order.
//
// Budget selection (SelectBlocksWithinBudget, top_k.h) is a cheap host step
// over the scores and is not a backend op.
//
// Thread safety: implementations say; the CPU backend is thread-safe, the
// device backends serialise calls internally.

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kernels/memory/bm25.h"
#include "kernels/memory/quest.h"
#include "kernels/memory/top_k.h"

namespace triptych::kernels::memory {

enum class MemoryBackendKind { kCpu, kFpga, kHip };

// "cpu", "fpga", "hip".
std::string_view MemoryBackendKindName(MemoryBackendKind kind);
// Parses the --memory-backend flag value; kInvalidArgument otherwise.
absl::StatusOr<MemoryBackendKind> ParseMemoryBackendKind(std::string_view name);

// Quest scoring of one KV head group (views; the caller owns the memory).
struct QuestInput {
  absl::Span<const float> query;  // [num_heads][head_dim]
  int num_heads = 1;
  int head_dim = 0;
  absl::Span<const float> mins;  // [num_blocks][head_dim]
  absl::Span<const float> maxs;  // [num_blocks][head_dim]
  int64_t num_blocks() const {
    return head_dim > 0 ? static_cast<int64_t>(mins.size()) / head_dim : 0;
  }
};

// BM25 over a collection whose document lengths are given (N = size).
struct Bm25Input {
  Bm25Postings postings;
  absl::Span<const int32_t> doc_lengths;
  float avg_doc_length = 0.0f;
  Bm25Params params;
};

// Dense inner-product search over [num_docs][dim] float embeddings.
struct DenseInput {
  absl::Span<const float> query;  // [dim]
  absl::Span<const float> docs;   // [num_docs][dim]
  int dim = 0;
  int64_t num_docs() const {
    return dim > 0 ? static_cast<int64_t>(docs.size()) / dim : 0;
  }
};

// One stored KV block to summarise (Prepare Memory).
struct KeyBlockInput {
  KvBlockShape shape;
  absl::Span<const uint8_t> block;  // KvBlockBytes(shape) bytes
  int num_tokens = 0;               // filled slots, 1..block_tokens
};

// Validation shared by every backend (kInvalidArgument with the reason).
absl::Status ValidateQuestInput(const QuestInput& in);
absl::Status ValidateBm25Input(const Bm25Input& in);
absl::Status ValidateDenseInput(const DenseInput& in);
absl::Status ValidateKeyBlockInput(const KeyBlockInput& in);

class MemoryBackend {
 public:
  virtual ~MemoryBackend() = default;

  virtual MemoryBackendKind kind() const = 0;
  // Human-readable description ("cpu (avx512)", "fpga (xclbin ...)", ...).
  virtual std::string_view description() const = 0;

  // scores.size() must equal in.num_blocks().
  virtual absl::Status QuestScores(const QuestInput& in,
                                   absl::Span<float> scores) = 0;
  // The k best blocks in rank order (top_k.h); k > num_blocks returns all.
  virtual absl::StatusOr<std::vector<ScoredIndex>> QuestTopK(
      const QuestInput& in, int k) = 0;
  // scores.size() must equal in.doc_lengths.size().
  virtual absl::Status Bm25Scores(const Bm25Input& in,
                                  absl::Span<float> scores) = 0;
  virtual absl::StatusOr<std::vector<ScoredIndex>> Bm25TopK(
      const Bm25Input& in, int k) = 0;
  virtual absl::StatusOr<std::vector<ScoredIndex>> DenseTopK(
      const DenseInput& in, int k) = 0;
  // mins, maxs: [num_layers][num_kv_heads][head_dim] each.
  virtual absl::Status BlockKeySummary(const KeyBlockInput& in,
                                       absl::Span<float> mins,
                                       absl::Span<float> maxs) = 0;
};

}  // namespace triptych::kernels::memory

#endif  // TRIPTYCH_KERNELS_MEMORY_MEMORY_BACKEND_H_
