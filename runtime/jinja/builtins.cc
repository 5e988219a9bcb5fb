// Builtin filters, tests, methods and global functions, with the semantics of
// jinja2 3.1 and Python 3 (string case mapping is ASCII-only).

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "runtime/jinja/interpreter.h"
#include "runtime/jinja/provenance.h"

namespace triptych::jinja {
namespace {

// Python's str.isspace() code points, as UTF-8 lengths are checked by caller.
size_t SpaceLenAt(std::string_view s, size_t i) {
  const unsigned char c = s[i];
  if (c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f)) return 1;
  if (c == 0xC2 && i + 1 < s.size() && (static_cast<unsigned char>(s[i + 1]) == 0x85 || static_cast<unsigned char>(s[i + 1]) == 0xA0)) return 2;
  if (c == 0xE2 && i + 2 < s.size()) {
    const unsigned char b = s[i + 1], d = s[i + 2];
    if (b == 0x80 && ((d >= 0x80 && d <= 0x8A) || d == 0xA8 || d == 0xA9 || d == 0xAF)) return 3;
    if (b == 0x81 && d == 0x9F) return 3;
  }
  if (c == 0xE3 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 && static_cast<unsigned char>(s[i + 2]) == 0x80) return 3;
  if (c == 0xE1 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x9A && static_cast<unsigned char>(s[i + 2]) == 0x80) return 3;
  return 0;
}
// Length of a whitespace code point ending at s[e-1], or 0.
size_t SpaceLenBefore(std::string_view s, size_t e) {
  for (size_t len = 1; len <= 3 && len <= e; ++len)
    if (SpaceLenAt(s, e - len) == len) return len;
  return 0;
}

// The bytes [first, second) of `s` that Python's strip/lstrip/rstrip keeps.
std::pair<size_t, size_t> StripBounds(std::string_view s, const Value& chars, bool left, bool right) {
  size_t b = 0, e = s.size();
  if (chars.is_string()) {
    const auto offs = CodePointOffsets(chars.str());
    std::vector<std::string_view> set;
    for (size_t i = 0; i + 1 < offs.size(); ++i) set.push_back(std::string_view(chars.str()).substr(offs[i], offs[i + 1] - offs[i]));
    auto match_at = [&](size_t i) -> size_t {
      for (auto c : set) if (s.substr(i, c.size()) == c) return c.size();
      return 0;
    };
    auto match_before = [&](size_t i) -> size_t {
      for (auto c : set) if (c.size() <= i && s.substr(i - c.size(), c.size()) == c) return c.size();
      return 0;
    };
    while (left && b < e) { size_t l = match_at(b); if (!l) break; b += l; }
    while (right && e > b) { size_t l = match_before(e); if (!l) break; e -= l; }
  } else {
    while (left && b < e) { size_t l = SpaceLenAt(s, b); if (!l) break; b += l; }
    while (right && e > b) { size_t l = SpaceLenBefore(s, e); if (!l) break; e -= l; }
  }
  return {b, e};
}

std::string Strip(std::string_view s, const Value& chars, bool left, bool right) {
  const auto [b, e] = StripBounds(s, chars, left, right);
  return std::string(s.substr(b, e - b));
}

// str.strip & co. on a string value, provenance kept.
Value StripValue(const Value& s, const Value& chars, bool left, bool right) {
  const auto [b, e] = StripBounds(s.str(), chars, left, right);
  return Substring(s, b, e);
}

std::string Lower(std::string s) { for (char& c : s) c = std::tolower(static_cast<unsigned char>(c)); return s; }
std::string Upper(std::string s) { for (char& c : s) c = std::toupper(static_cast<unsigned char>(c)); return s; }
std::string Title(std::string s) {
  bool prev_cased = false;
  for (char& c : s) {
    const bool alpha = std::isalpha(static_cast<unsigned char>(c));
    if (alpha) c = prev_cased ? std::tolower(static_cast<unsigned char>(c)) : std::toupper(static_cast<unsigned char>(c));
    prev_cased = alpha || (static_cast<unsigned char>(c) >= 0x80);
  }
  return s;
}

// Argument `i` / keyword `name`, or `dflt`.
Value Arg(const CallArgs& a, size_t i, const std::string& name, Value dflt = Value()) {
  for (const auto& [k, v] : a.keyword) if (k == name) return v;
  if (i < a.positional.size()) return a.positional[i];
  return dflt;
}

absl::StatusOr<std::string> ArgString(const CallArgs& a, size_t i, const std::string& name, const std::string& what) {
  Value v = Arg(a, i, name);
  if (!v.is_string()) return TypeError(absl::StrCat(what, ": argument '", name, "' must be a string, not ", TypeName(v)));
  return v.str();
}

// Python's str.splitlines() (\n, \r, \r\n) as byte ranges of `s`.
std::vector<std::pair<size_t, size_t>> SplitLineRanges(const std::string& s) {
  std::vector<std::pair<size_t, size_t>> lines;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' || s[i] == '\r') {
      lines.emplace_back(start, i);
      if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  if (start < s.size()) lines.emplace_back(start, s.size());
  return lines;
}

absl::StatusOr<Value> AttrOf(Interpreter& in, const Value& v, const std::string& attr) {
  Value cur = v;
  size_t start = 0;
  while (true) {
    const size_t dot = attr.find('.', start);
    const std::string part = attr.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (cur.is_dict() || cur.is_namespace()) {
      const Value* f = cur.dict().Find(part);
      cur = f ? *f : Value();
    } else if (cur.is_list() && !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit)) {
      const size_t i = std::stoul(part);
      cur = i < cur.list().size() ? cur.list()[i] : Value();
    } else {
      cur = in.GetMethod(cur, part);
    }
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

CallArgs Rest(const CallArgs& a, size_t from) {
  CallArgs r;
  for (size_t i = from; i < a.positional.size(); ++i) r.positional.push_back(a.positional[i]);
  r.keyword = a.keyword;
  return r;
}

}  // namespace

absl::StatusOr<Value> Interpreter::ApplyFilter(const std::string& name, const Value& v, CallArgs& args) {
  if (auto s = Step(); !s.ok()) return s;
  if (name == "tojson") {
    JsonDumpOptions o;
    o.ensure_ascii = Arg(args, 0, "ensure_ascii", Value::Bool(false)).Truthy();
    const Value indent = Arg(args, 1, "indent", Value::None());
    if (indent.is_int()) o.indent = static_cast<int>(std::clamp<int64_t>(indent.int_value(), 0, 64));
    else if (indent.is_string()) o.indent_text = indent.str();
    const Value seps = Arg(args, 2, "separators", Value::None());
    if (seps.is_list()) {
      if (seps.list().size() != 2 || !seps.list()[0].is_string() || !seps.list()[1].is_string())
        return TypeError("tojson: separators must be two strings");
      o.item_separator = seps.list()[0].str();
      o.key_separator = seps.list()[1].str();
      o.item_separator_set = true;
    }
    o.sort_keys = Arg(args, 3, "sort_keys", Value::Bool(false)).Truthy();
    auto s = DumpJson(v, o);
    if (!s.ok()) return s.status();
    if (auto st = CheckSize(s->size()); !st.ok()) return st;
    return Derived(std::move(*s), {&v});
  }
  if (name == "safe") {
    const Value s = AsString(v);
    return Value::SafeString(s.str()).WithUntrusted(s.untrusted());
  }
  if (name == "string") return AsString(v);
  if (name == "trim") return StripValue(AsString(v), Arg(args, 0, "chars"), true, true);
  if (name == "lower" || name == "upper" || name == "title" || name == "capitalize") {
    const Value s = AsString(v);
    std::string r = name == "upper" ? Upper(s.str()) : name == "title" ? Title(s.str()) : Lower(s.str());
    if (name == "capitalize" && !r.empty()) r[0] = std::toupper(static_cast<unsigned char>(r[0]));
    return SameShape(s, std::move(r));
  }
  if (name == "length" || name == "count") {
    if (v.is_string()) return Value::Int(CodePointCount(v.str()));
    if (v.is_list()) return Value::Int(v.list().size());
    if (v.is_dict() || v.is_namespace()) return Value::Int(v.dict().size());
    if (v.is_undefined()) return Value::Int(0);
    return TypeError(absl::StrCat("object of type '", TypeName(v), "' has no len()"));
  }
  if (name == "default" || name == "d") {
    const bool boolean = Arg(args, 1, "boolean", Value::Bool(false)).Truthy();
    if (v.is_undefined() || (boolean && !v.Truthy())) return Arg(args, 0, "default_value", Value::String(""));
    return v;
  }
  if (name == "first" || name == "last") {
    auto items = Iterate(v);
    if (!items.ok()) return items.status();
    if (items->empty()) return Value();
    return name == "first" ? items->front() : items->back();
  }
  if (name == "list") {
    auto items = Iterate(v);
    if (!items.ok()) return items.status();
    return Value::ListOf(std::move(*items));
  }
  if (name == "items") {
    if (v.is_undefined()) return Value::ListOf({});
    if (!v.is_dict()) return TypeError(absl::StrCat("items: expected a mapping, got ", TypeName(v)));
    std::vector<Value> out;
    for (const auto& [k, e] : v.dict().items()) out.push_back(Value::ListOf({KeyString(v.dict(), k), e}));
    return Value::ListOf(std::move(out));
  }
  if (name == "join") {
    auto items = Iterate(v);
    if (!items.ok()) return items.status();
    const Value sep = Arg(args, 0, "d", Value::String(""));
    const Value attr = Arg(args, 1, "attribute", Value::None());
    TextBuilder out;
    for (size_t i = 0; i < items->size(); ++i) {
      if (i) out.AppendValue(sep);
      Value e = (*items)[i];
      if (attr.is_string()) {
        auto a = AttrOf(*this, e, attr.str());
        if (!a.ok()) return a.status();
        e = *a;
      }
      out.AppendValue(e);
      if (auto s = CheckSize(out.size()); !s.ok()) return s;
    }
    return out.TakeValue();
  }
  if (name == "int") {
    const Value dflt = Arg(args, 0, "default", Value::Int(0));
    if (v.is_int() || v.is_bool()) return Value::Int(v.int_value());
    if (v.is_float()) {
      if (!std::isfinite(v.float_value()) || std::fabs(v.float_value()) > 9.2e18) return dflt;
      return Value::Int(static_cast<int64_t>(v.float_value()));
    }
    if (v.is_string()) {
      const std::string s = Strip(v.str(), Value(), true, true);
      char* end = nullptr;
      errno = 0;
      const long long i = std::strtoll(s.c_str(), &end, 10);
      if (!s.empty() && end == s.c_str() + s.size() && errno == 0) return Value::Int(i);
      const double d = std::strtod(s.c_str(), &end);
      if (!s.empty() && end == s.c_str() + s.size() && std::isfinite(d) && std::fabs(d) < 9.2e18)
        return Value::Int(static_cast<int64_t>(d));
    }
    return dflt;
  }
  if (name == "float") {
    if (v.is_number()) return Value::Float(v.AsDouble());
    if (v.is_string()) {
      char* end = nullptr;
      const double d = std::strtod(v.str().c_str(), &end);
      if (!v.str().empty() && end == v.str().c_str() + v.str().size()) return Value::Float(d);
    }
    return Arg(args, 0, "default", Value::Float(0));
  }
  if (name == "abs") {
    if (v.is_float()) return Value::Float(std::fabs(v.float_value()));
    if (v.is_int() || v.is_bool()) {
      if (v.int_value() == INT64_MIN) return TypeError("integer overflow");
      return Value::Int(std::llabs(v.int_value()));
    }
    return TypeError(absl::StrCat("bad operand type for abs(): '", TypeName(v), "'"));
  }
  if (name == "indent") {
    const Value w = Arg(args, 0, "width", Value::Int(4));
    Value ind;
    if (w.is_string()) ind = w;
    else if (w.is_int()) ind = Value::String(std::string(std::clamp<int64_t>(w.int_value(), 0, 256), ' '));
    else return TypeError("indent: width must be an int or a string");
    const bool first = Arg(args, 1, "first", Value::Bool(false)).Truthy();
    const bool blank = Arg(args, 2, "blank", Value::Bool(false)).Truthy();
    const Value text = AsString(v);
    // The lines of text + "\n": all within text (the added newline only
    // ends the last one).
    const auto lines = SplitLineRanges(text.str() + "\n");
    TextBuilder rv;
    if (first) rv.AppendValue(ind);
    for (size_t i = 0; i < lines.size(); ++i) {
      const bool empty = lines[i].first == lines[i].second;
      if (i) {
        rv.Append("\n");
        if (blank || !empty) rv.AppendValue(ind);
      }
      rv.AppendSubstring(text, lines[i].first, lines[i].second);
      if (auto st = CheckSize(rv.size()); !st.ok()) return st;
    }
    return rv.TakeValue();
  }
  if (name == "replace") {
    auto old_s = ArgString(args, 0, "old", "replace");
    auto new_s = ArgString(args, 1, "new", "replace");
    if (!old_s.ok()) return old_s.status();
    if (!new_s.ok()) return new_s.status();
    CallArgs margs;
    margs.positional = {Arg(args, 0, "old"), Arg(args, 1, "new")};
    const Value count = Arg(args, 2, "count");
    if (count.is_int()) margs.positional.push_back(count);
    return Call(GetMethod(AsString(v), "replace"), margs);
  }
  if (name == "unique") {
    auto items = Iterate(v);
    if (!items.ok()) return items.status();
    const bool cs = Arg(args, 0, "case_sensitive", Value::Bool(false)).Truthy();
    const Value attr = Arg(args, 1, "attribute", Value::None());
    std::vector<Value> out, keys;
    for (const Value& e : *items) {
      Value key = e;
      if (attr.is_string()) {
        auto a = AttrOf(*this, e, attr.str());
        if (!a.ok()) return a.status();
        key = *a;
      }
      if (!cs && key.is_string()) key = Value::String(Lower(key.str()));
      bool seen = false;
      for (const Value& k : keys) seen |= Equals(k, key);
      if (auto s = Step(); !s.ok()) return s;
      if (!seen) {
        keys.push_back(key);
        out.push_back(e);
      }
    }
    return Value::ListOf(std::move(out));
  }
  if (name == "reverse") {
    if (v.is_string()) {
      auto items = Iterate(v);
      TextBuilder out;
      for (auto it = items->rbegin(); it != items->rend(); ++it) out.AppendValue(*it);
      return out.TakeValue();
    }
    auto items = Iterate(v);
    if (!items.ok()) return items.status();
    std::reverse(items->begin(), items->end());
    return Value::ListOf(std::move(*items));
  }
  if (name == "map") {
    auto items = Iterate(v.Truthy() ? v : Value());
    if (!items.ok()) return items.status();
    const Value attr = Arg(args, 99, "attribute");
    std::vector<Value> out;
    for (const Value& e : *items) {
      if (attr.is_string()) {
        auto a = AttrOf(*this, e, attr.str());
        if (!a.ok()) return a.status();
        out.push_back(a->is_undefined() ? Arg(args, 99, "default") : *a);
        continue;
      }
      if (args.positional.empty() || !args.positional[0].is_string()) return TypeError("map: needs a filter name or attribute=");
      CallArgs rest = Rest(args, 1);
      auto r = ApplyFilter(args.positional[0].str(), e, rest);
      if (!r.ok()) return r.status();
      out.push_back(std::move(*r));
    }
    return Value::ListOf(std::move(out));
  }
  if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
    auto items = Iterate(v.Truthy() ? v : Value());
    if (!items.ok()) return items.status();
    const bool by_attr = name == "selectattr" || name == "rejectattr";
    const bool keep_if = name == "select" || name == "selectattr";
    size_t next = 0;
    std::string attr;
    if (by_attr) {
      if (args.positional.empty() || !args.positional[0].is_string()) return TypeError(absl::StrCat(name, ": needs an attribute name"));
      attr = args.positional[0].str();
      next = 1;
    }
    std::string test;
    if (args.positional.size() > next) {
      if (!args.positional[next].is_string()) return TypeError(absl::StrCat(name, ": test name must be a string"));
      test = args.positional[next].str();
    }
    CallArgs rest = Rest(args, next + 1);
    std::vector<Value> out;
    for (const Value& e : *items) {
      Value subject = e;
      if (by_attr) {
        auto a = AttrOf(*this, e, attr);
        if (!a.ok()) return a.status();
        subject = *a;
      }
      bool ok;
      if (test.empty()) {
        ok = subject.Truthy();
      } else {
        auto r = ApplyTest(test, subject, rest);
        if (!r.ok()) return r.status();
        ok = *r;
      }
      if (ok == keep_if) out.push_back(e);
    }
    return Value::ListOf(std::move(out));
  }
  if (name == "sort" || name == "dictsort" || name == "min" || name == "max" || name == "sum") {
    auto items = Iterate(name == "dictsort" ? Value() : v);
    if (!items.ok()) return items.status();
    if (name == "dictsort") {
      Value it_args;
      CallArgs none;
      auto pairs = ApplyFilter("items", v, none);
      if (!pairs.ok()) return pairs.status();
      *items = pairs->list();
    }
    if (name == "sum") {
      Value acc = Arg(args, 1, "start", Value::Int(0));
      for (const Value& e : *items) {
        if (!e.is_number() || !acc.is_number()) return TypeError("sum: items must be numbers");
        if (acc.is_float() || e.is_float()) acc = Value::Float(acc.AsDouble() + e.AsDouble());
        else acc = Value::Int(acc.int_value() + e.int_value());
      }
      return acc;
    }
    absl::Status err;
    std::stable_sort(items->begin(), items->end(), [&](const Value& a, const Value& b) {
      auto r = Less(a, b);
      if (!r.ok()) { err = r.status(); return false; }
      return *r;
    });
    if (!err.ok()) return err;
    if (name == "min") return items->empty() ? Value() : items->front();
    if (name == "max") return items->empty() ? Value() : items->back();
    if (Arg(args, 0, "reverse", Value::Bool(false)).Truthy()) std::reverse(items->begin(), items->end());
    return Value::ListOf(std::move(*items));
  }
  if (name == "round") {
    const double d = v.AsDouble();
    const int64_t prec = Arg(args, 0, "precision", Value::Int(0)).int_value();
    const double p = std::pow(10.0, std::clamp<int64_t>(prec, -20, 20));
    return Value::Float(std::nearbyint(d * p) / p);
  }
  if (name == "wordcount") {
    CallArgs none;
    auto words = Call(GetMethod(Value::String(ToPythonString(v)), "split"), none);
    if (!words.ok()) return words.status();
    return Value::Int(words->list().size());
  }
  if (name == "e" || name == "escape" || name == "forceescape") {
    if (v.is_safe() && name != "forceescape") return v;
    const Value escaped = Derived(HtmlEscape(ToPythonString(v)), {&v});
    return Value::SafeString(escaped.str()).WithUntrusted(escaped.untrusted());
  }
  return TypeError(absl::StrCat("no filter named '", name, "'"));
}

