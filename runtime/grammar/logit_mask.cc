#include "runtime/grammar/logit_mask.h"

#include <algorithm>
#include <limits>

namespace triptych::grammar {

bool ApplyLogitMask(Matcher& matcher, const TokenTrie& trie, absl::Span<const int32_t> eog_ids,
                    bool allow_eog, absl::Span<float> row, std::vector<uint64_t>* scratch) {
  std::vector<uint64_t>& bits = *scratch;
  bits.assign((row.size() + 63) / 64, 0);
  if (static_cast<size_t>(trie.vocab_size()) <= row.size()) {
    matcher.Mask(trie, absl::MakeSpan(bits));
  }
  if (allow_eog && matcher.IsComplete()) {
    for (int32_t id : eog_ids) {
      if (id >= 0 && static_cast<size_t>(id) < row.size()) {
        bits[id >> 6] |= uint64_t{1} << (id & 63);
      }
    }
  }
  bool any = false;
  constexpr float kMasked = -std::numeric_limits<float>::infinity();
  // Word by word: a fully allowed or fully forbidden word of 64 ids is one
  // test (most words are all-forbidden under a constraint).
  for (size_t w = 0; w < bits.size(); ++w) {
    const uint64_t word = bits[w];
    const size_t base = w * 64;
    const size_t n = std::min<size_t>(64, row.size() - base);
    if (word == 0) {
      for (size_t i = 0; i < n; ++i) row[base + i] = kMasked;
      continue;
    }
    any = true;
    for (size_t i = 0; i < n; ++i) {
      if (!((word >> i) & 1)) row[base + i] = kMasked;
    }
  }
  return any;
}

}  // namespace triptych::grammar
