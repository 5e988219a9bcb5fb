#include "runtime/jinja/provenance.h"

#include <algorithm>
#include <utility>

namespace triptych::jinja {

void TextBuilder::MarkUntrusted(size_t begin, size_t end) {
  if (begin >= end) return;
  if (!untrusted_.empty() && untrusted_.back().end >= begin) {
    untrusted_.back().end = std::max(untrusted_.back().end, end);
    return;
  }
  untrusted_.push_back(ByteRange{begin, end});
}

void TextBuilder::Append(std::string_view text) { text_.append(text); }

void TextBuilder::AppendUntrusted(std::string_view text) {
  const size_t at = text_.size();
  text_.append(text);
  MarkUntrusted(at, text_.size());
}

void TextBuilder::AppendValue(const Value& v) {
  if (v.is_string()) {
    AppendSubstring(v, 0, v.str().size());
    return;
  }
  const std::string printed = ToPythonString(v);
  if (ContainsUntrusted(v))
    AppendUntrusted(printed);
  else
    Append(printed);
}

void TextBuilder::AppendSubstring(const Value& s, size_t begin, size_t end) {
  const std::string& str = s.str();
  end = std::min(end, str.size());
  if (begin >= end) return;
  const size_t at = text_.size();
  text_.append(str, begin, end - begin);
  for (const ByteRange& r : s.untrusted()) {
    if (r.end <= begin) continue;
    if (r.begin >= end) break;
    MarkUntrusted(at + std::max(r.begin, begin) - begin,
                  at + std::min(r.end, end) - begin);
  }
}

Value TextBuilder::TakeValue() {
  std::vector<ByteRange> ranges;
  std::string text = TakeText(&ranges);
  if (ranges.empty()) return Value::String(std::move(text));
  return Value::StringWithUntrusted(std::move(text), std::move(ranges));
}

std::string TextBuilder::TakeText(std::vector<ByteRange>* untrusted) {
  *untrusted = std::move(untrusted_);
  untrusted_.clear();
  std::string out = std::move(text_);
  text_.clear();
  return out;
}

Value Substring(const Value& s, size_t begin, size_t end) {
  TextBuilder b;
  b.AppendSubstring(s, begin, end);
  return b.TakeValue();
}

Value SameShape(const Value& from, std::string text) {
  if (!from.has_untrusted()) return Value::String(std::move(text));
  if (!from.is_string() || text.size() != from.str().size())
    return Value::UntrustedString(std::move(text));
  return Value::StringWithUntrusted(std::move(text), from.untrusted());
}

Value Derived(std::string text, std::initializer_list<const Value*> sources) {
  for (const Value* s : sources)
    if (ContainsUntrusted(*s)) return Value::UntrustedString(std::move(text));
  return Value::String(std::move(text));
}

Value AsString(const Value& v) {
  if (v.is_string()) return v;
  return Derived(ToPythonString(v), {&v});
}

}  // namespace triptych::jinja