std::string HtmlEscape(const std::string& s) {
    std::string out;
    for (char c : s) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&#34;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
      }
    }
    return out;
}

absl::StatusOr<bool> Interpreter::ApplyTest(const std::string& name, const Value& v, CallArgs& args) {
  if (auto s = Step(); !s.ok()) return s;
  const Value arg = args.positional.empty() ? Value() : args.positional[0];
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable") return v.is_list() || v.is_string() || v.is_dict() || v.is_undefined();
  if (name == "sequence") return v.is_list() || v.is_string() || v.is_dict() || v.is_undefined();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.bool_value();
  if (name == "false") return v.is_bool() && !v.bool_value();
  if (name == "callable") return v.is_callable();
  if (name == "lower") return v.is_string() && Lower(v.str()) == v.str();
  if (name == "upper") return v.is_string() && Upper(v.str()) == v.str();
  if (name == "equalto" || name == "eq" || name == "==") return Equals(v, arg);
  if (name == "ne" || name == "!=") return !Equals(v, arg);
  if (name == "sameas") return v.SameAs(arg);
  if (name == "in") return Contains(arg, v);
  if (name == "lt" || name == "lessthan" || name == "<") return Less(v, arg);
  if (name == "gt" || name == "greaterthan" || name == ">") return Less(arg, v);
  if (name == "le" || name == "<=") { auto r = Less(arg, v); if (!r.ok()) return r; return !*r; }
  if (name == "ge" || name == ">=") { auto r = Less(v, arg); if (!r.ok()) return r; return !*r; }
  if (name == "odd" || name == "even" || name == "divisibleby") {
    if (!v.is_int() && !v.is_bool()) return TypeError(absl::StrCat("test '", name, "' needs an integer"));
    if (name == "odd") return (v.int_value() % 2) != 0;
    if (name == "even") return (v.int_value() % 2) == 0;
    if (!arg.is_int() || arg.int_value() == 0) return TypeError("divisibleby needs a non-zero integer");
    return v.int_value() % arg.int_value() == 0;
  }
  return TypeError(absl::StrCat("no test named '", name, "'"));
}

