#ifndef TRIPTYCH_RUNTIME_TOKENIZER_INCREMENTAL_DECODER_H_
#define TRIPTYCH_RUNTIME_TOKENIZER_INCREMENTAL_DECODER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/tokenizer/tokenizer.h"

namespace triptych::tokenizer {

// Streams detokenized text: Push() returns the text completed by one more
// token and never ends inside a UTF-8 character; Flush() returns what is
// left (an incomplete character becomes U+FFFD). The concatenation of all
// returned strings equals tokenizer->Decode(all ids, skip_special).
// Not thread-safe; use one decoder per stream. The tokenizer must outlive it.
//
// `continues_text`: the ids continue text that was already produced (a
// completion after its prompt), so the SentencePiece leading-space strip that
// applies at the start of a text must not remove the space between the prompt
// and the first generated word.
//
// `preserved`: control tokens rendered as their text although
// `skip_special` drops the others ("preserved tokens": the markers a
// tool-call or channel parser reads, e.g. gpt-oss's <|channel|>). Ids that
// are not control tokens render as always.
class IncrementalDecoder {
 public:
  explicit IncrementalDecoder(const Tokenizer* tokenizer,
                              bool skip_special = true,
                              bool continues_text = false,
                              std::vector<int32_t> preserved = {});

  std::string Push(int32_t id);
  std::string Flush();

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_;
  std::vector<int32_t> preserved_;  // sorted
  bool at_start_ = true;  // no non-empty piece seen yet
  std::string pending_;   // bytes of an incomplete trailing character
};

}  // namespace triptych::tokenizer

#endif  // TRIPTYCH_RUNTIME_TOKENIZER_INCREMENTAL_DECODER_H_
