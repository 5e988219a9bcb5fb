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

std::pair<size_t, size_t> Matcher::Load(const Stacks& stacks) {
  nodes_.clear();
  set_.clear();
  for (const std::vector<int32_t>& stack : stacks) {
    int32_t parent = -1;
    for (int32_t pos : stack) {
      nodes_.push_back({pos, parent});
      parent = static_cast<int32_t>(nodes_.size()) - 1;
    }
    set_.push_back(parent < 0 ? kAccept : parent);
  }
  return {0, set_.size()};
}

Matcher::Stacks Matcher::Extract(size_t begin, size_t end) const {
  Stacks stacks;
  for (size_t i = begin; i < end; ++i) {
    std::vector<int32_t> stack;
    for (int32_t n = set_[i]; n >= 0; n = nodes_[n].parent) stack.push_back(nodes_[n].pos);
    std::reverse(stack.begin(), stack.end());
    stacks.push_back(std::move(stack));
  }
  std::sort(stacks.begin(), stacks.end());
  stacks.erase(std::unique(stacks.begin(), stacks.end()), stacks.end());
  return stacks;
}

void Matcher::Store(size_t begin, size_t end) {
  stacks_ = Extract(begin, end);
  if (overflow_) {
    status_ = absl::ResourceExhaustedError(
        "the output grammar is too ambiguous (too many parallel parses)");
    stacks_.clear();
  }
}

bool Matcher::Advance(std::string_view bytes) {
  if (!status_.ok()) return false;
  loaded_ = -1;  // the arena is reused below
  auto [begin, end] = Load(stacks_);
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

int32_t Matcher::Intern(Stacks stacks) {
  auto [it, inserted] = state_ids_.emplace(std::move(stacks), static_cast<int32_t>(states_.size()));
  if (inserted) states_.push_back(it->first);
  return it->second;
}

int32_t Matcher::Transition(int32_t state, uint8_t byte) {
  const int64_t key = (static_cast<int64_t>(state) << 8) | byte;
  if (auto it = transitions_.find(key); it != transitions_.end()) return it->second;
  // The arena keeps the last loaded state: a trie node's children are
  // stepped from the same state one after another.
  if (loaded_ != state) {
    Load(states_[state]);
    loaded_ = state;
    loaded_nodes_ = nodes_.size();
    loaded_set_ = set_.size();
  }
  Step(0, loaded_set_, byte);
  overflow_ = false;  // an overflow inside a mask only drops candidates
  const int32_t to = set_.size() > loaded_set_ ? Intern(Extract(loaded_set_, set_.size())) : -1;
  nodes_.resize(loaded_nodes_);
  set_.resize(loaded_set_);
  transitions_.emplace(key, to);
  return to;
}

void Matcher::Visit(const TokenTrie& trie, int32_t node, int32_t state,
                    absl::Span<uint64_t> allowed) {
  const std::vector<TokenTrie::Node>& nodes = trie.nodes();
  const int32_t stop = nodes[node].end;
  for (int32_t child = node + 1; child < stop; child = nodes[child].end) {
    const int32_t next = Transition(state, nodes[child].byte);
    if (next < 0) continue;
    for (int32_t t : trie.TokensAt(child)) allowed[t >> 6] |= uint64_t{1} << (t & 63);
    if (nodes[child].end > child + 1) Visit(trie, child, next, allowed);
  }
}

void Matcher::Mask(const TokenTrie& trie, absl::Span<uint64_t> allowed) {
  if (!status_.ok()) return;
  if (cache_trie_ != &trie) {
    mask_cache_.clear();
    cache_trie_ = &trie;
  }
  const size_t words = (static_cast<size_t>(trie.vocab_size()) + 63) / 64;
  auto it = mask_cache_.find(stacks_);
  if (it == mask_cache_.end()) {
    if (mask_cache_.size() >= kMaskCacheEntries) mask_cache_.clear();
    loaded_ = -1;
    if (states_.size() > kMaxInternedStates) {
      states_.clear();
      state_ids_.clear();
      transitions_.clear();
    }
    std::vector<uint64_t> bits(words, 0);
    Visit(trie, 0, Intern(stacks_), absl::MakeSpan(bits));
    it = mask_cache_.emplace(stacks_, std::move(bits)).first;
  }
  const std::vector<uint64_t>& bits = it->second;
  for (size_t w = 0; w < words && w < allowed.size(); ++w) allowed[w] |= bits[w];
}

}  // namespace triptych::grammar
