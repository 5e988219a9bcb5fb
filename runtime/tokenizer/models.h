#ifndef TRIPTYCH_RUNTIME_TOKENIZER_MODELS_H_
#define TRIPTYCH_RUNTIME_TOKENIZER_MODELS_H_

// Internal to triptych_tokenizer: the segmentation algorithms behind
// Tokenizer::Encode. Each works on one fragment of raw text (special tokens
// have already been cut out) and appends ids. All are const and thread-safe;
// per-call state lives on the stack.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "runtime/tokenizer/pre_tokenizer.h"

namespace triptych::tokenizer {

// Token attributes (a bit set, as llama.cpp's llama_token_attr).
enum TokenAttr : uint32_t {
  kAttrUndefined = 0,
  kAttrUnknown = 1u << 0,
  kAttrUnused = 1u << 1,
  kAttrNormal = 1u << 2,
  kAttrControl = 1u << 3,
  kAttrUserDefined = 1u << 4,
  kAttrByte = 1u << 5,
  kAttrLstrip = 1u << 6,
  kAttrRstrip = 1u << 7,
};

// Read-only token table shared by the models.
struct TokenTable {
  std::vector<std::string> text;
  std::vector<float> score;
  std::vector<uint32_t> attr;
  absl::flat_hash_map<std::string, int32_t> ids;
  size_t max_token_len = 0;

  // -1 when `piece` is not a token.
  int32_t Find(std::string_view piece) const {
    // Debian's Abseil has its own string_view type.
    auto it = ids.find(absl::string_view(piece.data(), piece.size()));
    return it == ids.end() ? -1 : it->second;
  }
  int32_t size() const { return static_cast<int32_t>(text.size()); }
};

// SentencePiece-style BPE over `text`, whose spaces are already escaped as
// U+2581. Highest-scoring adjacent pair merges first; characters that form
// no token fall back to <0xNN> byte tokens (or `unk_id` when those are
// missing; dropped when that is -1 too).
void SpmEncode(const TokenTable& table, int32_t unk_id, std::string_view text,
               std::vector<int32_t>* out);

// Byte-level BPE with a regex pre-tokenizer.
class BpeModel {
 public:
  // `merges` are "left right" strings, highest priority first. Errors from
  // the pre-tokenizer configuration (unknown name) or regex compilation.
  static absl::StatusOr<std::unique_ptr<BpeModel>> Create(
      const std::vector<std::string>& merges,
      const BpePreTokenizerConfig& config);

  void Encode(const TokenTable& table, std::string_view text,
              std::vector<int32_t>* out) const;

 private:
  BpeModel() = default;
  int32_t Rank(std::string_view left, std::string_view right,
               std::string* scratch) const;
  void EncodeWord(const TokenTable& table, std::string_view word,
                  std::vector<int32_t>* out) const;

  // Key: left + ' ' + right (byte-level symbols never contain a space).
  absl::flat_hash_map<std::string, int32_t> ranks_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  bool ignore_merges_ = false;
};

// BERT WordPiece as llama.cpp implements it (tokens are stored with a U+2581
// word-start marker instead of "##" continuations).
class WordPieceModel {
 public:
  // `lowercase` and `strip_accents` select the BertNormalizer steps.
  WordPieceModel(bool lowercase, bool strip_accents)
      : lowercase_(lowercase), strip_accents_(strip_accents) {}
  void Encode(const TokenTable& table, int32_t unk_id, std::string_view text,
              std::vector<int32_t>* out) const;

 private:
  std::vector<std::string> PreSplit(std::string_view text) const;
  bool lowercase_;
  bool strip_accents_;
};

}  // namespace triptych::tokenizer

#endif  // TRIPTYCH_RUNTIME_TOKENIZER_MODELS_H_
