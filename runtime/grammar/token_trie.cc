#include "runtime/grammar/token_trie.h"

#include <algorithm>
#include <numeric>

namespace triptych::grammar {

TokenTrie::TokenTrie(const std::vector<std::string>& token_bytes)
    : vocab_size_(static_cast<int32_t>(token_bytes.size())), bytes_(token_bytes) {
  std::vector<int32_t> order(token_bytes.size());
  std::iota(order.begin(), order.end(), 0);
  order.erase(std::remove_if(order.begin(), order.end(),
                             [&](int32_t id) { return token_bytes[id].empty(); }),
              order.end());
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return token_bytes[a] != token_bytes[b] ? token_bytes[a] < token_bytes[b] : a < b;
  });
  // Sorted order is a preorder walk; `path` holds the open nodes.
  nodes_.push_back(Node{});
  std::vector<int32_t> path = {0};
  std::string prefix;
  for (int32_t id : order) {
    const std::string& s = token_bytes[id];
    size_t common = 0;
    while (common < prefix.size() && common < s.size() && prefix[common] == s[common]) ++common;
    while (path.size() > common + 1) {
      nodes_[path.back()].end = static_cast<int32_t>(nodes_.size());
      path.pop_back();
    }
    prefix.resize(common);
    for (size_t i = common; i < s.size(); ++i) {
      Node n;
      n.byte = static_cast<uint8_t>(s[i]);
      path.push_back(static_cast<int32_t>(nodes_.size()));
      nodes_.push_back(n);
      prefix.push_back(s[i]);
    }
    // Tokens are grouped by node: sorted order puts equal strings together,
    // and a node's tokens are appended before any of its descendants'.
    Node& leaf = nodes_[path.back()];
    if (leaf.tokens_end == 0 && leaf.tokens_begin == 0) {
      leaf.tokens_begin = static_cast<int32_t>(tokens_.size());
    }
    tokens_.push_back(id);
    leaf.tokens_end = static_cast<int32_t>(tokens_.size());
  }
  while (!path.empty()) {
    nodes_[path.back()].end = static_cast<int32_t>(nodes_.size());
    path.pop_back();
  }
}

}  // namespace triptych::grammar
