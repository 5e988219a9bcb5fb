#ifndef TRIPTYCH_RUNTIME_MODEL_MODEL_H_
#define TRIPTYCH_RUNTIME_MODEL_MODEL_H_

// Llama-family decoder forward pass on CPU over a paged KV cache.

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/thread_pool.h"
#include "kernels/ggml_type.h"
#include "runtime/gguf/gguf_reader.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/model/forward_model.h"
#include "runtime/model/model_config.h"
#include "runtime/model/sparse_attention.h"

namespace triptych::model {

// A weight matrix viewed in place in the mapped GGUF file: `rows` rows of
// `cols` elements of `type`.
struct Weight {
  kernels::GgmlType type = kernels::GgmlType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  const uint8_t* data = nullptr;
  int64_t row_bytes = 0;  // of the row-major layout
  // `data` is in the row-interleaved layout of kernels/packed.h (8-row
  // groups), not row-major; set at load when the CPU's kernels use it.
  bool packed = false;
};

// A 1-D float vector (norms, biases, rope frequency factors), converted to
// F32 at load time.
using Vector = std::vector<float>;

struct LayerWeights {
  Vector attn_norm;
  Weight wq, wk, wv, wo;
  Vector bq, bk, bv;  // empty unless the model has QKV bias (Qwen2)
  Vector ffn_norm;
  Weight w_gate, w_up, w_down;
};

struct LoadOptions {
  // Copy the weight matrices out of the file mapping into anonymous memory
  // backed by transparent huge pages. Decode streams every weight once per
  // step, and with 4 KiB page-cache pages the TLB misses cost a large part of
  // the memory bandwidth; with 2 MiB pages they mostly vanish. Off: weights
  // stay views into the mapping (less resident memory while loading).
  bool huge_page_weights = true;
  // With huge_page_weights, store the Q4_0 / Q4_K matrices (not the
  // embedding table) in the row-interleaved layout of kernels/packed.h when
  // kernels::UsePackedLayout says this CPU's kernels read it: the m = 1
  // decode dot then sums 8 rows per SIMD vector. Same bytes (Q4_K +3%).
  bool pack_weights = true;
};

// One sequence's part of a forward batch.
struct SequenceBatch {
  absl::Span<const int32_t> tokens;  // new tokens to process
  int64_t start_pos = 0;             // position of tokens[0]
  // Blocks for positions [0, start_pos + tokens.size()); positions before
  // start_pos must already hold KV. The KV of the new tokens is written here.
  const kv::SequenceKv* kv = nullptr;
  bool all_logits = false;  // logits for every new token, else the last only
  // Sparse attention for this sequence's decode steps (off by default; needs
  // a cache with key summaries, else the step runs dense).
  SparseAttentionOptions sparse;
};

// Immutable weights plus the forward pass. The GgufFile must outlive the
// Model (weights are views into its mapping). Forward() is const and may run
// concurrently on different caches and pools; each call uses the thread pool
// it is given.
class Model : public ForwardModel {
 public:
  // Errors: kInvalidArgument for missing tensors or wrong shapes,
  // kUnimplemented for unsupported weight types or architectures.
  static absl::StatusOr<std::unique_ptr<Model>> Load(
      const gguf::GgufFile& file, const LoadOptions& options = {});
  ~Model() override;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelConfig& config() const override { return config_; }
  kernels::GgmlType weight_type() const { return layers_[0].wq.type; }
  // Bytes of weights read per decoded token (all matrices except the
  // embedding table, plus one embedding row).
  int64_t WeightBytesPerToken() const;


  // Runs the batch and returns logits, row-major: for each sequence in order,
  // one row (last token) or tokens.size() rows (all_logits) of vocab_size.
  // Errors: kInvalidArgument for an empty batch, token ids out of range,
  // positions past the context length or missing KV blocks.
  // `on_layer_kv`, when given, runs once per layer (see LayerKvDoneFn).
  absl::StatusOr<std::vector<float>> Forward(
      absl::Span<const SequenceBatch> batch, kv::KvCache* cache,
      ThreadPool* pool, const LayerKvDoneFn* on_layer_kv = nullptr) const override;

  // The weights, for a device model to upload (runtime/device).
  const Weight& token_embd() const { return token_embd_; }
  const Weight& output() const { return output_; }
  const Vector& output_norm() const { return output_norm_; }
  const Vector& rope_freq_factors() const { return rope_freq_factors_; }
  absl::Span<const LayerWeights> layers() const { return layers_; }

 private:
  Model() = default;
  // Moves the weight matrices into a huge-page arena (see LoadOptions),
  // packing those that kernels::UsePackedLayout allows when `pack`.
  void CopyWeightsToArena(bool pack);

  ModelConfig config_;
  Weight token_embd_;
  Weight output_;
  Vector output_norm_;
  Vector rope_freq_factors_;  // empty, or rope_dim/2 divisors (llama3 scaling)
  std::vector<LayerWeights> layers_;
  void* arena_ = nullptr;  // mmap'ed weight copy, or null
  size_t arena_bytes_ = 0;
};

}  // namespace triptych::model

#endif  // TRIPTYCH_RUNTIME_MODEL_MODEL_H_
