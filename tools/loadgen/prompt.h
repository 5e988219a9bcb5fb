#ifndef TRIPTYCH_TOOLS_LOADGEN_PROMPT_H_
#define TRIPTYCH_TOOLS_LOADGEN_PROMPT_H_

// Synthetic prompt text of a requested token length that works against any
// server without its tokenizer.
//
// Text is a space-separated sequence of common English words drawn from a
// fixed list; each word is one token (with its leading space) in the
// Llama 2/3, Mistral, Qwen2 and GPT-2 vocabularies, so n words ~ n tokens.
// The server adds a few tokens of its own (BOS, chat template), which its
// `usage.prompt_tokens` reports. With a tokenizer (--tokenizer GGUF) the
// list is filtered to the words that are exactly one token in that
// vocabulary and counts are made with it.
//
// Text(n, seed) is a prefix of Text(m, seed) for n < m: a block of a trace
// cut short is the start of the same block in full.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace triptych::loadgen {

// Counts the tokens of a text (no BOS/EOS), e.g. with a GGUF tokenizer;
// must be safe to call from any thread. The library takes a function rather
// than the tokenizer so that it does not depend on the model runtime.
using TokenCounter = std::function<int64_t(std::string_view)>;

// Thread-safe after construction (const methods only).
class PromptSynthesizer {
 public:
  // `counter` may be empty (word approximation). Errors:
  // kFailedPrecondition if fewer than 16 words of the list are single tokens
  // by `counter`.
  static absl::StatusOr<std::unique_ptr<PromptSynthesizer>> Create(
      TokenCounter counter = nullptr);

  PromptSynthesizer(const PromptSynthesizer&) = delete;
  PromptSynthesizer& operator=(const PromptSynthesizer&) = delete;

  // `tokens` words (no leading or trailing space), deterministic in `seed`.
  std::string Text(int64_t tokens, uint64_t seed) const;

  // Tokens in `text`: the tokenizer's count (no special tokens) when there is
  // one, else EstimateTokens(text).
  int64_t CountTokens(std::string_view text) const;
  bool has_tokenizer() const { return static_cast<bool>(counter_); }

  // Tokenizer-free estimate for arbitrary text: one token per word (a run
  // of letters, digits or non-ASCII bytes) and one more per further 8 bytes
  // of a long word, plus one per punctuation mark. Close for English in
  // Llama/GPT vocabularies; exact for synthetic text and for " tok" tokens.
  static int64_t EstimateTokens(std::string_view text);

  size_t vocabulary_size() const { return words_.size(); }

 private:
  PromptSynthesizer(TokenCounter counter, std::vector<std::string> words)
      : counter_(std::move(counter)), words_(std::move(words)) {}

  const TokenCounter counter_;  // may be empty
  const std::vector<std::string> words_;
};

// SplitMix64: mixes seeds (e.g. a run seed with a hash id) into one.
uint64_t MixSeed(uint64_t a, uint64_t b);

}  // namespace triptych::loadgen

#endif  // TRIPTYCH_TOOLS_LOADGEN_PROMPT_H_
