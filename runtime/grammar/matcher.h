#ifndef TRIPTYCH_RUNTIME_GRAMMAR_MATCHER_H_
#define TRIPTYCH_RUNTIME_GRAMMAR_MATCHER_H_

// The parse state of one sequence's output under a Grammar, and the token
// mask it allows next.
//
// The state is a set of parser stacks (a nondeterministic pushdown
// automaton, as in llama.cpp's grammar sampler): each stack is the list of
// grammar positions still to match, top = the byte class the next byte must
// be in; an empty stack means the output so far is a complete match. Bytes
// advance every stack at once, so ambiguous prefixes (anyOf, optional
// properties) are followed in parallel.
//
// Mask(): walks the TokenTrie depth-first, advancing the stacks one byte per
// trie edge and pruning a subtree at the first byte no stack accepts; a
// token is allowed when some stack survives all its bytes. The walk runs
// over interned states: each distinct set of stacks gets an id and each
// (state, byte) step is computed once and then looked up, so a trie edge
// costs a hash lookup (inside a free-form string nearly every byte leads
// back to the same state). At most kMaxInternedStates states are kept. Multi-byte
// characters and tokens that span several grammar elements need nothing
// special: everything is bytes. Intermediate stacks live in an arena that is
// rewound when the walk leaves a subtree, so a mask allocates nothing after
// warm-up.
//
// Masks are cached per parse state: the last kMaskCacheEntries distinct
// states' masks are kept (per Matcher, for one trie), so a state that comes
// back (inside a free-form string or number the state after each character
// is the same) costs a copy of the bits instead of a trie walk. At most
// kMaskCacheEntries * vocab / 8 bytes per sequence (256 KiB at 128k ids).
//
// Not thread-safe: one Matcher per sequence, used by one thread at a time.

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "runtime/grammar/grammar.h"
#include "runtime/grammar/token_trie.h"

namespace triptych::grammar {

class Matcher {
 public:
  // More parallel stacks than this is an error (a pathologically ambiguous
  // schema); see status().
  static constexpr size_t kMaxStacks = 4096;
  static constexpr size_t kMaskCacheEntries = 16;
  static constexpr size_t kMaxInternedStates = 1 << 16;

  explicit Matcher(std::shared_ptr<const Grammar> grammar);

  // Consumes `bytes`. Returns false (state unchanged) when no stack accepts
  // them.
  bool Advance(std::string_view bytes);

  // The output so far is a complete match (end of generation is allowed).
  bool IsComplete() const;
  // Some continuation is possible (false with IsComplete(): the output must
  // end now).
  bool CanContinue() const;

  // Sets bit t of `allowed` (size >= ceil(vocab / 64) words, cleared by the
  // caller) for every token of `trie` whose bytes the grammar accepts next.
  // End-of-generation tokens are not in the trie: allow them when
  // IsComplete().
  void Mask(const TokenTrie& trie, absl::Span<uint64_t> allowed);

  // Non-OK after the state grew past kMaxStacks (the matcher then accepts
  // nothing).
  const absl::Status& status() const { return status_; }

 private:
  static constexpr int32_t kAccept = -2;  // an empty stack in a set
  struct Node {
    int32_t pos;     // grammar position (a kChars element)
    int32_t parent;  // node index of the continuation, -1 = bottom
  };

  using Stacks = std::vector<std::vector<int32_t>>;
  // Materialises `stacks` in the arena; returns the set's [begin, end).
  std::pair<size_t, size_t> Load(const Stacks& stacks);
  // The set_[begin, end) as sorted, deduplicated stacks.
  Stacks Extract(size_t begin, size_t end) const;
  // Appends to set_ the stacks that `byte` leads to from set_[begin, end).
  void Step(size_t begin, size_t end, uint8_t byte);
  void Expand(int32_t pos, int32_t parent, size_t out_begin);
  void Push(int32_t node, size_t out_begin);
  void Store(size_t begin, size_t end);
  int32_t Intern(Stacks stacks);
  // The interned state `byte` leads to from `state`; -1 when none.
  int32_t Transition(int32_t state, uint8_t byte);
  void Visit(const TokenTrie& trie, int32_t node, int32_t state, absl::Span<uint64_t> allowed);

  std::shared_ptr<const Grammar> grammar_;
  // The state: each stack bottom..top as grammar positions; {} = accepting.
  std::vector<std::vector<int32_t>> stacks_;
  absl::Status status_;
  bool overflow_ = false;
  // Interned states and their transitions ((id << 8) | byte -> id or -1).
  std::vector<Stacks> states_;
  absl::flat_hash_map<Stacks, int32_t> state_ids_;
  absl::flat_hash_map<int64_t, int32_t> transitions_;
  // The state materialised in the arena (nodes_[0, loaded_nodes_),
  // set_[0, loaded_set_)) for Transition(); -1 = none.
  int32_t loaded_ = -1;
  size_t loaded_nodes_ = 0, loaded_set_ = 0;
  // Mask cache: state -> bits (ceil(vocab / 64) words) for cache_trie_.
  const TokenTrie* cache_trie_ = nullptr;
  absl::flat_hash_map<Stacks, std::vector<uint64_t>> mask_cache_;
  // Scratch.
  std::vector<Node> nodes_;
  std::vector<int32_t> set_;
};

}  // namespace triptych::grammar

#endif  // TRIPTYCH_RUNTIME_GRAMMAR_MATCHER_H_
