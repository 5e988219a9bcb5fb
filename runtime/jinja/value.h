#ifndef TRIPTYCH_RUNTIME_JINJA_VALUE_H_
#define TRIPTYCH_RUNTIME_JINJA_VALUE_H_

// The values a Jinja template computes with, modelled on the Python objects
// jinja2 sees: undefined, None, bool, int, float, str, list, dict (insertion
// ordered, string keys), namespace() objects and callables (macros, builtins,
// bound methods). Lists, dicts and namespaces are shared by reference, as in
// Python. Not thread-safe; a Value graph belongs to one rendering.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace triptych::jinja {

class Value;

// A byte range [begin, end) of a string.
struct ByteRange {
  size_t begin = 0;
  size_t end = 0;
  bool operator==(const ByteRange&) const = default;
};

class Dict {
 public:
  const Value* Find(std::string_view key) const;
  void Set(std::string key, Value value);
  bool Erase(std::string_view key);
  size_t size() const;  // defined below Value (clang needs Value complete)
  const std::vector<std::pair<std::string, Value>>& items() const { return items_; }
  // Keys have no byte ranges: a dict whose keys (any of them) came from
  // untrusted input marks all its keys untrusted (see Value::untrusted()).
  bool untrusted_keys() const { return untrusted_keys_; }
  void MarkUntrustedKeys() { untrusted_keys_ = true; }

 private:
  std::vector<std::pair<std::string, Value>> items_;
  absl::flat_hash_map<std::string, size_t> index_;
  bool untrusted_keys_ = false;
};

// Arguments of a call: positional, then keyword (in call order).
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};
using NativeFunction = std::function<absl::StatusOr<Value>(CallArgs&)>;

class Value {
 public:
  enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kNamespace, kCallable };

  Value() = default;  // undefined
  static Value None() { Value v; v.kind_ = Kind::kNone; return v; }
  static Value Bool(bool b) { Value v; v.kind_ = Kind::kBool; v.int_ = b; return v; }
  static Value Int(int64_t i) { Value v; v.kind_ = Kind::kInt; v.int_ = i; return v; }
  static Value Float(double d) { Value v; v.kind_ = Kind::kFloat; v.float_ = d; return v; }
  static Value String(std::string s) {
    Value v; v.kind_ = Kind::kString; v.str_ = std::make_shared<const std::string>(std::move(s)); return v;
  }
  static Value ListOf(std::vector<Value> items) {
    Value v; v.kind_ = Kind::kList; v.list_ = std::make_shared<std::vector<Value>>(std::move(items)); return v;
  }
  static Value NewDict() { Value v; v.kind_ = Kind::kDict; v.dict_ = std::make_shared<Dict>(); return v; }
  static Value NewNamespace() { Value v = NewDict(); v.kind_ = Kind::kNamespace; return v; }
  static Value Callable(std::string name, NativeFunction fn) {
    Value v; v.kind_ = Kind::kCallable; v.str_ = std::make_shared<const std::string>(std::move(name));
    v.fn_ = std::make_shared<NativeFunction>(std::move(fn)); return v;
  }
  // A string marked safe (jinja2's Markup, made by the `safe` and `escape`
  // filters): `+` HTML-escapes a plain string operand joined to it.
  static Value SafeString(std::string s) { Value v = String(std::move(s)); v.int_ = 1; return v; }
  // JSON -> Value (objects become dicts keeping key order, numbers int or
  // float).
  static Value FromJson(const nlohmann::ordered_json& j);
  static Value FromJson(const nlohmann::json& j);

  // Provenance. Strings carry the byte ranges that came from untrusted
  // input (a request's message contents, tool definitions, names: anything
  // not written by the template or its operator). Every operation that
  // builds a string from strings keeps them: concatenation and slicing
  // byte for byte, other transformations (tojson, escape, printing a list)
  // by marking the whole result untrusted when any input was. Template
  // literals and plain String() values are trusted. See
  // Template::RenderWithProvenance.
  //
  // A string of untrusted bytes only.
  static Value UntrustedString(std::string s);
  // A string whose bytes in `untrusted` (any order; clipped to the string,
  // overlapping or adjacent ranges merged) are untrusted.
  static Value StringWithUntrusted(std::string s, std::vector<ByteRange> untrusted);
  // FromJson with every string and every dict key untrusted.
  static Value FromUntrustedJson(const nlohmann::ordered_json& j);
  static Value FromUntrustedJson(const nlohmann::json& j);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kFloat || kind_ == Kind::kBool; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_namespace() const { return kind_ == Kind::kNamespace; }
  bool is_mapping() const { return kind_ == Kind::kDict; }
  bool is_callable() const { return kind_ == Kind::kCallable; }

  bool bool_value() const { return int_ != 0; }
  int64_t int_value() const { return int_; }
  double float_value() const { return float_; }
  // As a double (bool, int or float).
  double AsDouble() const { return kind_ == Kind::kFloat ? float_ : static_cast<double>(int_); }
  const std::string& str() const { return *str_; }
  bool is_safe() const { return kind_ == Kind::kString && int_ != 0; }
  std::vector<Value>& list() const { return *list_; }
  Dict& dict() const { return *dict_; }
  const std::string& callable_name() const { return *str_; }
  const NativeFunction& function() const { return *fn_; }

  // The untrusted byte ranges of a string: sorted, disjoint, non-adjacent,
  // non-empty. Empty for trusted strings and for other kinds (see
  // ContainsUntrusted for containers).
  const std::vector<ByteRange>& untrusted() const;
  bool has_untrusted() const { return taint_ != nullptr; }
  // This string (safe flag kept) with `untrusted` as its ranges (normalized
  // as StringWithUntrusted does).
  Value WithUntrusted(std::vector<ByteRange> untrusted) const;

  // Python truthiness (undefined is false).
  bool Truthy() const;
  // Python identity for shared objects, equality otherwise (the `sameas` test).
  bool SameAs(const Value& other) const;

 private:
  Kind kind_ = Kind::kUndefined;
  int64_t int_ = 0;
  double float_ = 0;
  std::shared_ptr<const std::string> str_;
  std::shared_ptr<std::vector<Value>> list_;
  std::shared_ptr<Dict> dict_;
  std::shared_ptr<NativeFunction> fn_;
  // Untrusted ranges of a string; null when it has none.
  std::shared_ptr<const std::vector<ByteRange>> taint_;
};

