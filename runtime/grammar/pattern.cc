#include "runtime/grammar/pattern.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "runtime/grammar/json_schema.h"

namespace triptych::grammar {
namespace {

using Symbol = GrammarBuilder::Symbol;

// An ASCII character class: which of the 128 characters it holds.
using AsciiSet = std::bitset<128>;

AsciiSet Printable() {
  AsciiSet s;
  for (int c = 0x20; c < 0x7f; ++c) s.set(c);
  return s;
}

AsciiSet Digits() {
  AsciiSet s;
  for (int c = '0'; c <= '9'; ++c) s.set(c);
  return s;
}

AsciiSet Word() {
  AsciiSet s = Digits();
  for (int c = 'a'; c <= 'z'; ++c) s.set(c);
  for (int c = 'A'; c <= 'Z'; ++c) s.set(c);
  s.set('_');
  return s;
}

AsciiSet Space() {
  AsciiSet s;
  for (char c : std::string(" \t\n\r\f\v")) s.set(static_cast<uint8_t>(c));
  return s;
}

// Recursive-descent parser building rules as it goes. Not thread-safe.
class PatternParser {
 public:
  PatternParser(std::string_view p, GrammarBuilder* b) : p_(p), b_(b) {}

  absl::StatusOr<int32_t> Parse() {
    if (!p_.empty() && p_[0] == '^') ++i_;
    ASSIGN_OR_RETURN(int32_t r, Alternation());
    if (i_ < p_.size()) return Error("unbalanced ')'");
    return r;
  }

 private:
  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported pattern feature: ", std::string(what), " at offset ", i_));
  }
  bool AtEnd() const { return i_ >= p_.size(); }
  bool AtFinalDollar() const { return i_ + 1 == p_.size() && p_[i_] == '$'; }

  // The JSON-escaped bytes of an ASCII character, as one sequence.
  std::vector<Symbol> AsciiChar(uint8_t c) {
    std::vector<Symbol> seq;
    if (c == '"' || c == '\\') {
      b_->AppendLiteral(std::string("\\") + static_cast<char>(c), &seq);
    } else if (c == '\n') {
      b_->AppendLiteral("\\n", &seq);
    } else if (c == '\r') {
      b_->AppendLiteral("\\r", &seq);
    } else if (c == '\t') {
      b_->AppendLiteral("\\t", &seq);
    } else if (c < 0x20 || c == 0x7f) {
      b_->AppendLiteral(absl::StrCat("\\u00", c < 0x10 ? "0" : "", absl::Hex(c)), &seq);
    } else {
      seq.push_back(b_->Byte(c));
    }
    return seq;
  }

  int32_t SetRule(const AsciiSet& set) {
    const int32_t r = b_->NewRule();
    ByteSet plain;
    for (int c = 0x20; c < 0x7f; ++c) {
      if (set.test(c) && c != '"' && c != '\\') plain.set(c);
    }
    if (plain.any()) b_->AddAlternative(r, {b_->Chars(plain)});
    for (int c = 0; c < 128; ++c) {
      if (!set.test(c) || plain.test(c)) continue;
      b_->AddAlternative(r, AsciiChar(static_cast<uint8_t>(c)));
    }
    return r;
  }

  absl::StatusOr<int32_t> Alternation() {
    const int32_t r = b_->NewRule();
    while (true) {
      ASSIGN_OR_RETURN(std::vector<Symbol> seq, Concat());
      b_->AddAlternative(r, std::move(seq));
      if (!AtEnd() && p_[i_] == '|') {
        ++i_;
        continue;
      }
      return r;
    }
  }

  absl::StatusOr<std::vector<Symbol>> Concat() {
    std::vector<Symbol> seq;
    while (!AtEnd() && p_[i_] != '|' && p_[i_] != ')') {
      if (AtFinalDollar()) {
        ++i_;
        break;
      }
      if (b_->size() > kMaxGrammarSymbols) return Error("pattern too large");
      ASSIGN_OR_RETURN(std::vector<Symbol> atom, Atom());
      ASSIGN_OR_RETURN(atom, Quantified(std::move(atom)));
      seq.insert(seq.end(), atom.begin(), atom.end());
    }
    return seq;
  }

  absl::StatusOr<int64_t> Number() {
    int64_t v = 0;
    const size_t start = i_;
    while (!AtEnd() && p_[i_] >= '0' && p_[i_] <= '9') {
      v = v * 10 + (p_[i_++] - '0');
      if (v > kMaxCount) return Error(absl::StrCat("a repetition count above ", kMaxCount));
    }
    if (i_ == start) return Error("a malformed {n,m} quantifier");
    return v;
  }

  absl::StatusOr<std::vector<Symbol>> Quantified(std::vector<Symbol> atom) {
    if (AtEnd()) return atom;
    int64_t min, max;
    const char c = p_[i_];
    if (c == '*') {
      min = 0, max = -1, ++i_;
    } else if (c == '+') {
      min = 1, max = -1, ++i_;
    } else if (c == '?') {
      min = 0, max = 1, ++i_;
    } else if (c == '{') {
      ++i_;
      ASSIGN_OR_RETURN(min, Number());
      max = min;
      if (!AtEnd() && p_[i_] == ',') {
        ++i_;
        if (!AtEnd() && p_[i_] == '}') {
          max = -1;
        } else {
          ASSIGN_OR_RETURN(max, Number());
        }
      }
      if (AtEnd() || p_[i_] != '}') return Error("a malformed {n,m} quantifier");
      ++i_;
      if (max >= 0 && max < min) return Error("{n,m} with m < n");
    } else {
      return atom;
    }
    if (!AtEnd() && p_[i_] == '?') ++i_;  // lazy: the same language
    if (!AtEnd() && (p_[i_] == '*' || p_[i_] == '+' || p_[i_] == '?' || p_[i_] == '{')) {
      return Error("a quantifier after a quantifier");
    }
    return std::vector<Symbol>{GrammarBuilder::Ref(b_->Repeat(atom, {}, min, max))};
  }

