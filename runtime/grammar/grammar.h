#ifndef TRIPTYCH_RUNTIME_GRAMMAR_GRAMMAR_H_
#define TRIPTYCH_RUNTIME_GRAMMAR_GRAMMAR_H_

// A byte-level context-free grammar: rules made of alternatives, each a
// sequence of byte classes and references to other rules. Built with
// GrammarBuilder (the JSON Schema compiler is its main user), immutable
// afterwards and shared by every sequence that uses it (thread-safe to read).
//
// Build() refuses grammars a left-to-right parser could loop on: a rule that
// reaches itself without consuming a byte (left recursion, e.g. a $ref
// cycle in a schema).

#include <array>
#include <bitset>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace triptych::grammar {

using ByteSet = std::bitset<256>;

class Grammar {
 public:
  enum class Kind : uint8_t { kEnd, kChars, kRef };
  struct Element {
    Kind kind;
    int32_t arg;  // kChars: byte-set index; kRef: rule index
  };

  int32_t root() const { return root_; }
  int32_t num_rules() const { return static_cast<int32_t>(rule_first_.size()) - 1; }
  const Element& element(int32_t pos) const { return elements_[pos]; }
  // Start positions (into element()) of `rule`'s alternatives; each runs to
  // a kEnd element.
  absl::Span<const int32_t> alternatives(int32_t rule) const {
    return absl::MakeConstSpan(alt_starts_).subspan(
        rule_first_[rule], rule_first_[rule + 1] - rule_first_[rule]);
  }
  bool Matches(int32_t set, uint8_t byte) const {
    return (sets_[set][byte >> 6] >> (byte & 63)) & 1;
  }
  size_t num_elements() const { return elements_.size(); }

 private:
  friend class GrammarBuilder;
  int32_t root_ = 0;
  std::vector<Element> elements_;
  std::vector<int32_t> alt_starts_;
  std::vector<int32_t> rule_first_;  // num_rules + 1 offsets into alt_starts_
  std::vector<std::array<uint64_t, 4>> sets_;
};

// Assembles a Grammar. Not thread-safe.
class GrammarBuilder {
 public:
  struct Symbol {
    bool is_rule;
    int32_t id;  // rule index or byte-set index
  };

  int32_t NewRule();
  Symbol Chars(const ByteSet& set);
  Symbol Byte(uint8_t b);
  static Symbol Ref(int32_t rule) { return {true, rule}; }
  // Appends `literal` byte by byte to *seq.
  void AppendLiteral(std::string_view literal, std::vector<Symbol>* seq);
  void AddAlternative(int32_t rule, std::vector<Symbol> sequence);
  // A rule matching `body` between min and max times (max < 0: unbounded),
  // with `separator` (may be empty) between repetitions.
  int32_t Repeat(const std::vector<Symbol>& body, const std::vector<Symbol>& separator,
                 int64_t min, int64_t max);
  // Elements so far (a size guard for compilers).
  size_t size() const { return num_symbols_; }

  // Errors: kInvalidArgument when a rule can reach itself without consuming
  // input, or a rule has no alternative.
  absl::StatusOr<std::shared_ptr<const Grammar>> Build(int32_t root) const;

 private:
  std::vector<std::vector<std::vector<Symbol>>> rules_;
  std::vector<ByteSet> sets_;
  absl::flat_hash_map<std::string, int32_t> set_ids_;
  size_t num_symbols_ = 0;
};

}  // namespace triptych::grammar

#endif  // TRIPTYCH_RUNTIME_GRAMMAR_GRAMMAR_H_
