#include "runtime/jinja/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace triptych::jinja {

const Value* Dict::Find(std::string_view key) const {
  auto it = index_.find(std::string(key));
  return it == index_.end() ? nullptr : &items_[it->second].second;
}

void Dict::Set(std::string key, Value value) {
  auto it = index_.find(key);
  if (it != index_.end()) {
    items_[it->second].second = std::move(value);
    return;
  }
  index_.emplace(key, items_.size());
  items_.emplace_back(std::move(key), std::move(value));
}

bool Dict::Erase(std::string_view key) {
  auto it = index_.find(std::string(key));
  if (it == index_.end()) return false;
  items_.erase(items_.begin() + it->second);
  index_.clear();
  for (size_t i = 0; i < items_.size(); ++i) index_.emplace(items_[i].first, i);
  return true;
}

namespace {

// Clips to [0, size), sorts and merges overlapping or adjacent ranges.
std::vector<ByteRange> NormalizeRanges(std::vector<ByteRange> r, size_t size) {
  size_t n = 0;
  for (ByteRange x : r) {
    x.end = std::min(x.end, size);
    if (x.begin < x.end) r[n++] = x;
  }
  r.resize(n);
  std::sort(r.begin(), r.end(), [](const ByteRange& a, const ByteRange& b) { return a.begin < b.begin; });
  n = 0;
  for (const ByteRange& x : r) {
    if (n > 0 && x.begin <= r[n - 1].end) r[n - 1].end = std::max(r[n - 1].end, x.end);
    else r[n++] = x;
  }
  r.resize(n);
  return r;
}

template <typename Json>
Value FromJsonImpl(const Json& j, bool untrusted) {
  switch (j.type()) {
    case nlohmann::detail::value_t::null: return Value::None();
    case nlohmann::detail::value_t::boolean: return Value::Bool(j.template get<bool>());
    case nlohmann::detail::value_t::number_integer: return Value::Int(j.template get<int64_t>());
    case nlohmann::detail::value_t::number_unsigned: {
      const uint64_t u = j.template get<uint64_t>();
      if (u <= static_cast<uint64_t>(INT64_MAX)) return Value::Int(static_cast<int64_t>(u));
      return Value::Float(static_cast<double>(u));
    }
    case nlohmann::detail::value_t::number_float: return Value::Float(j.template get<double>());
    case nlohmann::detail::value_t::string:
      return untrusted ? Value::UntrustedString(j.template get<std::string>())
                       : Value::String(j.template get<std::string>());
    case nlohmann::detail::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(FromJsonImpl(e, untrusted));
      return Value::ListOf(std::move(items));
    }
    case nlohmann::detail::value_t::object: {
      Value d = Value::NewDict();
      if (untrusted) d.dict().MarkUntrustedKeys();
      for (auto it = j.begin(); it != j.end(); ++it) d.dict().Set(it.key(), FromJsonImpl(it.value(), untrusted));
      return d;
    }
    default: return Value::None();
  }
}

}  // namespace

Value Value::FromJson(const nlohmann::ordered_json& j) { return FromJsonImpl(j, false); }
Value Value::FromJson(const nlohmann::json& j) { return FromJsonImpl(j, false); }
Value Value::FromUntrustedJson(const nlohmann::ordered_json& j) { return FromJsonImpl(j, true); }
Value Value::FromUntrustedJson(const nlohmann::json& j) { return FromJsonImpl(j, true); }

Value Value::UntrustedString(std::string s) {
  const size_t size = s.size();
  return StringWithUntrusted(std::move(s), {ByteRange{0, size}});
}

Value Value::StringWithUntrusted(std::string s, std::vector<ByteRange> untrusted) {
  return String(std::move(s)).WithUntrusted(std::move(untrusted));
}

Value Value::WithUntrusted(std::vector<ByteRange> untrusted) const {
  Value v = *this;
  if (kind_ != Kind::kString) return v;
  untrusted = NormalizeRanges(std::move(untrusted), str_->size());
  v.taint_ = untrusted.empty() ? nullptr : std::make_shared<const std::vector<ByteRange>>(std::move(untrusted));
  return v;
}

const std::vector<ByteRange>& Value::untrusted() const {
  static const std::vector<ByteRange>* const kNone = new std::vector<ByteRange>();
  return taint_ ? *taint_ : *kNone;
}

namespace {
// A namespace can hold itself ({% set ns.x = ns %}), so printing is bounded
// in depth and in size (a value holding itself twice would double per level).
constexpr int kMaxReprDepth = 64;
constexpr size_t kMaxReprBytes = size_t{1} << 24;

// `budget`: nodes left to visit. A namespace can hold itself (twice: the
// paths double per level), so past the budget or depth 64 the value counts
// as untrusted.
bool ContainsUntrustedAt(const Value& v, int depth, int64_t& budget) {
  if (depth > 64 || --budget < 0) return true;
  switch (v.kind()) {
    case Value::Kind::kString: return v.has_untrusted();
    case Value::Kind::kList:
      for (const Value& e : v.list())
        if (ContainsUntrustedAt(e, depth + 1, budget)) return true;
      return false;
    case Value::Kind::kDict:
    case Value::Kind::kNamespace:
      if (v.dict().untrusted_keys()) return true;
      for (const auto& [k, e] : v.dict().items())
        if (ContainsUntrustedAt(e, depth + 1, budget)) return true;
      return false;
    default: return false;
  }
}
}  // namespace