Value Interpreter::GetMethod(const Value& obj, const std::string& name) {
  const std::string n(name);
  if (obj.is_string()) {
    static const char* kMethods[] = {"strip", "lstrip", "rstrip", "split", "rsplit", "startswith", "endswith", "replace",
                                     "upper", "lower", "title", "capitalize", "find", "count", "splitlines", "join",
                                     "isdigit", "isalpha", "isalnum", "isspace", "islower", "isupper"};
    if (std::find(std::begin(kMethods), std::end(kMethods), name) == std::end(kMethods)) return Value();
    const Value sv = obj;  // the string, with its provenance
    return Value::Callable("str." + n, [this, sv, n](CallArgs& a) -> absl::StatusOr<Value> {
      const std::string& s = sv.str();
      if (n == "strip" || n == "lstrip" || n == "rstrip") {
        const Value chars = Arg(a, 0, "chars", Value::None());
        return StripValue(sv, chars, n != "rstrip", n != "lstrip");
      }
      if (n == "upper") return SameShape(sv, Upper(s));
      if (n == "lower") return SameShape(sv, Lower(s));
      if (n == "title") return SameShape(sv, Title(s));
      if (n == "capitalize") {
        std::string r = Lower(s);
        if (!r.empty()) r[0] = std::toupper(static_cast<unsigned char>(r[0]));
        return SameShape(sv, std::move(r));
      }
      if (n == "startswith" || n == "endswith") {
        const Value p = Arg(a, 0, "prefix");
        std::vector<Value> options = p.is_list() ? p.list() : std::vector<Value>{p};
        for (const Value& o : options) {
          if (!o.is_string()) return TypeError(absl::StrCat(n, " arg must be str or a tuple of str"));
          if (n == "startswith" ? absl::StartsWith(s, o.str()) : absl::EndsWith(s, o.str())) return Value::Bool(true);
        }
        return Value::Bool(false);
      }
      if (n == "split" || n == "rsplit") {
        const Value sep = Arg(a, 0, "sep", Value::None());
        const Value maxv = Arg(a, 1, "maxsplit", Value::Int(-1));
        int64_t maxsplit = maxv.is_int() ? maxv.int_value() : -1;
        std::vector<Value> parts;
        if (sep.is_none()) {
          size_t i = 0;
          while (i < s.size()) {
            while (i < s.size() && SpaceLenAt(s, i)) i += SpaceLenAt(s, i);
            if (i >= s.size()) break;
            size_t j = i;
            while (j < s.size() && !SpaceLenAt(s, j)) ++j;
            if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit && n == "split") {
              const auto [b, e] = StripBounds(std::string_view(s).substr(i), Value(), false, true);
              parts.push_back(Substring(sv, i + b, i + e));
              break;
            }
            parts.push_back(Substring(sv, i, j));
            i = j;
          }
          return Value::ListOf(std::move(parts));
        }
        if (!sep.is_string()) return TypeError("split: separator must be a string");
        if (sep.str().empty()) return TypeError("empty separator");
        size_t start = 0;
        while (true) {
          if (maxsplit == 0) break;
          const size_t p = s.find(sep.str(), start);
          if (p == std::string::npos) break;
          parts.push_back(Substring(sv, start, p));
          start = p + sep.str().size();
          if (maxsplit > 0) --maxsplit;
          if (auto st = Step(); !st.ok()) return st;
        }
        parts.push_back(Substring(sv, start, s.size()));
        return Value::ListOf(std::move(parts));
      }
      if (n == "replace") {
        auto old_s = ArgString(a, 0, "old", "replace");
        auto new_s = ArgString(a, 1, "new", "replace");
        if (!old_s.ok()) return old_s.status();
        if (!new_s.ok()) return new_s.status();
        int64_t count = Arg(a, 2, "count", Value::Int(-1)).int_value();
        const Value new_v = Arg(a, 1, "new");
        TextBuilder out;
        if (old_s->empty()) {
          const auto offs = CodePointOffsets(s);
          for (size_t i = 0; i + 1 < offs.size(); ++i) {
            if (count != 0) { out.AppendValue(new_v); --count; }
            out.AppendSubstring(sv, offs[i], offs[i + 1]);
            if (auto st = CheckSize(out.size()); !st.ok()) return st;
          }
          if (count != 0) out.AppendValue(new_v);
        } else {
          size_t start = 0;
          while (count != 0) {
            const size_t p = s.find(*old_s, start);
            if (p == std::string::npos) break;
            out.AppendSubstring(sv, start, p);
            out.AppendValue(new_v);
            start = p + old_s->size();
            --count;
            if (auto st = CheckSize(out.size()); !st.ok()) return st;
          }
          out.AppendSubstring(sv, start, s.size());
        }
        if (auto st = CheckSize(out.size()); !st.ok()) return st;
        return out.TakeValue();
      }
      if (n == "find" || n == "count") {
        auto sub = ArgString(a, 0, "sub", n);
        if (!sub.ok()) return sub.status();
        if (n == "find") {
          const size_t p = s.find(*sub);
          return Value::Int(p == std::string::npos ? -1 : static_cast<int64_t>(CodePointCount(s.substr(0, p))));
        }
        if (sub->empty()) return Value::Int(CodePointCount(s) + 1);
        int64_t c = 0;
        for (size_t p = s.find(*sub); p != std::string::npos; p = s.find(*sub, p + sub->size())) ++c;
        return Value::Int(c);
      }
      if (n == "splitlines") {
        std::vector<Value> out;
        for (const auto& [b, e] : SplitLineRanges(s)) out.push_back(Substring(sv, b, e));
        return Value::ListOf(std::move(out));
      }
      if (n == "join") {
        auto items = Iterate(Arg(a, 0, "iterable"));
        if (!items.ok()) return items.status();
        TextBuilder out;
        for (size_t i = 0; i < items->size(); ++i) {
          if (!(*items)[i].is_string()) return TypeError("join: sequence item is not a string");
          if (i) out.AppendValue(sv);
          out.AppendValue((*items)[i]);
          if (auto st = CheckSize(out.size()); !st.ok()) return st;
        }
        return out.TakeValue();
      }
      auto all = [&](auto pred) {
        if (s.empty()) return Value::Bool(false);
        for (unsigned char c : s) if (!pred(c)) return Value::Bool(false);
        return Value::Bool(true);
      };
      if (n == "isdigit") return all([](unsigned char c) { return std::isdigit(c) != 0; });
      if (n == "isalpha") return all([](unsigned char c) { return std::isalpha(c) != 0; });
      if (n == "isalnum") return all([](unsigned char c) { return std::isalnum(c) != 0; });
      if (n == "isspace") return all([](unsigned char c) { return std::isspace(c) != 0; });
      if (n == "islower") return Value::Bool(Lower(s) == s && Upper(s) != s);
      if (n == "isupper") return Value::Bool(Upper(s) == s && Lower(s) != s);
      return TypeError(absl::StrCat("str has no method ", n));
    });
  }
  if (obj.is_dict()) {
    if (n != "items" && n != "keys" && n != "values" && n != "get") return Value();
    Value d = obj;
    return Value::Callable("dict." + n, [d, n](CallArgs& a) -> absl::StatusOr<Value> {
      if (n == "get") {
        const Value key = Arg(a, 0, "key");
        const Value* v = key.is_string() ? d.dict().Find(key.str()) : nullptr;
        return v ? *v : Arg(a, 1, "default", Value::None());
      }
      std::vector<Value> out;
      for (const auto& [k, e] : d.dict().items()) {
        if (n == "items") out.push_back(Value::ListOf({KeyString(d.dict(), k), e}));
        else if (n == "keys") out.push_back(KeyString(d.dict(), k));
        else out.push_back(e);
      }
      return Value::ListOf(std::move(out));
    });
  }
  return Value();
}

