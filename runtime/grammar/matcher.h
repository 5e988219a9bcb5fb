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
// token is allowed when some stack survives all its bytes. Multi-byte
// characters and tokens that span several grammar elements need nothing
// special: everything is bytes. Intermediate stacks live in an arena that is
// rewound when the walk leaves a subtree, so a mask allocates nothing after
// warm-up.
//
// Not thread-safe: one Matcher per sequence, used by one thread at a time.

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

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

  // Materialises stacks_ in the arena; returns the set's [begin, end).
  std::pair<size_t, size_t> Load();
  // Appends to set_ the stacks that `byte` leads to from set_[begin, end).
  void Step(size_t begin, size_t end, uint8_t byte);
  void Expand(int32_t pos, int32_t parent, size_t out_begin);
  void Push(int32_t node, size_t out_begin);
  void Store(size_t begin, size_t end);
  void Visit(const TokenTrie& trie, int32_t node, size_t begin, size_t end,
             absl::Span<uint64_t> allowed);

  std::shared_ptr<const Grammar> grammar_;
  // The state: each stack bottom..top as grammar positions; {} = accepting.
  std::vector<std::vector<int32_t>> stacks_;
  absl::Status status_;
  bool overflow_ = false;
  // Scratch.
  std::vector<Node> nodes_;
  std::vector<int32_t> set_;
};

}  // namespace triptych::grammar

#endif  // TRIPTYCH_RUNTIME_GRAMMAR_MATCHER_H_