inline size_t Dict::size() const { return items_.size(); }

// Whether `v` holds untrusted text anywhere: an untrusted byte in a string,
// in a list or dict at any depth, or a dict with untrusted keys. Values
// nested deeper than 64 levels count as untrusted.
bool ContainsUntrusted(const Value& v);
// Dict key `key` of `d` as a string value, untrusted when d's keys are.
Value KeyString(const Dict& d, const std::string& key);

// Python's ==.
bool Equals(const Value& a, const Value& b);
// str(v) as Python prints it ("None", "True", "['a', 1]", "{'k': 'v'}", floats
// as repr); undefined prints as "".
std::string ToPythonString(const Value& v);
// repr(v).
std::string ToPythonRepr(const Value& v);
// Python's float repr (shortest round trip: "1.0", "1e-05", "1e+16").
std::string FormatPythonFloat(double d);

struct JsonDumpOptions {
  bool ensure_ascii = false;
  int indent = -1;          // < 0: no indentation (one line)
  std::string indent_text;  // used instead of spaces when non-empty
  std::string item_separator;  // defaults: ", " (or "," when indenting)
  std::string key_separator = ": ";
  bool item_separator_set = false;
  bool sort_keys = false;
};
// json.dumps(v, ...). Errors (kInvalidArgument) for values JSON cannot hold
// (undefined, callables) and for nesting deeper than 256.
absl::StatusOr<std::string> DumpJson(const Value& v, const JsonDumpOptions& options);

// UTF-8 helpers (invalid bytes count as one code point each).
size_t CodePointCount(std::string_view s);
// Byte offsets of every code point start, plus s.size() at the end.
std::vector<size_t> CodePointOffsets(std::string_view s);

}  // namespace triptych::jinja

#endif  // TRIPTYCH_RUNTIME_JINJA_VALUE_H_