  absl::StatusOr<AsciiSet> ClassEscape(char e) {
    switch (e) {
      case 'd':
        return Digits();
      case 'D':
        return Printable() & ~Digits();
      case 'w':
        return Word();
      case 'W':
        return Printable() & ~Word();
      case 's':
        return Space();
      case 'S':
        return Printable() & ~Space();
      case 'n':
        return AsciiSet().set('\n');
      case 'r':
        return AsciiSet().set('\r');
      case 't':
        return AsciiSet().set('\t');
      default:
        break;
    }
    if (static_cast<uint8_t>(e) < 0x80 && !std::isalnum(static_cast<unsigned char>(e))) {
      return AsciiSet().set(static_cast<uint8_t>(e));
    }
    return Error(absl::StrCat("the escape \\", std::string(1, e)));
  }

  absl::StatusOr<std::vector<Symbol>> Atom() {
    const char c = p_[i_];
    if (c == '(') {
      ++i_;
      if (p_.substr(i_, 2) == "?:") {
        i_ += 2;
      } else if (!AtEnd() && p_[i_] == '?') {
        return Error("lookaround or named groups");
      }
      ASSIGN_OR_RETURN(int32_t r, Alternation());
      if (AtEnd() || p_[i_] != ')') return Error("an unclosed group");
      ++i_;
      return std::vector<Symbol>{GrammarBuilder::Ref(r)};
    }
    if (c == '[') return Class();
    if (c == '.') {
      ++i_;
      return std::vector<Symbol>{GrammarBuilder::Ref(SetRule(Printable()))};
    }
    if (c == '\\') {
      if (i_ + 1 >= p_.size()) return Error("a trailing backslash");
      const char e = p_[i_ + 1];
      i_ += 2;
      ASSIGN_OR_RETURN(AsciiSet set, ClassEscape(e));
      return std::vector<Symbol>{GrammarBuilder::Ref(SetRule(set))};
    }
    if (c == '^' || c == '$') return Error("an anchor inside the pattern");
    if (c == '*' || c == '+' || c == '?' || c == '{') return Error("a quantifier with nothing to repeat");
    if (c == ']' || c == '}') return Error("an unescaped bracket");
    const auto u = static_cast<uint8_t>(c);
    if (u < 0x80) {
      ++i_;
      return AsciiChar(u);
    }
    // A literal non-ASCII character: its UTF-8 bytes.
    const size_t len = u >= 0xf0 ? 4 : u >= 0xe0 ? 3 : u >= 0xc0 ? 2 : 0;
    if (len == 0 || i_ + len > p_.size()) return Error("invalid UTF-8");
    std::vector<Symbol> seq;
    b_->AppendLiteral(p_.substr(i_, len), &seq);
    i_ += len;
    return seq;
  }

  absl::StatusOr<std::vector<Symbol>> Class() {
    ++i_;  // '['
    bool negate = false;
    if (!AtEnd() && p_[i_] == '^') {
      negate = true;
      ++i_;
    }
    AsciiSet set;
    bool first = true;
    while (true) {
      if (AtEnd()) return Error("an unclosed character class");
      char c = p_[i_];
      if (c == ']' && !first) {
        ++i_;
        break;
      }
      first = false;
      AsciiSet item;
      int lo;
      if (c == '\\') {
        if (i_ + 1 >= p_.size()) return Error("a trailing backslash");
        ASSIGN_OR_RETURN(item, ClassEscape(p_[i_ + 1]));
        i_ += 2;
        if (item.count() != 1) {
          set |= item;
          continue;
        }
        lo = static_cast<int>(item._Find_first());
      } else {
        if (static_cast<uint8_t>(c) >= 0x80) return Error("a non-ASCII character in a class");
        lo = static_cast<uint8_t>(c);
        ++i_;
      }
      if (i_ + 1 < p_.size() && p_[i_] == '-' && p_[i_ + 1] != ']') {
        int hi = static_cast<uint8_t>(p_[i_ + 1]);
        if (p_[i_ + 1] == '\\') {
          if (i_ + 2 >= p_.size()) return Error("a trailing backslash");
          ASSIGN_OR_RETURN(AsciiSet h, ClassEscape(p_[i_ + 2]));
          if (h.count() != 1) return Error("a class escape as a range end");
          hi = static_cast<int>(h._Find_first());
          i_ += 3;
        } else {
          i_ += 2;
        }
        if (hi >= 0x80) return Error("a non-ASCII character in a class");
        if (hi < lo) return Error("a reversed range");
        for (int x = lo; x <= hi; ++x) set.set(x);
      } else {
        set.set(lo);
      }
    }
    if (negate) set = Printable() & ~set;
    if (set.none()) return Error("a class that matches nothing");
    return std::vector<Symbol>{GrammarBuilder::Ref(SetRule(set))};
  }

  std::string_view p_;
  size_t i_ = 0;
  GrammarBuilder* b_;
};

}  // namespace

absl::StatusOr<int32_t> CompilePattern(std::string_view pattern, GrammarBuilder* builder) {
  PatternParser parser(pattern, builder);
  return parser.Parse();
}

}  // namespace triptych::grammar