bool ContainsUntrusted(const Value& v) {
  int64_t budget = int64_t{1} << 20;
  return ContainsUntrustedAt(v, 0, budget);
}

Value KeyString(const Dict& d, const std::string& key) {
  return d.untrusted_keys() ? Value::UntrustedString(key) : Value::String(key);
}

bool Value::Truthy() const {
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNone: return false;
    case Kind::kBool:
    case Kind::kInt: return int_ != 0;
    case Kind::kFloat: return float_ != 0;
    case Kind::kString: return !str_->empty();
    case Kind::kList: return !list_->empty();
    case Kind::kDict: return dict_->size() != 0;
    default: return true;
  }
}

bool Value::SameAs(const Value& other) const {
  if (kind_ != other.kind_) return false;
  switch (kind_) {
    case Kind::kList: return list_ == other.list_;
    case Kind::kDict:
    case Kind::kNamespace: return dict_ == other.dict_;
    case Kind::kCallable: return fn_ == other.fn_;
    default: return Equals(*this, other);
  }
}

bool Equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.AsDouble() == b.AsDouble();
    return a.int_value() == b.int_value();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone: return true;
    case Value::Kind::kString: return a.str() == b.str();
    case Value::Kind::kList: {
      if (a.list().size() != b.list().size()) return false;
      for (size_t i = 0; i < a.list().size(); ++i)
        if (!Equals(a.list()[i], b.list()[i])) return false;
      return true;
    }
    case Value::Kind::kDict: {
      if (a.dict().size() != b.dict().size()) return false;
      for (const auto& [k, v] : a.dict().items()) {
        const Value* o = b.dict().Find(k);
        if (o == nullptr || !Equals(v, *o)) return false;
      }
      return true;
    }
    default: return a.SameAs(b);
  }
}

std::string FormatPythonFloat(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // e.g. "-1.2345e+02"
  bool neg = false;
  if (!sci.empty() && sci[0] == '-') {
    neg = true;
    sci.erase(0, 1);
  }
  const size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  const int exp = std::stoi(sci.substr(e + 1));
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  std::string out;
  if (exp >= -5 && exp < 16) {
    // Python repr uses fixed notation for 1e-4 <= |d| < 1e16.
    if (exp < -4) goto scientific;
    if (exp < 0) {
      out = "0." + std::string(-exp - 1, '0') + digits;
    } else if (static_cast<int>(digits.size()) <= exp + 1) {
      out = digits + std::string(exp + 1 - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, exp + 1) + "." + digits.substr(exp + 1);
    }
    return neg ? "-" + out : out;
  }
scientific:
  out = digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char ebuf[16];
  std::snprintf(ebuf, sizeof(ebuf), "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
  out += ebuf;
  return neg ? "-" + out : out;
}

namespace {

std::string PyStrRepr(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char q = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, q);
  for (unsigned char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == static_cast<unsigned char>(q)) { out += '\\'; out += q; }
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else out += static_cast<char>(c);
  }
  out += q;
  return out;
}


void AppendRepr(const Value& v, std::string* out, int depth) {
  if (depth > kMaxReprDepth || out->size() > kMaxReprBytes) {
    *out += "...";
    return;
  }
  switch (v.kind()) {
    case Value::Kind::kString: *out += PyStrRepr(v.str()); return;
    case Value::Kind::kList: {
      *out += '[';
      for (size_t i = 0; i < v.list().size(); ++i) {
        if (i) *out += ", ";
        AppendRepr(v.list()[i], out, depth + 1);
      }
      *out += ']';
      return;
    }
    case Value::Kind::kDict:
    case Value::Kind::kNamespace: {
      const bool ns = v.kind() == Value::Kind::kNamespace;
      *out += ns ? "<Namespace {" : "{";
      bool first = true;
      for (const auto& [k, e] : v.dict().items()) {
        if (!first) *out += ", ";
        first = false;
        *out += PyStrRepr(k);
        *out += ": ";
        AppendRepr(e, out, depth + 1);
      }
      *out += ns ? "}>" : "}";
      return;
    }
    default: *out += ToPythonString(v);
  }
}

}  // namespace

std::string ToPythonString(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return "";
    case Value::Kind::kNone: return "None";
    case Value::Kind::kBool: return v.bool_value() ? "True" : "False";
    case Value::Kind::kInt: return std::to_string(v.int_value());
    case Value::Kind::kFloat: return FormatPythonFloat(v.float_value());
    case Value::Kind::kString: return v.str();
    case Value::Kind::kCallable: return "<function " + v.callable_name() + ">";
    default: {
      std::string out;
      AppendRepr(v, &out, 0);
      return out;
    }
  }
}

