#ifndef TRIPTYCH_MEMORY_TEXT_ANALYZER_H_
#define TRIPTYCH_MEMORY_TEXT_ANALYZER_H_

// The BM25 analyzer of RAG collections (documents and queries alike):
//   - a token is a maximal run of "word bytes": ASCII letters and digits,
//     and every byte >= 0x80 (so a UTF-8 encoded non-ASCII character, e.g.
//     a letter with a diacritic or a CJK ideograph, is part of a word);
//   - every other ASCII byte (spaces, punctuation, control bytes) separates
//     tokens;
//   - ASCII letters are lowercased; non-ASCII text is kept byte for byte (no
//     Unicode case folding or normalisation);
//   - no stemming, no stop words, no length limit on tokens.
// Simple and predictable; a language-aware analyzer can replace it later
// (it is the only place that defines what a term is).
//
// Thread-safe (pure).

#include <string>
#include <string_view>
#include <vector>

namespace triptych::memory {

std::vector<std::string> AnalyzeText(std::string_view text);

}  // namespace triptych::memory

#endif  // TRIPTYCH_MEMORY_TEXT_ANALYZER_H_
