#ifndef TRIPTYCH_RUNTIME_TOKENIZER_TOKENIZER_H_
#define TRIPTYCH_RUNTIME_TOKENIZER_TOKENIZER_H_

// Text <-> token ids for the vocabularies stored in GGUF files, reproducing
// llama.cpp's tokenizers token for token:
//  - "llama": SentencePiece-style BPE (scores, <0xNN> byte fallback, space
//    prefix, spaces escaped as U+2581);
//  - "gpt2": byte-level BPE with the regex pre-tokenizer named by
//    tokenizer.ggml.pre (gpt-2, llama-bpe/llama3, qwen2, deepseek-llm,
//    deepseek-coder, falcon, starcoder, refact, mpt, ...);
//  - "bert": WordPiece (lowercasing, accent stripping).
//
// Thread safety: a Tokenizer is immutable after Create() and every method is
// safe to call from many threads at once.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/tokenizer/models.h"
#include "runtime/tokenizer/vocab.h"

namespace triptych::gguf {
class GgufFile;
}  // namespace triptych::gguf

namespace triptych::tokenizer {

// A byte range [begin, end) of a text.
struct TextRange {
  size_t begin = 0;
  size_t end = 0;
};

class Tokenizer {
 public:
  // Builds a tokenizer, filling in llama.cpp's defaults for whatever `vocab`
  // leaves unset (SPM: BOS=1, EOS=2, UNK=0, add BOS, add space prefix; BPE:
  // BOS=EOS=11; BERT: CLS=101 as BOS, SEP=102, UNK=100). Errors:
  // kInvalidArgument for an empty vocabulary, mismatched array sizes,
  // duplicate tokens, an unknown model or pre-tokenizer, or add_bos/add_eos
  // without the matching id.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Create(Vocab vocab);

  // VocabFromGguf + Create.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromGguf(
      const gguf::GgufFile& file);

  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Tokenizes `text` (any bytes; invalid UTF-8 never crashes). With
  // `add_special` BOS/EOS (BERT: CLS/SEP) are added as the vocabulary says.
  // With `parse_special` control tokens written in the text (e.g. "<s>")
  // become their ids; user-defined tokens are always matched, as in
  // llama.cpp.
  std::vector<int32_t> Encode(std::string_view text, bool add_special,
                              bool parse_special) const;

  // Encode with special-token parsing limited to parts of the text: a
  // control (or unknown) token written in `text` becomes its id only where
  // its whole text lies inside `special_ranges` (the trusted bytes, e.g. a
  // chat template's own literals; the ranges may be unsorted, overlapping
  // or adjacent, and are clipped to the text). Everywhere else it is plain
  // text, and everything between two accepted special tokens is one piece
  // tokenized as a whole, whatever range its bytes came from, so merges
  // across range boundaries are those of Encode. Matches are found as
  // Encode finds them (longest special token first, leftmost first); a
  // match that is not inside the ranges is skipped and the search goes on
  // from its next byte. User-defined tokens are matched everywhere, as with
  // parse_special false. Encode(t, a, true) equals this with {{0, t.size()}}
  // and Encode(t, a, false) with no ranges.
  std::vector<int32_t> EncodeWithSpecialRanges(
      std::string_view text, bool add_special,
      absl::Span<const TextRange> special_ranges) const;

  // The bytes token `id` stands for: byte tokens give the raw byte, U+2581
  // becomes a space (SPM/BERT), byte-level BPE text is mapped back to bytes.
  // Control/unknown tokens give "" unless `special` is true (then their
  // text). A piece may be part of a UTF-8 character. Out-of-range ids give "".
  std::string TokenToPiece(int32_t id, bool special = false) const;

  // Concatenates the pieces of `ids` and returns well-formed UTF-8 (bytes
  // that do not form a character become U+FFFD). With `skip_special`
  // control tokens are dropped (otherwise their text is rendered). For
  // vocabularies with a space prefix (SPM) the leading space of the first
  // non-empty piece is removed, so Decode(Encode(x)) == x. Unlike llama.cpp
  // no "clean up tokenization spaces" pass is applied, so that decoding
  // stays the exact concatenation that IncrementalDecoder streams.
  std::string Decode(absl::Span<const int32_t> ids,
                     bool skip_special = true) const;

  int32_t bos_id() const { return bos_id_; }  // -1 when none
  int32_t eos_id() const { return eos_id_; }  // -1 when none
  int32_t eot_id() const { return eot_id_; }  // -1 when none
  int32_t unk_id() const { return unk_id_; }  // -1 when none
  // End-of-generation: EOS, EOT, EOM and tokens like <|im_end|>, <|end|>.
  bool IsEog(int32_t id) const { return eog_ids_.contains(id); }
  bool IsControl(int32_t id) const;
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  int32_t vocab_size() const { return table_.size(); }
  std::string_view model_type() const { return model_; }
  std::string_view pre_type() const { return pre_; }
  // Whether decoding removes the space the encoder prefixes to the text.
  bool strips_leading_space() const { return add_space_prefix_; }
  // The id whose vocabulary text is exactly `piece` (e.g. "<s>", "▁the").
  std::optional<int32_t> TokenId(std::string_view piece) const;
  // The raw vocabulary text of `id` ("" when out of range).
  std::string_view TokenText(int32_t id) const;

 private:
  enum class Kind { kSpm, kBpe, kWordPiece };

  // A run of raw text or one special token found in it.
  struct Fragment {
    int32_t token = -1;  // -1: raw text [begin, begin + size)
    size_t begin = 0;
    size_t size = 0;
  };

  Tokenizer() = default;
  absl::Status Init(Vocab vocab);
  // Cuts special tokens out of `text`. Control/unknown tokens are matched
  // only with `parse_special`, and then, when `allowed` is non-null (sorted,
  // disjoint, non-adjacent ranges), only inside one of its ranges.
  std::vector<Fragment> Partition(std::string_view text, bool parse_special,
                                  const std::vector<TextRange>* allowed) const;
  std::vector<int32_t> EncodeFragments(
      std::string_view text, bool add_special,
      const std::vector<Fragment>& fragments) const;
  std::string PieceFor(int32_t id) const;

  Kind kind_ = Kind::kSpm;
  std::string model_;
  std::string pre_;
  TokenTable table_;
  std::unique_ptr<BpeModel> bpe_;
  std::unique_ptr<WordPieceModel> wordpiece_;

  int32_t bos_id_ = -1;
  int32_t eos_id_ = -1;
  int32_t eot_id_ = -1;
  int32_t eom_id_ = -1;
  int32_t unk_id_ = -1;
  int32_t sep_id_ = -1;
  bool add_bos_ = false;
  bool add_eos_ = false;
  bool add_sep_ = false;
  bool add_space_prefix_ = false;
  absl::flat_hash_set<int32_t> eog_ids_;

  // Control, user-defined and unknown tokens, longest text first: the order
  // in which they are cut out of the input.
  std::vector<int32_t> special_tokens_;
  // TokenToPiece(id, /*special=*/true) for every id.
  std::vector<std::string> pieces_;
};

}  // namespace triptych::tokenizer

#endif  // TRIPTYCH_RUNTIME_TOKENIZER_TOKENIZER_H_