std::string ToPythonRepr(const Value& v) {
  std::string out;
  AppendRepr(v, &out, 0);
  return out;
}

size_t CodePointCount(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::vector<size_t> CodePointOffsets(std::string_view s) {
  std::vector<size_t> offsets;
  offsets.reserve(s.size() + 1);
  for (size_t i = 0; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) offsets.push_back(i);
  offsets.push_back(s.size());
  return offsets;
}

namespace {

// Decodes one UTF-8 code point at s[*i]; invalid bytes decode as themselves.
uint32_t DecodeUtf8(std::string_view s, size_t* i) {
  const unsigned char c = s[*i];
  int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (len == 0 || *i + len > s.size()) {
    ++*i;
    return c;
  }
  uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
  for (int k = 1; k < len; ++k) {
    const unsigned char cc = s[*i + k];
    if ((cc & 0xC0) != 0x80) {
      ++*i;
      return c;
    }
    cp = (cp << 6) | (cc & 0x3F);
  }
  *i += len;
  return cp;
}

void AppendJsonString(const std::string& s, bool ensure_ascii, std::string* out) {
  *out += '"';
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      switch (c) {
        case '"': *out += "\\\""; break;
        case '\\': *out += "\\\\"; break;
        case '\n': *out += "\\n"; break;
        case '\r': *out += "\\r"; break;
        case '\t': *out += "\\t"; break;
        case '\b': *out += "\\b"; break;
        case '\f': *out += "\\f"; break;
        default:
          if (c < 0x20 || (ensure_ascii && c == 0x7f && false)) {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\u%04x", c);
            *out += buf;
          } else {
            *out += static_cast<char>(c);
          }
      }
      continue;
    }
    const size_t start = i;
    uint32_t cp = DecodeUtf8(s, &i);
    if (!ensure_ascii) {
      out->append(s, start, i - start);
      continue;
    }
    char buf[16];
    if (cp >= 0x10000) {
      cp -= 0x10000;
      std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
    } else {
      std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
    }
    *out += buf;
  }
  *out += '"';
}

absl::Status AppendJson(const Value& v, const JsonDumpOptions& o, int depth, std::string* out) {
  if (depth > 256) return absl::InvalidArgumentError("tojson: value nested too deeply");
  // A namespace holding itself twice doubles the output per level.
  if (out->size() > kMaxReprBytes) return absl::InvalidArgumentError("tojson: output too large");
  const bool indenting = o.indent >= 0 || !o.indent_text.empty();
  const std::string item_sep = o.item_separator_set ? o.item_separator : (indenting ? "," : ", ");
  auto newline = [&](int d) {
    if (!indenting) return;
    *out += '\n';
    for (int k = 0; k < d; ++k) {
      if (!o.indent_text.empty()) *out += o.indent_text;
      else out->append(o.indent, ' ');
    }
  };
  switch (v.kind()) {
    case Value::Kind::kNone: *out += "null"; return absl::OkStatus();
    case Value::Kind::kBool: *out += v.bool_value() ? "true" : "false"; return absl::OkStatus();
    case Value::Kind::kInt: *out += std::to_string(v.int_value()); return absl::OkStatus();
    case Value::Kind::kFloat: {
      const double d = v.float_value();
      *out += std::isnan(d) ? "NaN" : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity") : FormatPythonFloat(d);
      return absl::OkStatus();
    }
    case Value::Kind::kString: AppendJsonString(v.str(), o.ensure_ascii, out); return absl::OkStatus();
    case Value::Kind::kList: {
      if (v.list().empty()) {
        *out += "[]";
        return absl::OkStatus();
      }
      *out += '[';
      for (size_t i = 0; i < v.list().size(); ++i) {
        if (i) *out += item_sep;
        newline(depth + 1);
        if (auto s = AppendJson(v.list()[i], o, depth + 1, out); !s.ok()) return s;
      }
      newline(depth);
      *out += ']';
      return absl::OkStatus();
    }
    case Value::Kind::kDict:
    case Value::Kind::kNamespace: {
      if (v.dict().size() == 0) {
        *out += "{}";
        return absl::OkStatus();
      }
      std::vector<const std::pair<std::string, Value>*> items;
      for (const auto& item : v.dict().items()) items.push_back(&item);
      if (o.sort_keys)
        std::stable_sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->first < b->first; });
      *out += '{';
      bool first = true;
      for (const auto* item : items) {
        if (!first) *out += item_sep;
        first = false;
        newline(depth + 1);
        AppendJsonString(item->first, o.ensure_ascii, out);
        *out += o.key_separator;
        if (auto s = AppendJson(item->second, o, depth + 1, out); !s.ok()) return s;
      }
      newline(depth);
      *out += '}';
      return absl::OkStatus();
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "tojson: object of type ", v.is_undefined() ? "Undefined" : "function", " is not JSON serializable"));
  }
}

}  // namespace

absl::StatusOr<std::string> DumpJson(const Value& v, const JsonDumpOptions& options) {
  std::string out;
  if (auto s = AppendJson(v, options, 0, &out); !s.ok()) return s;
  return out;
}

}  // namespace triptych::jinja