Value Interpreter::GlobalFunction(const std::string& name) {
  if (name == "raise_exception") {
    return Value::Callable("raise_exception", [](CallArgs& a) -> absl::StatusOr<Value> {
      return absl::InvalidArgumentError(absl::StrCat("raise_exception: ", ToPythonString(Arg(a, 0, "msg"))));
    });
  }
  if (name == "namespace" || name == "dict") {
    const bool ns = name == "namespace";
    return Value::Callable(std::string(name), [ns](CallArgs& a) -> absl::StatusOr<Value> {
      Value v = ns ? Value::NewNamespace() : Value::NewDict();
      for (const Value& p : a.positional) {
        if (!p.is_dict()) return TypeError("namespace()/dict() positional argument must be a mapping");
        if (p.dict().untrusted_keys()) v.dict().MarkUntrustedKeys();
        for (const auto& [k, e] : p.dict().items()) v.dict().Set(k, e);
      }
      for (const auto& [k, e] : a.keyword) v.dict().Set(k, e);
      return v;
    });
  }
  if (name == "range") {
    return Value::Callable("range", [this](CallArgs& a) -> absl::StatusOr<Value> {
      int64_t start = 0, stop = 0, step = 1;
      for (const Value& p : a.positional)
        if (!p.is_int()) return TypeError("range() arguments must be integers");
      if (a.positional.size() == 1) stop = a.positional[0].int_value();
      else if (a.positional.size() >= 2) {
        start = a.positional[0].int_value();
        stop = a.positional[1].int_value();
        if (a.positional.size() >= 3) step = a.positional[2].int_value();
      } else {
        return TypeError("range expected at least 1 argument");
      }
      if (step == 0) return TypeError("range() arg 3 must not be zero");
      const long double count = std::max<long double>(0, std::ceil((static_cast<long double>(stop) - start) / step));
      if (count > 100000) return TypeError("range() too large (more than 100000 items)");
      std::vector<Value> out;
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        out.push_back(Value::Int(i));
        if (auto s = Step(); !s.ok()) return s;
      }
      return Value::ListOf(std::move(out));
    });
  }
  if (name == "strftime_now") {
    return Value::Callable("strftime_now", [this](CallArgs& a) -> absl::StatusOr<Value> {
      const Value fmt = Arg(a, 0, "format");
      if (!fmt.is_string()) return TypeError("strftime_now: format must be a string");
      if (fmt.str().size() > 256) return TypeError("strftime_now: format too long");
      const std::time_t t = options().now.has_value() ? *options().now : std::time(nullptr);
      std::tm tm{};
      gmtime_r(&t, &tm);
      char buf[1024];
      const size_t n = std::strftime(buf, sizeof(buf), fmt.str().c_str(), &tm);
      return Derived(std::string(buf, n), {&fmt});
    });
  }
  return Value();
}

}  // namespace triptych::jinja
