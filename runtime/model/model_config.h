#ifndef TRIPTYCH_RUNTIME_MODEL_MODEL_CONFIG_H_
#define TRIPTYCH_RUNTIME_MODEL_MODEL_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/gguf/gguf_reader.h"

namespace triptych::model {

// How RoPE pairs the dimensions of a head: kNormal rotates adjacent pairs
// (2i, 2i+1) as in the original Llama; kNeox rotates (i, i + rope_dim/2) as in
// GPT-NeoX, Qwen2 and Phi-3.
enum class RopeType { kNormal, kNeox };

// Hyper-parameters of a Llama-family decoder, read from GGUF metadata.
struct ModelConfig {
  std::string architecture;  // general.architecture (llama, qwen2, ...)
  std::string name;
  int64_t vocab_size = 0;
  int64_t dim = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t ffn_dim = 0;
  int64_t context_length = 0;
  float rms_eps = 1e-5f;
  float rope_theta = 10000.0f;
  int64_t rope_dim = 0;         // rotated dimensions per head
  RopeType rope_type = RopeType::kNormal;
  float rope_linear_scale = 1.0f;  // positions are divided by this (linear scaling)
};

// Reads and validates the config. Errors: kInvalidArgument for a missing or
// inconsistent hyper-parameter, kUnimplemented for an unsupported
// architecture.
absl::StatusOr<ModelConfig> ConfigFromGguf(const gguf::GgufFile& file);

}  // namespace triptych::model

#endif  // TRIPTYCH_RUNTIME_MODEL_MODEL_CONFIG_H_
