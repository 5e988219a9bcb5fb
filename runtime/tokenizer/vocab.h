#ifndef TRIPTYCH_RUNTIME_TOKENIZER_VOCAB_H_
#define TRIPTYCH_RUNTIME_TOKENIZER_VOCAB_H_

// The plain description of a tokenizer vocabulary, as stored in GGUF
// metadata (tokenizer.ggml.*). It carries exactly what the file says: fields
// absent from the file stay empty / nullopt, and Tokenizer::Create applies
// llama.cpp's per-model defaults.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace triptych::gguf {
class GgufFile;
}  // namespace triptych::gguf

namespace triptych::tokenizer {

// Token types as numbered in GGUF (tokenizer.ggml.token_type).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct Vocab {
  // tokenizer.ggml.model: "llama" (SentencePiece BPE), "gpt2" (byte-level
  // BPE) or "bert" (WordPiece).
  std::string model;
  // tokenizer.ggml.pre: the BPE pre-tokenizer ("gpt-2", "llama-bpe", ...);
  // empty when absent.
  std::string pre;
  // general.name; a few llama.cpp quirks key off it (Phi-3 special tokens
  // strip the whitespace to their right).
  std::string name;

  std::vector<std::string> tokens;
  // Per-token scores (SentencePiece log-probabilities); empty means all 0.
  std::vector<float> scores;
  // Per-token TokenType values; empty means all kNormal.
  std::vector<int32_t> token_types;
  // BPE merges, "left right", highest priority first.
  std::vector<std::string> merges;

  std::optional<int32_t> bos_id;
  std::optional<int32_t> eos_id;
  std::optional<int32_t> eot_id;
  std::optional<int32_t> eom_id;
  std::optional<int32_t> unk_id;
  std::optional<int32_t> sep_id;
  std::optional<int32_t> pad_id;

  std::optional<bool> add_bos;
  std::optional<bool> add_eos;
  std::optional<bool> add_sep;
  std::optional<bool> add_space_prefix;
};

// Reads the tokenizer.ggml.* keys of `file`. Errors: kInvalidArgument when
// the model or token list is missing or an array has the wrong type or
// length. Special ids outside the vocabulary are dropped (llama.cpp ignores
// them too, e.g. 4294967295 used as "none").
absl::StatusOr<Vocab> VocabFromGguf(const gguf::GgufFile& file);

}  // namespace triptych::tokenizer

#endif  // TRIPTYCH_RUNTIME_TOKENIZER_VOCAB_H_
