#ifndef TRIPTYCH_RUNTIME_TOKENIZER_PRE_TOKENIZER_H_
#define TRIPTYCH_RUNTIME_TOKENIZER_PRE_TOKENIZER_H_

// Regex pre-tokenization for byte-level BPE vocabularies.
//
// A pre-tokenizer is an ordered list of regexes applied the way llama.cpp
// applies them: each regex further splits every piece produced so far; both
// the matches and the unmatched text between them become pieces. Regexes are
// compiled once with PCRE2 (UTF + UCP, JIT when available); `\s` and `\S` are
// rewritten to llama.cpp's whitespace set (Unicode White_Space), which PCRE2's
// \s does not cover exactly (U+0085).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace triptych::tokenizer {

// Pre-tokenizer settings selected by tokenizer.ggml.pre.
struct BpePreTokenizerConfig {
  std::vector<std::string> patterns;
  // A whole pre-token that is itself a vocabulary entry is emitted directly
  // without running merges (llama3-style vocabularies).
  bool ignore_merges = false;
  // Whether llama.cpp's detokenizer would clean up spaces (informational;
  // Tokenizer::Decode does not apply it, see tokenizer.h).
  bool clean_spaces = true;
  // Whether this pre-tokenizer forces BOS on (llama3).
  bool force_add_bos = false;
};

// Configuration for a tokenizer.ggml.pre value. An empty name or "default"
// gives llama.cpp's default list. Errors: kInvalidArgument for names this
// implementation does not know.
absl::StatusOr<BpePreTokenizerConfig> BpePreTokenizerFor(std::string_view pre);

// Immutable and thread-safe: Split() may run concurrently from many threads
// (match data is allocated per call).
class PreTokenizer {
 public:
  // Compiles `patterns`. Errors: kInvalidArgument with the PCRE2 message when
  // a pattern does not compile.
  static absl::StatusOr<std::unique_ptr<PreTokenizer>> Create(
      const std::vector<std::string>& patterns);

  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Splits `text`, which must be valid UTF-8, into consecutive non-empty
  // pieces that concatenate back to `text`. The views point into `text`.
  std::vector<std::string_view> Split(std::string_view text) const;

 private:
  struct Impl;
  explicit PreTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace triptych::tokenizer

#endif  // TRIPTYCH_RUNTIME_TOKENIZER_PRE_TOKENIZER_H_
