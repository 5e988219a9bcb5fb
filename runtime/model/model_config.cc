#include "runtime/model/model_config.h"

#include <string_view>

#include "absl/strings/str_cat.h"

namespace triptych::model {
namespace {

// Architectures whose GGUF tensors follow the Llama layout. The rope pairing
// follows llama.cpp's per-architecture choice.
struct ArchInfo {
  std::string_view name;
  RopeType rope_type;
};
constexpr ArchInfo kArchitectures[] = {
    {"llama", RopeType::kNormal},   {"mistral", RopeType::kNormal},
    {"qwen2", RopeType::kNeox},     {"granite", RopeType::kNormal},
};

constexpr int64_t kMaxDim = 1 << 16;
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxVocab = 1 << 22;

}  // namespace

absl::StatusOr<ModelConfig> ConfigFromGguf(const gguf::GgufFile& file) {
  ModelConfig c;
  auto arch = file.GetString("general.architecture");
  if (!arch) return absl::InvalidArgumentError("missing general.architecture");
  const ArchInfo* info = nullptr;
  for (const ArchInfo& a : kArchitectures) {
    if (a.name == *arch) info = &a;
  }
  if (info == nullptr) {
    return absl::UnimplementedError(
        absl::StrCat("unsupported architecture '", *arch,
                     "' (supported: llama, mistral, qwen2, granite)"));
  }
  c.architecture = *arch;
  c.rope_type = info->rope_type;
  c.name = file.GetString("general.name").value_or(*arch);

  auto get = [&](const char* key) {
    return file.GetInt(absl::StrCat(*arch, ".", key));
  };
  auto require = [&](const char* key, int64_t max,
                     int64_t* out) -> absl::Status {
    auto v = get(key);
    if (!v) return absl::InvalidArgumentError(absl::StrCat("missing ", *arch, ".", key));
    if (*v <= 0 || *v > max) {
      return absl::InvalidArgumentError(
          absl::StrCat(*arch, ".", key, " = ", *v, " is out of range"));
    }
    *out = *v;
    return absl::OkStatus();
  };
  absl::Status s;
  if (!(s = require("embedding_length", kMaxDim, &c.dim)).ok()) return s;
  if (!(s = require("block_count", kMaxLayers, &c.num_layers)).ok()) return s;
  if (!(s = require("feed_forward_length", 4 * kMaxDim, &c.ffn_dim)).ok()) return s;
  if (!(s = require("attention.head_count", kMaxDim, &c.num_heads)).ok()) return s;
  c.num_kv_heads = get("attention.head_count_kv").value_or(c.num_heads);
  if (c.num_kv_heads <= 0 || c.num_heads % c.num_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "head_count ", c.num_heads, " is not a multiple of head_count_kv ",
        c.num_kv_heads));
  }
  c.head_dim = get("attention.key_length").value_or(c.dim / c.num_heads);
  if (c.head_dim <= 0 || c.head_dim % 2 != 0 || c.head_dim > kMaxDim) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid head dimension ", c.head_dim));
  }
  c.context_length = get("context_length").value_or(2048);
  if (c.context_length <= 0) c.context_length = 2048;
  c.rope_dim = get("rope.dimension_count").value_or(c.head_dim);
  if (c.rope_dim <= 0 || c.rope_dim > c.head_dim || c.rope_dim % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid rope.dimension_count ", c.rope_dim));
  }
  if (auto eps = file.GetFloat(absl::StrCat(*arch, ".attention.layer_norm_rms_epsilon"))) {
    c.rms_eps = static_cast<float>(*eps);
  }
  if (auto theta = file.GetFloat(absl::StrCat(*arch, ".rope.freq_base"))) {
    c.rope_theta = static_cast<float>(*theta);
  }
  if (auto type = file.GetString(absl::StrCat(*arch, ".rope.scaling.type"));
      type && *type == "linear") {
    if (auto f = file.GetFloat(absl::StrCat(*arch, ".rope.scaling.factor")); f && *f > 0) {
      c.rope_linear_scale = static_cast<float>(*f);
    }
  }
  auto tokens = file.GetStringArray("tokenizer.ggml.tokens");
  const gguf::TensorInfo* embd = file.FindTensor("token_embd.weight");
  if (embd == nullptr || embd->dims.size() != 2) {
    return absl::InvalidArgumentError("missing or malformed token_embd.weight");
  }
  c.vocab_size = embd->dims[1];
  if (c.vocab_size <= 0 || c.vocab_size > kMaxVocab) {
    return absl::InvalidArgumentError("vocabulary size out of range");
  }
  if (tokens && static_cast<int64_t>(tokens->size()) != c.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tokenizer has ", tokens->size(), " tokens but token_embd has ",
        c.vocab_size, " rows"));
  }
  return c;
}

}  // namespace triptych::model
