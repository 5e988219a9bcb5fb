#ifndef TRIPTYCH_RUNTIME_GRAMMAR_LOGIT_MASK_H_
#define TRIPTYCH_RUNTIME_GRAMMAR_LOGIT_MASK_H_

// Applies a sequence's output constraint to one row of logits: the step the
// engine's sampler runs before sampling every token of a constrained
// sequence (colocated, disaggregated decode and the first token alike), and
// what bench/grammar_mask_bench.cc times.
//
// Thread safety: none of its own; `matcher` and `scratch` belong to the
// caller's thread, `trie` is immutable.

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "runtime/grammar/matcher.h"
#include "runtime/grammar/token_trie.h"

namespace triptych::grammar {

// Sets every logit of `row` (one per vocabulary id) that the constraint
// forbids to -infinity: allowed are the tokens of `trie` whose bytes
// `matcher` accepts next and, when `allow_eog` and the output so far is
// complete, the end-of-generation ids `eog_ids` (outside the trie). Ids past
// trie.vocab_size() are forbidden. `scratch` is the bitmask buffer (reused
// between calls; no allocation after the first). Returns false when no
// token is allowed (the sequence cannot continue; see matcher.status()).
bool ApplyLogitMask(Matcher& matcher, const TokenTrie& trie, absl::Span<const int32_t> eog_ids,
                    bool allow_eog, absl::Span<float> row, std::vector<uint64_t>* scratch);

}  // namespace triptych::grammar

#endif  // TRIPTYCH_RUNTIME_GRAMMAR_LOGIT_MASK_H_
