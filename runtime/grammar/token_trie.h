#ifndef TRIPTYCH_RUNTIME_GRAMMAR_TOKEN_TRIE_H_
#define TRIPTYCH_RUNTIME_GRAMMAR_TOKEN_TRIE_H_

// The vocabulary as a byte trie, built once per tokenizer, so that a mask
// walks each shared token prefix once and skips whole subtrees the grammar
// rules out at their first byte. Immutable after construction; thread-safe.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"

namespace triptych::grammar {

class TokenTrie {
 public:
  // Node i's children are i + 1, then each next sibling at the previous
  // child's `end`; [i + 1, end) is node i's subtree (preorder layout).
  struct Node {
    uint8_t byte = 0;
    int32_t end = 0;
    int32_t tokens_begin = 0;  // into tokens(): the tokens ending here
    int32_t tokens_end = 0;
  };

  // token_bytes[id] = the bytes token `id` stands for in running text; an
  // empty string (control, unused or end-of-generation tokens) never enters
  // the trie, so no grammar ever allows it through the trie.
  explicit TokenTrie(const std::vector<std::string>& token_bytes);

  const std::vector<Node>& nodes() const { return nodes_; }
  absl::Span<const int32_t> TokensAt(int32_t node) const {
    return absl::MakeConstSpan(tokens_).subspan(
        nodes_[node].tokens_begin, nodes_[node].tokens_end - nodes_[node].tokens_begin);
  }
  int32_t vocab_size() const { return vocab_size_; }
  const std::string& bytes(int32_t token) const { return bytes_[token]; }

 private:
  int32_t vocab_size_;
  std::vector<std::string> bytes_;
  std::vector<Node> nodes_;
  std::vector<int32_t> tokens_;
};

}  // namespace triptych::grammar

#endif  // TRIPTYCH_RUNTIME_GRAMMAR_TOKEN_TRIE_H_
