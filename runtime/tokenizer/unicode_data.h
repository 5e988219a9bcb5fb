#ifndef TRIPTYCH_RUNTIME_TOKENIZER_UNICODE_DATA_H_
#define TRIPTYCH_RUNTIME_TOKENIZER_UNICODE_DATA_H_

// Generated Unicode tables (see unicode_data.cc). Internal to the tokenizer.

#include <cstddef>
#include <cstdint>

namespace triptych::tokenizer::unicode_data {

struct CodepointPair {
  uint32_t from;
  uint32_t to;
};

// Code point -> first code point of its canonical decomposition (NFD), for
// code points that decompose; Hangul syllables excluded.
extern const CodepointPair kNfdBase[];
extern const size_t kNfdBaseSize;

// Code point -> simple lowercase mapping, where it differs.
extern const CodepointPair kLowercase[];
extern const size_t kLowercaseSize;

}  // namespace triptych::tokenizer::unicode_data

#endif  // TRIPTYCH_RUNTIME_TOKENIZER_UNICODE_DATA_H_
