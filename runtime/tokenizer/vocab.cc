#include "runtime/tokenizer/vocab.h"

#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/gguf/gguf_reader.h"

namespace triptych::tokenizer {
namespace {

// Reads an optional token id; ids outside [0, n_tokens) count as absent.
std::optional<int32_t> ReadId(const gguf::GgufFile& file, std::string_view key,
                              size_t n_tokens) {
  const std::optional<int64_t> v = file.GetInt(key);
  if (!v.has_value() || *v < 0 || *v >= static_cast<int64_t>(n_tokens)) {
    return std::nullopt;
  }
  return static_cast<int32_t>(*v);
}

}  // namespace

absl::StatusOr<Vocab> VocabFromGguf(const gguf::GgufFile& file) {
  Vocab v;
  std::optional<std::string> model = file.GetString("tokenizer.ggml.model");
  if (!model.has_value()) {
    return absl::InvalidArgumentError("GGUF has no tokenizer.ggml.model");
  }
  v.model = *std::move(model);
  v.pre = file.GetString("tokenizer.ggml.pre").value_or("");
  v.name = file.GetString("general.name").value_or("");

  std::optional<std::vector<std::string>> tokens =
      file.GetStringArray("tokenizer.ggml.tokens");
  if (!tokens.has_value()) {
    return absl::InvalidArgumentError(
        "GGUF has no string array tokenizer.ggml.tokens");
  }
  v.tokens = *std::move(tokens);
  const size_t n = v.tokens.size();

  if (file.Find("tokenizer.ggml.scores") != nullptr) {
    std::optional<std::vector<float>> scores =
        file.GetFloatArray("tokenizer.ggml.scores");
    if (!scores.has_value() || scores->size() < n) {
      return absl::InvalidArgumentError(
          "tokenizer.ggml.scores is not a float array of the vocabulary size");
    }
    scores->resize(n);
    v.scores = *std::move(scores);
  }
  if (file.Find("tokenizer.ggml.token_type") != nullptr) {
    std::optional<std::vector<int64_t>> types =
        file.GetIntArray("tokenizer.ggml.token_type");
    if (!types.has_value() || types->size() < n) {
      return absl::InvalidArgumentError(
          "tokenizer.ggml.token_type is not an int array of the vocabulary "
          "size");
    }
    v.token_types.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      v.token_types.push_back(static_cast<int32_t>((*types)[i]));
    }
  }
  if (file.Find("tokenizer.ggml.merges") != nullptr) {
    std::optional<std::vector<std::string>> merges =
        file.GetStringArray("tokenizer.ggml.merges");
    if (!merges.has_value()) {
      return absl::InvalidArgumentError(
          "tokenizer.ggml.merges is not a string array");
    }
    v.merges = *std::move(merges);
  }

  v.bos_id = ReadId(file, "tokenizer.ggml.bos_token_id", n);
  v.eos_id = ReadId(file, "tokenizer.ggml.eos_token_id", n);
  v.eot_id = ReadId(file, "tokenizer.ggml.eot_token_id", n);
  v.eom_id = ReadId(file, "tokenizer.ggml.eom_token_id", n);
  v.unk_id = ReadId(file, "tokenizer.ggml.unknown_token_id", n);
  // "seperator" is the key's historical spelling in GGUF.
  v.sep_id = ReadId(file, "tokenizer.ggml.seperator_token_id", n);
  v.pad_id = ReadId(file, "tokenizer.ggml.padding_token_id", n);

  v.add_bos = file.GetBool("tokenizer.ggml.add_bos_token");
  v.add_eos = file.GetBool("tokenizer.ggml.add_eos_token");
  v.add_sep = file.GetBool("tokenizer.ggml.add_sep_token");
  v.add_space_prefix = file.GetBool("tokenizer.ggml.add_space_prefix");
  return v;
}

}  // namespace triptych::tokenizer
