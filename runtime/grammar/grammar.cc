#include "runtime/grammar/grammar.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace triptych::grammar {

int32_t GrammarBuilder::NewRule() {
  rules_.emplace_back();
  return static_cast<int32_t>(rules_.size()) - 1;
}

GrammarBuilder::Symbol GrammarBuilder::Chars(const ByteSet& set) {
  std::string key = set.to_string();
  auto [it, inserted] = set_ids_.emplace(std::move(key), static_cast<int32_t>(sets_.size()));
  if (inserted) sets_.push_back(set);
  return {false, it->second};
}

GrammarBuilder::Symbol GrammarBuilder::Byte(uint8_t b) {
  ByteSet s;
  s.set(b);
  return Chars(s);
}

void GrammarBuilder::AppendLiteral(std::string_view literal, std::vector<Symbol>* seq) {
  for (char c : literal) seq->push_back(Byte(static_cast<uint8_t>(c)));
}

void GrammarBuilder::AddAlternative(int32_t rule, std::vector<Symbol> sequence) {
  num_symbols_ += sequence.size() + 1;
  rules_[rule].push_back(std::move(sequence));
}

int32_t GrammarBuilder::Repeat(const std::vector<Symbol>& body,
                               const std::vector<Symbol>& separator, int64_t min,
                               int64_t max) {
  // tail := (sep body tail) | eps  (unbounded), or a chain of optional
  // steps for the part between min and max; then min mandatory copies.
  auto with_sep = [&](int32_t next) {
    std::vector<Symbol> seq = separator;
    seq.insert(seq.end(), body.begin(), body.end());
    if (next >= 0) seq.push_back(Ref(next));
    return seq;
  };
  // `rest(k)`: what may follow once k copies were emitted (k >= 1).
  int32_t after = -1;  // rule for "after min copies", or -1 for nothing more
  if (max < 0) {
    const int32_t tail = NewRule();
    AddAlternative(tail, with_sep(tail));
    AddAlternative(tail, {});
    after = tail;
  } else {
    for (int64_t i = max; i > std::max<int64_t>(min, 1); --i) {
      const int32_t r = NewRule();
      AddAlternative(r, with_sep(after));
      AddAlternative(r, {});
      after = r;
    }
  }
  const int32_t rule = NewRule();
  if (min == 0) {
    if (max != 0) {
      std::vector<Symbol> first = body;
      if (after >= 0) first.push_back(Ref(after));
      AddAlternative(rule, std::move(first));
    }
    AddAlternative(rule, {});
    return rule;
  }
  std::vector<Symbol> seq = body;
  for (int64_t i = 1; i < min; ++i) {
    seq.insert(seq.end(), separator.begin(), separator.end());
    seq.insert(seq.end(), body.begin(), body.end());
  }
  if (after >= 0) seq.push_back(Ref(after));
  AddAlternative(rule, std::move(seq));
  return rule;
}

absl::StatusOr<std::shared_ptr<const Grammar>> GrammarBuilder::Build(int32_t root) const {
  const int32_t n = static_cast<int32_t>(rules_.size());
  if (root < 0 || root >= n) return absl::InvalidArgumentError("grammar has no root rule");
  for (int32_t r = 0; r < n; ++r) {
    if (rules_[r].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("grammar rule ", r, " has no alternative (an empty enum or anyOf?)"));
    }
  }
  // Nullable rules (can match the empty string), by fixpoint.
  std::vector<bool> nullable(n, false);
  for (bool changed = true; changed;) {
    changed = false;
    for (int32_t r = 0; r < n; ++r) {
      if (nullable[r]) continue;
      for (const auto& alt : rules_[r]) {
        bool all = true;
        for (const Symbol& s : alt) all = all && s.is_rule && nullable[s.id];
        if (all) {
          nullable[r] = true;
          changed = true;
          break;
        }
      }
    }
  }
  // Edges r -> s when s can start r's match: a cycle is left recursion.
  std::vector<std::vector<int32_t>> edges(n);
  for (int32_t r = 0; r < n; ++r) {
    for (const auto& alt : rules_[r]) {
      for (const Symbol& s : alt) {
        if (!s.is_rule) break;
        edges[r].push_back(s.id);
        if (!nullable[s.id]) break;
      }
    }
  }
  std::vector<uint8_t> color(n, 0);  // 0 new, 1 on the DFS path, 2 done
  std::vector<std::pair<int32_t, size_t>> dfs;
  for (int32_t start = 0; start < n; ++start) {
    if (color[start] != 0) continue;
    dfs.push_back({start, 0});
    color[start] = 1;
    while (!dfs.empty()) {
      auto& [r, next] = dfs.back();
      if (next < edges[r].size()) {
        const int32_t s = edges[r][next++];
        if (color[s] == 1) {
          return absl::InvalidArgumentError(
              "the schema recurses without producing any output (a $ref cycle such as "
              "a schema that is only a reference to itself)");
        }
        if (color[s] == 0) {
          color[s] = 1;
          dfs.push_back({s, 0});
        }
      } else {
        color[r] = 2;
        dfs.pop_back();
      }
    }
  }

  auto g = std::shared_ptr<Grammar>(new Grammar());
  g->root_ = root;
  for (const ByteSet& s : sets_) {
    std::array<uint64_t, 4> words{};
    for (int b = 0; b < 256; ++b) {
      if (s.test(b)) words[b >> 6] |= uint64_t{1} << (b & 63);
    }
    g->sets_.push_back(words);
  }
  g->elements_.reserve(num_symbols_);
  for (int32_t r = 0; r < n; ++r) {
    g->rule_first_.push_back(static_cast<int32_t>(g->alt_starts_.size()));
    for (const auto& alt : rules_[r]) {
      g->alt_starts_.push_back(static_cast<int32_t>(g->elements_.size()));
      for (const Symbol& s : alt) {
        g->elements_.push_back(
            {s.is_rule ? Grammar::Kind::kRef : Grammar::Kind::kChars, s.id});
      }
      g->elements_.push_back({Grammar::Kind::kEnd, 0});
    }
  }
  g->rule_first_.push_back(static_cast<int32_t>(g->alt_starts_.size()));
  return std::shared_ptr<const Grammar>(std::move(g));
}

}  // namespace triptych::grammar
