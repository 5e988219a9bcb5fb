#ifndef TRIPTYCH_TOOLS_GEN_MODEL_GEN_MODEL_H_
#define TRIPTYCH_TOOLS_GEN_MODEL_GEN_MODEL_H_

// Writes GGUF Llama models with random weights of any shape, for tests and
// benchmarks that need a model of a given size but not a trained one.
//
// The output is a standard llama.cpp-style file: the usual tensor names and
// shapes (dims[0] = input features), llama.* hyper-parameters and a
// SentencePiece ("llama") vocabulary, either synthesised or copied from
// another GGUF. Weights are ~N(0, weight_std^2), norm weights 1.0.
// Generation is deterministic in `seed` (independent of the thread count)
// and streams one tensor at a time to disk.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/ggml_type.h"

namespace triptych::tools {

struct GenModelOptions {
  std::string out;  // output path (required)

  // Shape. kv_heads must divide heads; dim / heads (the head size) must be
  // even. For a quantized `type`, dim and ffn must be multiples of its block
  // size (32, or 256 for the K types).
  int64_t dim = 256;
  int64_t layers = 2;
  int64_t heads = 4;
  int64_t kv_heads = 2;
  int64_t ffn = 768;
  int64_t vocab = 512;  // ignored with vocab_from
  int64_t ctx = 2048;

  // Type of the 2-D weights: F32, F16, BF16, Q8_0, Q4_0, Q4_K or Q6_K. 1-D
  // norm weights are always F32.
  kernels::GgmlType type = kernels::GgmlType::kF32;
  uint64_t seed = 1;
  float rope_theta = 10000.0f;
  float rms_eps = 1e-5f;
  float weight_std = 0.02f;
  std::string name = "triptych-random-llama";

  // When set, every tokenizer.* key is copied from this GGUF and the vocab
  // size is that of its tokenizer.ggml.tokens.
  std::string vocab_from;

  // When non-empty, written as tokenizer.chat_template (Jinja text).
  std::string chat_template;

  // The reference K-quantizers (Q4_K, Q6_K) cost 50-100 ns per element, two
  // minutes for a 1.1B model. When true, K-type tensors are instead
  // assembled from a bank of 4096 blocks that QuantizeRow made from the same
  // weight distribution, each block of each row picked at random: valid
  // blocks, the same statistics, seconds instead of minutes. When false
  // every row is quantized.
  bool fast_k_quant = true;

  int num_threads = 0;  // 0: all hardware threads
};

// Options with a named model's shape (other fields default). Known presets:
// "tinyllama-1.1b". kInvalidArgument for an unknown name.
absl::StatusOr<GenModelOptions> PresetOptions(std::string_view preset);

// A synthetic SentencePiece vocabulary of `size` pieces: <unk>, <s>, </s>,
// the 256 byte tokens <0x00>..<0xFF> (type 6), then pieces of ASCII letters
// with and without the "▁" word prefix, shortest first, with decreasing
// scores (type 1). kInvalidArgument when size < 260.
struct SyntheticVocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> token_types;
};
absl::StatusOr<SyntheticVocab> MakeSyntheticVocab(int64_t size);

// Writes the model to options.out. Errors: kInvalidArgument for an
// inconsistent shape or unsupported type, errors opening vocab_from, and
// I/O errors from the writer.
absl::Status WriteRandomLlama(const GenModelOptions& options);

}  // namespace triptych::tools

#endif  // TRIPTYCH_TOOLS_GEN_MODEL_GEN_MODEL_H_
