#include "runtime/grammar/matcher.h"

#include <algorithm>
#include <utility>

namespace triptych::grammar {

Matcher::Matcher(std::shared_ptr<const Grammar> grammar) : grammar_(std::move(grammar)) {
  nodes_.clear();
  set_.clear();
  for (int32_t alt : grammar_->alternatives(grammar_->root())) Expand(alt, -1, 0);
  Store(0, set_.size());
}

void Matcher::Push(int32_t node, size_t out_begin) {
  if (set_.size() - out_begin >= kMaxStacks) {
    overflow_ = true;
    return;
  }
  for (size_t i = out_begin; i < set_.size(); ++i) {
    const int32_t other = set_[i];
    if (other == node) return;
    if (node >= 0 && other >= 0 && nodes_[other].pos == nodes_[node].pos &&
        nodes_[other].parent == nodes_[node].parent) {
      return;
    }
  }
  set_.push_back(node);
}

void Matcher::Expand(int32_t pos, int32_t parent, size_t out_begin) {
  const Grammar& g = *grammar_;
  while (!overflow_) {
    const Grammar::Element& e = g.element(pos);
    if (e.kind == Grammar::Kind::kChars) {
      nodes_.push_back({pos, parent});
      Push(static_cast<int32_t>(nodes_.size()) - 1, out_begin);
      return;
    }
    if (e.kind == Grammar::Kind::kEnd) {
      if (parent < 0) {
        Push(kAccept, out_begin);
        return;
      }
      pos = nodes_[parent].pos;
      parent = nodes_[parent].parent;
      continue;
    }
    // kRef: continue after the reference once the rule is matched; a
    // reference in tail position needs no frame (right recursion stays flat).
    const int32_t cont = pos + 1;
    int32_t next_parent = parent;
    if (g.element(cont).kind != Grammar::Kind::kEnd) {
      nodes_.push_back({cont, parent});
      next_parent = static_cast<int32_t>(nodes_.size()) - 1;
    }
    for (int32_t alt : g.alternatives(e.arg)) Expand(alt, next_parent, out_begin);
    return;
  }
}

void Matcher::Step(size_t begin, size_t end, uint8_t byte) {
  const size_t out_begin = set_.size();
  for (size_t i = begin; i < end; ++i) {
    const int32_t s = set_[i];
    if (s < 0) continue;
    const Node n = nodes_[s];
    if (!grammar_->Matches(grammar_->element(n.pos).arg, byte)) continue;
    Expand(n.pos + 1, n.parent, out_begin);
  }
}

std::pair<size_t, size_t> Matcher::Load() {
  nodes_.clear();
  set_.clear();
  for (const std::vector<int32_t>& stack : stacks_) {
    int32_t parent = -1;
    for (int32_t pos : stack) {
      nodes_.push_back({pos, parent});
      parent = static_cast<int32_t>(nodes_.size()) - 1;
    }
    set_.push_back(parent < 0 ? kAccept : parent);
  }
  return {0, set_.size()};
}

void Matcher::Store(size_t begin, size_t end) {
  std::vector<std::vector<int32_t>> stacks;
  for (size_t i = begin; i < end; ++i) {
    std::vector<int32_t> stack;
    for (int32_t n = set_[i]; n >= 0; n = nodes_[n].parent) stack.push_back(nodes_[n].pos);
    std::reverse(stack.begin(), stack.end());
    stacks.push_back(std::move(stack));
  }
  std::sort(stacks.begin(), stacks.end());
  stacks.erase(std::unique(stacks.begin(), stacks.end()), stacks.end());
  stacks_ = std::move(stacks);
  if (overflow_) {
    status_ = absl::ResourceExhaustedError(
        "the output grammar is too ambiguous (too many parallel parses)");
    stacks_.clear();
  }
}

bool Matcher::Advance(std::string_view bytes) {
  if (!status_.ok()) return false;
  auto [begin, end] = Load();
  for (char c : bytes) {
    const size_t next = set_.size();
    Step(begin, end, static_cast<uint8_t>(c));
    begin = next;
    end = set_.size();
    if (begin == end) return false;
  }
  Store(begin, end);
  return status_.ok();
}

bool Matcher::IsComplete() const {
  return std::any_of(stacks_.begin(), stacks_.end(), [](const auto& s) { return s.empty(); });
}

bool Matcher::CanContinue() const {
  return std::any_of(stacks_.begin(), stacks_.end(), [](const auto& s) { return !s.empty(); });
}

void Matcher::Visit(const TokenTrie& trie, int32_t node, size_t begin, size_t end,
                    absl::Span<uint64_t> allowed) {
  const std::vector<TokenTrie::Node>& nodes = trie.nodes();
  const int32_t stop = nodes[node].end;
  for (int32_t child = node + 1; child < stop; child = nodes[child].end) {
    const size_t nodes_mark = nodes_.size();
    const size_t set_mark = set_.size();
    Step(begin, end, nodes[child].byte);
    if (set_.size() > set_mark) {
      for (int32_t t : trie.TokensAt(child)) allowed[t >> 6] |= uint64_t{1} << (t & 63);
      if (nodes[child].end > child + 1) Visit(trie, child, set_mark, set_.size(), allowed);
    }
    nodes_.resize(nodes_mark);
    set_.resize(set_mark);
  }
}

void Matcher::Mask(const TokenTrie& trie, absl::Span<uint64_t> allowed) {
  if (!status_.ok()) return;
  auto [begin, end] = Load();
  Visit(trie, 0, begin, end, allowed);
  overflow_ = false;  // an overflow inside a mask only drops candidates
}

}  // namespace triptych::grammar
