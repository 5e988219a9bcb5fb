#ifndef TRIPTYCH_RUNTIME_JINJA_PROVENANCE_H_
#define TRIPTYCH_RUNTIME_JINJA_PROVENANCE_H_

// Building strings that keep track of which bytes came from untrusted input
// (see Value::untrusted()). The interpreter and the builtins make every
// string they derive from other strings through these helpers, so that a
// message's content stays untrusted through `~`, `+`, filters, slicing,
// macros and `set` blocks. Not thread-safe; values of one rendering.

#include <string>
#include <string_view>
#include <vector>

#include "runtime/jinja/value.h"

namespace triptych::jinja {

// A string under construction and its untrusted byte ranges.
class TextBuilder {
 public:
  // Appends template text (trusted).
  void Append(std::string_view text);
  // Appends untrusted text.
  void AppendUntrusted(std::string_view text);
  // Appends str(v): a string with its ranges; any other kind as a whole,
  // untrusted when ContainsUntrusted(v).
  void AppendValue(const Value& v);
  // Appends bytes [begin, end) of string `s` with their ranges.
  void AppendSubstring(const Value& s, size_t begin, size_t end);

  size_t size() const { return text_.size(); }
  const std::string& text() const { return text_; }
  const std::vector<ByteRange>& untrusted() const { return untrusted_; }

  // The string built so far as a value; the builder is left empty.
  Value TakeValue();
  // The text and its ranges; the builder is left empty.
  std::string TakeText(std::vector<ByteRange>* untrusted);

 private:
  void MarkUntrusted(size_t begin, size_t end);

  std::string text_;
  std::vector<ByteRange> untrusted_;  // sorted, disjoint, non-adjacent
};

// Bytes [begin, end) of string `s`, ranges kept.
Value Substring(const Value& s, size_t begin, size_t end);
// `text`, made from `from` byte for byte (same length, byte i from byte i:
// ASCII case mapping): from's ranges kept. When the lengths differ, the
// whole text is untrusted if `from` has any untrusted byte.
Value SameShape(const Value& from, std::string text);
// `text` computed from `sources` in a way that does not keep byte
// positions (JSON, HTML escaping, repr): untrusted as a whole when any
// source contains untrusted text, else trusted.
Value Derived(std::string text, std::initializer_list<const Value*> sources);
// str(v) as a string value: v itself when it is a string, otherwise its
// printed form, untrusted as a whole when v contains untrusted text.
Value AsString(const Value& v);

}  // namespace triptych::jinja

#endif  // TRIPTYCH_RUNTIME_JINJA_PROVENANCE_H_
