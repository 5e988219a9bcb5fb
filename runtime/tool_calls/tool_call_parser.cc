#include "runtime/tool_calls/tool_call_parser.h"

#include <optional>
#include <utility>

#include "nlohmann/json.hpp"

namespace triptych::tool_calls {
namespace {

using nlohmann::ordered_json;

constexpr std::string_view kHermesOpen = "<tool_call>";
constexpr std::string_view kHermesClose = "</tool_call>";
constexpr std::string_view kPythonTag = "<|python_tag|>";
constexpr std::string_view kToolCalls = "[TOOL_CALLS]";
constexpr std::string_view kArgs = "[ARGS]";
// DeepSeek R1's markers: U+FF5C (fullwidth bar) and U+2581 (lower block).
constexpr std::string_view kDsCallsBegin =
    "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "begin\xef\xbd\x9c>";
constexpr std::string_view kDsCallsEnd =
    "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "end\xef\xbd\x9c>";
constexpr std::string_view kDsCallBegin =
    "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "begin\xef\xbd\x9c>";
constexpr std::string_view kDsCallEnd =
    "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "end\xef\xbd\x9c>";
constexpr std::string_view kDsSep = "<\xef\xbd\x9ctool\xe2\x96\x81" "sep\xef\xbd\x9c>";

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

size_t SkipSpace(std::string_view s, size_t i) {
  while (i < s.size() && IsSpace(s[i])) ++i;
  return i;
}

bool AllSpace(std::string_view s) { return SkipSpace(s, 0) == s.size(); }

std::string_view Trim(std::string_view s) {
  size_t b = SkipSpace(s, 0);
  size_t e = s.size();
  while (e > b && IsSpace(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::string Content(std::string s) { return AllSpace(s) ? std::string() : s; }

ParsedOutput AllContent(std::string_view text) {
  ParsedOutput out;
  out.content = Content(std::string(text));
  return out;
}

std::string Dump(const ordered_json& j) {
  return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

// One past the end of the JSON object or array that starts at s[i] ('{' or
// '['), or npos when it does not close within s.
size_t JsonEnd(std::string_view s, size_t i) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t k = i; k < s.size(); ++k) {
    const char c = s[k];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return k + 1;
    }
  }
  return std::string_view::npos;
}

std::optional<ordered_json> ParseJson(std::string_view s) {
  ordered_json j = ordered_json::parse(s.begin(), s.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

// {"name": "f", "arguments" | "parameters": {...}} -> a call. Arguments
// given as a JSON string are unwrapped when the string is JSON.
std::optional<ToolCall> CallFromJson(const ordered_json& j) {
  if (!j.is_object()) return std::nullopt;
  auto name = j.find("name");
  if (name == j.end() || !name->is_string() || name->get<std::string>().empty()) {
    return std::nullopt;
  }
  ToolCall call;
  call.name = name->get<std::string>();
  call.arguments = "{}";
  for (const char* key : {"arguments", "parameters"}) {
    auto args = j.find(key);
    if (args == j.end() || args->is_null()) continue;
    if (args->is_string()) {
      std::optional<ordered_json> inner = ParseJson(args->get<std::string>());
      call.arguments = inner.has_value() ? Dump(*inner) : args->get<std::string>();
    } else {
      call.arguments = Dump(*args);
    }
    break;
  }
  return call;
}

ParsedOutput ParseHermes(std::string_view text) {
  ParsedOutput out;
  std::string content;
  size_t pos = 0;
  while (true) {
    const size_t open = text.find(kHermesOpen, pos);
    if (open == std::string_view::npos) break;
    const size_t body = open + kHermesOpen.size();
    const size_t close = text.find(kHermesClose, body);
    // An unclosed block at the end (the model stopped at its end-of-turn
    // token) still counts when its JSON is whole.
    const std::string_view inner =
        text.substr(body, close == std::string_view::npos ? std::string_view::npos : close - body);
    const size_t after = close == std::string_view::npos ? text.size() : close + kHermesClose.size();
    // Whitespace between and after calls is layout, not content.
    const std::string_view before = text.substr(pos, open - pos);
    if (pos == 0 || !AllSpace(before)) content.append(before);
    std::optional<ordered_json> j = ParseJson(Trim(inner));
    std::optional<ToolCall> call = j.has_value() ? CallFromJson(*j) : std::nullopt;
    if (call.has_value()) {
      out.calls.push_back(*std::move(call));
    } else {
      content.append(text.substr(open, after - open));
    }
    pos = after;
  }
  if (out.calls.empty() || !AllSpace(text.substr(pos))) content.append(text.substr(pos));
  out.content = Content(std::move(content));
  return out;
}

ParsedOutput ParseLlama3(std::string_view text) {
  std::string content;
  size_t i;
  const size_t tag = text.find(kPythonTag);
  if (tag != std::string_view::npos) {
    content = std::string(text.substr(0, tag));
    i = SkipSpace(text, tag + kPythonTag.size());
  } else {
    i = SkipSpace(text, 0);
    if (i >= text.size() || text[i] != '{') return AllContent(text);
  }
  ParsedOutput out;
  while (i < text.size() && text[i] == '{') {
    const size_t end = JsonEnd(text, i);
    if (end == std::string_view::npos) break;
    std::optional<ordered_json> j = ParseJson(text.substr(i, end - i));
    std::optional<ToolCall> call = j.has_value() ? CallFromJson(*j) : std::nullopt;
    if (!call.has_value()) break;
    out.calls.push_back(*std::move(call));
    i = SkipSpace(text, end);
    if (i < text.size() && text[i] == ';') i = SkipSpace(text, i + 1);
  }
  if (out.calls.empty()) return AllContent(text);
  content.append(text.substr(i));
  out.content = Content(std::move(content));
  return out;
}

ParsedOutput ParseMistral(std::string_view text) {
  std::string content;
  size_t i;
  const size_t tag = text.find(kToolCalls);
  if (tag != std::string_view::npos) {
    content = std::string(text.substr(0, tag));
    i = tag + kToolCalls.size();
  } else {
    i = SkipSpace(text, 0);
    if (i >= text.size() || text[i] != '[' || SkipSpace(text, i + 1) >= text.size() ||
        text[SkipSpace(text, i + 1)] != '{') {
      return AllContent(text);
    }
  }
  ParsedOutput out;
  while (true) {
    const size_t start = SkipSpace(text, i);
    if (start >= text.size()) {
      i = start;
      break;
    }
    std::vector<ToolCall> calls;
    size_t end = std::string_view::npos;
    if (text[start] == '[') {
      // [{"name": ..., "arguments": ...}, ...]
      end = JsonEnd(text, start);
      if (end == std::string_view::npos) break;
      std::optional<ordered_json> j = ParseJson(text.substr(start, end - start));
      if (!j.has_value() || !j->is_array() || j->empty()) break;
      for (const ordered_json& item : *j) {
        std::optional<ToolCall> call = CallFromJson(item);
        if (!call.has_value()) {
          calls.clear();
          break;
        }
        calls.push_back(*std::move(call));
      }
    } else {
      // name[ARGS]{...}
      const size_t args = text.find(kArgs, start);
      if (args == std::string_view::npos) break;
      const std::string_view name = Trim(text.substr(start, args - start));
      const size_t obj = SkipSpace(text, args + kArgs.size());
      if (name.empty() || name.find_first_of(" \n") != std::string_view::npos ||
          obj >= text.size() || text[obj] != '{') {
        break;
      }
      end = JsonEnd(text, obj);
      if (end == std::string_view::npos) break;
      std::optional<ordered_json> j = ParseJson(text.substr(obj, end - obj));
      if (!j.has_value()) break;
      calls.push_back({std::string(name), Dump(*j)});
    }
    if (calls.empty()) break;
    for (ToolCall& c : calls) out.calls.push_back(std::move(c));
    i = SkipSpace(text, end);
    if (text.substr(i, kToolCalls.size()) == kToolCalls) {
      i += kToolCalls.size();
      continue;
    }
    break;
  }
  if (out.calls.empty()) return AllContent(text);
  content.append(text.substr(i));
  out.content = Content(std::move(content));
  return out;
}

bool StartsWithAt(std::string_view s, size_t i, std::string_view prefix) {
  return i <= s.size() && s.substr(i, prefix.size()) == prefix;
}

// <calls_begin>(<call_begin>TYPE<sep>NAME\n```json\n{...}\n```<call_end>)+<calls_end>
ParsedOutput ParseDeepSeekR1(std::string_view text) {
  const size_t begin = text.find(kDsCallsBegin);
  if (begin == std::string_view::npos) return AllContent(text);
  std::string content(text.substr(0, begin));
  ParsedOutput out;
  size_t i = begin + kDsCallsBegin.size();
  while (true) {
    size_t k = SkipSpace(text, i);
    if (!StartsWithAt(text, k, kDsCallBegin)) break;
    k += kDsCallBegin.size();
    const size_t sep = text.find(kDsSep, k);
    if (sep == std::string_view::npos) break;
    const size_t name_begin = sep + kDsSep.size();
    const size_t newline = text.find('\n', name_begin);
    if (newline == std::string_view::npos) break;
    const std::string_view name = Trim(text.substr(name_begin, newline - name_begin));
    size_t obj = SkipSpace(text, newline);
    if (StartsWithAt(text, obj, "```json")) obj = SkipSpace(text, obj + 7);
    if (name.empty() || obj >= text.size() || text[obj] != '{') break;
    const size_t end = JsonEnd(text, obj);
    if (end == std::string_view::npos) break;
    std::optional<ordered_json> j = ParseJson(text.substr(obj, end - obj));
    if (!j.has_value()) break;
    out.calls.push_back({std::string(name), Dump(*j)});
    k = SkipSpace(text, end);
    if (StartsWithAt(text, k, "```")) k += 3;
    k = SkipSpace(text, k);
    if (StartsWithAt(text, k, kDsCallEnd)) k += kDsCallEnd.size();
    i = k;
  }
  if (out.calls.empty()) return AllContent(text);
  i = SkipSpace(text, i);
  if (StartsWithAt(text, i, kDsCallsEnd)) i += kDsCallsEnd.size();
  if (!AllSpace(text.substr(i))) content.append(text.substr(i));
  out.content = Content(std::move(content));
  return out;
}

std::string_view Marker(ToolFormat format) {
  switch (format) {
    case ToolFormat::kHermes:
      return kHermesOpen;
    case ToolFormat::kLlama3:
      return kPythonTag;
    case ToolFormat::kMistral:
      return kToolCalls;
    case ToolFormat::kDeepSeekR1:
      return kDsCallsBegin;
    case ToolFormat::kNone:
      break;
  }
  return {};
}

}  // namespace

ParsedOutput ParseToolCalls(ToolFormat format, std::string_view text) {
  switch (format) {
    case ToolFormat::kHermes:
      return ParseHermes(text);
    case ToolFormat::kLlama3:
      return ParseLlama3(text);
    case ToolFormat::kMistral:
      return ParseMistral(text);
    case ToolFormat::kDeepSeekR1:
      return ParseDeepSeekR1(text);
    case ToolFormat::kNone:
      break;
  }
  ParsedOutput out;
  out.content = std::string(text);
  return out;
}

ToolCallStream::Delta ToolCallStream::Push(std::string_view text) {
  Delta out;
  const std::string_view marker = Marker(format_);
  if (marker.empty()) {
    out.content = std::string(text);
    return out;
  }
  if (in_section_) {
    section_.append(text);
    DrainCompleteBlocks(&out);
    return out;
  }
  pending_.append(text);
  const size_t m = pending_.find(marker);
  if (m != std::string::npos) {
    out.content = pending_.substr(0, m);
    section_ = pending_.substr(m);
    pending_.clear();
    in_section_ = true;
    DrainCompleteBlocks(&out);
    return out;
  }
  // A reply that starts with the call's JSON (the marker was a control
  // token the detokenizer dropped, or the template writes none).
  if (!content_started_ && (format_ == ToolFormat::kLlama3 || format_ == ToolFormat::kMistral)) {
    const size_t i = SkipSpace(pending_, 0);
    if (i == pending_.size()) return out;  // only whitespace so far
    if (pending_[i] == (format_ == ToolFormat::kLlama3 ? '{' : '[')) {
      section_ = std::move(pending_);
      pending_.clear();
      in_section_ = true;
      return out;
    }
  }
  // Hold back the longest tail that may be the start of the marker.
  size_t keep = 0;
  for (size_t k = std::min(marker.size() - 1, pending_.size()); k > 0; --k) {
    if (pending_.ends_with(marker.substr(0, k))) {
      keep = k;
      break;
    }
  }
  out.content = pending_.substr(0, pending_.size() - keep);
  pending_.erase(0, pending_.size() - keep);
  if (!AllSpace(out.content)) content_started_ = true;
  return out;
}

void ToolCallStream::DrainCompleteBlocks(Delta* out) {
  if (format_ != ToolFormat::kHermes) return;
  while (true) {
    const size_t i = SkipSpace(section_, 0);
    if (section_.compare(i, kHermesOpen.size(), kHermesOpen) != 0) return;
    const size_t close = section_.find(kHermesClose, i);
    if (close == std::string::npos) return;
    const size_t after = close + kHermesClose.size();
    ParsedOutput p = ParseHermes(std::string_view(section_).substr(0, after));
    out->content += p.content;
    for (ToolCall& c : p.calls) out->calls.push_back(std::move(c));
    calls_emitted_ += static_cast<int>(p.calls.size());
    section_.erase(0, after);
  }
}

ToolCallStream::Delta ToolCallStream::Finish() {
  Delta out;
  if (!in_section_) {
    out.content = std::move(pending_);
    pending_.clear();
    return out;
  }
  ParsedOutput p = ParseToolCalls(format_, section_);
  section_.clear();
  out.content = std::move(p.content);
  out.calls = std::move(p.calls);
  calls_emitted_ += static_cast<int>(out.calls.size());
  return out;
}

}  // namespace triptych::tool_calls
