#include "runtime/tool_calls/tool_call_parser.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <utility>

#include "nlohmann/json.hpp"
#include "runtime/tool_calls/harmony.h"
#include "runtime/tool_calls/json_stream.h"
#include "runtime/tool_calls/text_util.h"

namespace triptych::tool_calls {
namespace {

using internal::AllSpace;
using internal::Dump;
using internal::IsSpace;
using internal::IsToolName;
using internal::ParseJson;
using internal::SkipSpace;
using internal::Trim;
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
constexpr std::string_view kFunctionOpen = "<function=";
constexpr std::string_view kFunctionClose = "</function>";
constexpr std::string_view kRecipient = ">>>";
constexpr std::string_view kAction = "Action:";
constexpr std::string_view kStartAction = "<|START_ACTION|>";
constexpr std::string_view kEndAction = "<|END_ACTION|>";

std::string Content(std::string s) { return AllSpace(s) ? std::string() : s; }

ParsedOutput AllContent(std::string_view text) {
  ParsedOutput out;
  out.content = Content(std::string(text));
  return out;
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

// {"name": "f", "arguments" | "parameters": {...}} -> a call, with the
// first of the two keys that is not null (the one a stream reads first).
// Arguments given as a JSON string are unwrapped (not JSON: no call).
std::optional<ToolCall> CallFromJson(const ordered_json& j) {
  if (!j.is_object()) return std::nullopt;
  auto name = j.find("name");
  if (name == j.end() || !name->is_string() || name->get<std::string>().empty()) {
    return std::nullopt;
  }
  ToolCall call;
  call.name = name->get<std::string>();
  call.arguments = "{}";
  for (auto args = j.begin(); args != j.end(); ++args) {
    if ((args.key() != "arguments" && args.key() != "parameters") ||
        args->is_null())
      continue;
    if (args->is_string()) {
      // Arguments reach clients as JSON text: a string that is not JSON
      // makes this no call (it stays content).
      std::optional<ordered_json> inner = ParseJson(args->get<std::string>());
      if (!inner.has_value()) return std::nullopt;
      call.arguments = Dump(*inner);
    } else {
      call.arguments = Dump(*args);
    }
    break;
  }
  return call;
}

// One delimited call block at or after `pos`: its bytes [open, after) and
// the call it holds (none: the block stays content as written).
struct Block {
  size_t open = 0;
  size_t after = 0;
  std::optional<ToolCall> call;
};

// Outputs made of call blocks with text around them (Hermes, functionary
// v3.1): `next(text, pos)` finds the next block or nullopt (no more: the
// rest is text). Whitespace between and after calls is layout, not content.
template <typename NextBlock>
ParsedOutput ParseBlocks(std::string_view text, NextBlock next) {
  ParsedOutput out;
  std::string content;
  size_t pos = 0;
  while (std::optional<Block> b = next(text, pos)) {
    const std::string_view before = text.substr(pos, b->open - pos);
    if (pos == 0 || !AllSpace(before)) content.append(before);
    if (b->call.has_value()) {
      out.calls.push_back(*std::move(b->call));
    } else {
      content.append(text.substr(b->open, b->after - b->open));
    }
    pos = b->after;
  }
  if (out.calls.empty() || !AllSpace(text.substr(pos))) content.append(text.substr(pos));
  out.content = Content(std::move(content));
  return out;
}

// <tool_call>{...}</tool_call>. An unclosed block at the end (the model
// stopped at its end-of-turn token) still counts when its JSON is whole.
std::optional<Block> NextHermesBlock(std::string_view text, size_t pos) {
  const size_t open = text.find(kHermesOpen, pos);
  if (open == std::string_view::npos) return std::nullopt;
  const size_t body = open + kHermesOpen.size();
  const size_t close = text.find(kHermesClose, body);
  const std::string_view inner =
      text.substr(body, close == std::string_view::npos ? std::string_view::npos : close - body);
  Block b;
  b.open = open;
  b.after = close == std::string_view::npos ? text.size() : close + kHermesClose.size();
  std::optional<ordered_json> j = ParseJson(Trim(inner));
  if (j.has_value()) b.call = CallFromJson(*j);
  return b;
}

ParsedOutput ParseHermes(std::string_view text) { return ParseBlocks(text, NextHermesBlock); }

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

// <function=NAME>{...}</function>. A block whose name or JSON is bad stays
// content and parsing goes on after it; one that cannot be delimited (no
// '>', no whole JSON object) ends the calls.
std::optional<Block> NextFunctionaryV31Block(std::string_view text, size_t pos) {
  const size_t open = text.find(kFunctionOpen, pos);
  if (open == std::string_view::npos) return std::nullopt;
  const size_t name_begin = open + kFunctionOpen.size();
  const size_t gt = text.find('>', name_begin);
  if (gt == std::string_view::npos) return std::nullopt;
  const std::string_view name = text.substr(name_begin, gt - name_begin);
  const size_t obj = SkipSpace(text, gt + 1);
  if (obj >= text.size() || text[obj] != '{') return std::nullopt;
  const size_t end = JsonEnd(text, obj);
  if (end == std::string_view::npos) return std::nullopt;
  Block b;
  b.open = open;
  const size_t k = SkipSpace(text, end);
  b.after = StartsWithAt(text, k, kFunctionClose) ? k + kFunctionClose.size() : end;
  std::optional<ordered_json> j = ParseJson(text.substr(obj, end - obj));
  if (IsToolName(name) && j.has_value() && j->is_object()) {
    b.call = ToolCall{std::string(name), Dump(*j)};
  }
  return b;
}

ParsedOutput ParseFunctionaryV31(std::string_view text) {
  return ParseBlocks(text, NextFunctionaryV31Block);
}

// One `recipient\nbody` segment (`first`: the reply's first, with no ">>>"
// before it): `all` is text, a tool name with a JSON object body a call,
// anything else content as written.
void ParseFunctionaryV32Segment(std::string_view segment, bool first,
                                ParsedOutput* out) {
  const size_t nl = segment.find('\n');
  const std::string_view recipient =
      nl == std::string_view::npos ? segment : Trim(segment.substr(0, nl));
  const std::string_view body = nl == std::string_view::npos
                                    ? std::string_view()
                                    : segment.substr(nl + 1);
  std::optional<ordered_json> j;
  if (nl != std::string_view::npos && recipient != "all" &&
      IsToolName(recipient)) {
    j = ParseJson(Trim(body));
  }
  if (nl != std::string_view::npos && recipient == "all") {
    out->content.append(body);
  } else if (j.has_value() && j->is_object()) {
    out->calls.push_back({std::string(recipient), Dump(*j)});
  } else if (!(first && segment.empty())) {
    if (!first) out->content.append(kRecipient);
    out->content.append(segment);
  }
}

// The reply after the generation prompt's ">>>": segments separated by
// ">>>" (ParseFunctionaryV32Segment).
ParsedOutput ParseFunctionaryV32(std::string_view text) {
  ParsedOutput out;
  size_t pos = 0;
  for (bool first = true; pos <= text.size(); first = false) {
    size_t next = text.find(kRecipient, pos);
    if (next == std::string_view::npos) next = text.size();
    ParseFunctionaryV32Segment(text.substr(pos, next - pos), first, &out);
    if (next == text.size()) break;
    pos = next + kRecipient.size();
  }
  out.content = Content(std::move(out.content));
  return out;
}

// Command R+ (`Action:` then a ```json fence) and R7B (<|START_ACTION|>):
// a JSON list of {"tool_name", "parameters"}; `directly-answer` is the
// "no tool" action. A reply that starts with the list counts too (R7B's
// markers are control tokens the detokenizer drops).
ParsedOutput ParseCommandR(std::string_view text) {
  size_t marker = std::min(text.find(kAction), text.find(kStartAction));
  size_t i;
  std::string content;
  if (marker != std::string_view::npos) {
    content = std::string(text.substr(0, marker));
    i = marker + (StartsWithAt(text, marker, kAction) ? kAction.size() : kStartAction.size());
    i = SkipSpace(text, i);
    if (StartsWithAt(text, i, "```json")) {
      i += 7;
    } else if (StartsWithAt(text, i, "```")) {
      i += 3;
    }
    i = SkipSpace(text, i);
  } else {
    i = SkipSpace(text, 0);
  }
  if (i >= text.size() || text[i] != '[') return AllContent(text);
  const size_t end = JsonEnd(text, i);
  if (end == std::string_view::npos) return AllContent(text);
  std::optional<ordered_json> j = ParseJson(text.substr(i, end - i));
  if (!j.has_value() || !j->is_array() || j->empty()) return AllContent(text);
  ParsedOutput out;
  for (const ordered_json& item : *j) {
    auto name = item.is_object() ? item.find("tool_name") : item.end();
    if (!item.is_object() || name == item.end() || !name->is_string() ||
        name->get<std::string>().empty()) {
      return AllContent(text);
    }
    if (name->get<std::string>() == "directly-answer") continue;
    auto params = item.find("parameters");
    ToolCall call;
    call.name = name->get<std::string>();
    call.arguments = params == item.end() || params->is_null() ? "{}" : Dump(*params);
    out.calls.push_back(std::move(call));
  }
  if (out.calls.empty()) return AllContent(text);
  i = SkipSpace(text, end);
  if (StartsWithAt(text, i, "```")) i = SkipSpace(text, i + 3);
  if (StartsWithAt(text, i, kEndAction)) i += kEndAction.size();
  if (!AllSpace(text.substr(i))) content.append(text.substr(i));
  out.content = Content(std::move(content));
  return out;
}

// The texts that open a call section in `format`'s output (none: no
// format). The earliest one in the output counts.
std::vector<std::string_view> Markers(ToolFormat format) {
  switch (format) {
    case ToolFormat::kHermes:
      return {kHermesOpen};
    case ToolFormat::kLlama3:
      return {kPythonTag};
    case ToolFormat::kMistral:
      return {kToolCalls};
    case ToolFormat::kDeepSeekR1:
      return {kDsCallsBegin};
    case ToolFormat::kFunctionaryV31:
      return {kFunctionOpen};
    case ToolFormat::kFunctionaryV32:
      return {kRecipient};
    case ToolFormat::kCommandR:
    case ToolFormat::kCommandR7B:
      return {kAction, kStartAction};
    case ToolFormat::kGptOss:  // HarmonyStream
    case ToolFormat::kNone:
      break;
  }
  return {};
}

// The block delimiters of formats whose calls are complete before the
// output ends (streamed as soon as each closes).
std::optional<std::pair<std::string_view, std::string_view>> Block(ToolFormat format) {
  if (format == ToolFormat::kHermes) return std::make_pair(kHermesOpen, kHermesClose);
  if (format == ToolFormat::kFunctionaryV31) return std::make_pair(kFunctionOpen, kFunctionClose);
  return std::nullopt;
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
    case ToolFormat::kFunctionaryV31:
      return ParseFunctionaryV31(text);
    case ToolFormat::kFunctionaryV32:
      return ParseFunctionaryV32(text);
    case ToolFormat::kCommandR:
    case ToolFormat::kCommandR7B:
      return ParseCommandR(text);
    case ToolFormat::kGptOss:
      return ParseHarmony(text);
    case ToolFormat::kNone:
      break;
  }
  ParsedOutput out;
  out.content = std::string(text);
  return out;
}

namespace {

// The longest tail of `s` that is a proper prefix of `marker`.
size_t MarkerTail(std::string_view s, std::string_view marker) {
  for (size_t k = std::min(marker.size() - 1, s.size()); k > 0; --k) {
    if (s.ends_with(marker.substr(0, k))) return k;
  }
  return 0;
}

// The formats whose arguments ToolCallStream streams (gpt-oss: in
// HarmonyStream).
bool StreamsArguments(ToolFormat format) {
  return format == ToolFormat::kHermes || format == ToolFormat::kLlama3 ||
         format == ToolFormat::kMistral ||
         format == ToolFormat::kFunctionaryV31;
}

}  // namespace

ToolCallStream::ToolCallStream(ToolFormat format) : format_(format) {
  if (format == ToolFormat::kGptOss)
    harmony_ = std::make_unique<HarmonyStream>();
}

ToolCallStream::~ToolCallStream() = default;

ToolCallStream::Delta ToolCallStream::Push(std::string_view text) {
  if (harmony_ != nullptr) {
    Delta d = harmony_->Push(text);
    calls_emitted_ = harmony_->calls_begun();
    return d;
  }
  Delta out;
  const std::vector<std::string_view> markers = Markers(format_);
  if (markers.empty()) {
    out.content = std::string(text);
    return out;
  }
  if (in_section_) {
    section_.append(text);
    Advance(&out);
    return out;
  }
  pending_.append(text);
  if (format_ == ToolFormat::kFunctionaryV32 && !recipient_seen_) {
    // The reply opens with its recipient line: text for `all` (the line
    // itself is not content), else the section from the start.
    const size_t nl = pending_.find('\n');
    if (nl == std::string::npos && pending_.size() <= 65) return out;
    recipient_seen_ = true;
    const std::string_view recipient =
        nl == std::string::npos ? std::string_view() : Trim(std::string_view(pending_).substr(0, nl));
    if (recipient == "all") {
      pending_.erase(0, nl + 1);
    } else if (IsToolName(recipient)) {
      section_ = std::move(pending_);
      pending_.clear();
      in_section_ = true;
      Advance(&out);
      return out;
    }
  }
  size_t m = std::string::npos;
  for (std::string_view marker : markers) m = std::min(m, pending_.find(marker));
  if (m != std::string::npos) {
    out.content = pending_.substr(0, m);
    section_ = pending_.substr(m);
    pending_.clear();
    in_section_ = true;
    Advance(&out);
    return out;
  }
  // A reply that starts with the call's JSON (the marker was a control
  // token the detokenizer dropped, or the template writes none). Command R+
  // as well: ParseCommandR takes a bare list for both Command R formats.
  if (!content_started_ &&
      (format_ == ToolFormat::kLlama3 || format_ == ToolFormat::kMistral ||
       format_ == ToolFormat::kCommandR ||
       format_ == ToolFormat::kCommandR7B)) {
    const size_t i = SkipSpace(pending_, 0);
    if (i == pending_.size()) return out;  // only whitespace so far
    if (pending_[i] == (format_ == ToolFormat::kLlama3 ? '{' : '[')) {
      section_ = std::move(pending_);
      pending_.clear();
      in_section_ = true;
      Advance(&out);
      return out;
    }
  }
  // Hold back the longest tail that may be the start of a marker.
  size_t keep = 0;
  for (std::string_view marker : markers)
    keep = std::max(keep, MarkerTail(pending_, marker));
  out.content = pending_.substr(0, pending_.size() - keep);
  pending_.erase(0, pending_.size() - keep);
  if (!AllSpace(out.content)) content_started_ = true;
  return out;
}

void ToolCallStream::Advance(Delta* out) {
  if (format_ == ToolFormat::kFunctionaryV32) {
    ScanFunctionaryV32(out);
    return;
  }
  do {
    ScanSection(out);
  } while (DrainBlock(out));
}

void ToolCallStream::StartCall(internal::CallScanner scanner, size_t at,
                               Scan next) {
  live_ = std::make_unique<internal::LiveCall>(std::move(scanner));
  call_start_ = at;
  scan_ = at;
  scan_state_ = Scan::kCall;
  after_call_ = next;
}

void ToolCallStream::EndCall(Delta* out) {
  if (live_ == nullptr) return;
  if (live_->begun()) {
    live_->Flush(out);
    begun_.push_back(live_->call());
  }
  live_.reset();
}

void ToolCallStream::ScanSection(Delta* out) {
  if (!StreamsArguments(format_)) return;
  const std::string_view s = section_;
  // Whether the call that just ended parses as the whole parse will read
  // it (else the rest waits for the whole parse).
  auto call_parses = [&](bool envelope) {
    if (!live_->begun()) return false;
    std::optional<ordered_json> j =
        ParseJson(s.substr(call_start_, scan_ - call_start_));
    if (!j.has_value()) return false;
    std::optional<ToolCall> c =
        envelope ? CallFromJson(*j)
                 : ToolCall{live_->scanner().name(), Dump(*j)};
    return c.has_value() && *c == live_->call();
  };
  while (true) {
    switch (scan_state_) {
      case Scan::kStopped:
        return;
      case Scan::kStart: {
        if (format_ == ToolFormat::kHermes ||
            format_ == ToolFormat::kFunctionaryV31) {
          // A block at the section's front (DrainBlock removes each).
          const std::string_view open =
              format_ == ToolFormat::kHermes ? kHermesOpen : kFunctionOpen;
          const size_t i = SkipSpace(s, 0);
          if (s.size() - i < open.size()) {
            if (!open.starts_with(s.substr(i))) scan_state_ = Scan::kStopped;
            return;
          }
          if (s.substr(i, open.size()) != open) {
            scan_state_ = Scan::kStopped;
            return;
          }
          size_t obj = i + open.size();
          std::string name;
          if (format_ == ToolFormat::kFunctionaryV31) {
            const size_t gt = s.find('>', obj);
            if (gt == std::string_view::npos) return;
            name = std::string(s.substr(obj, gt - obj));
            if (!IsToolName(name)) {
              scan_state_ = Scan::kStopped;
              return;
            }
            obj = gt + 1;
          }
          obj = SkipSpace(s, obj);
          if (obj == s.size()) return;
          if (s[obj] != '{') {
            scan_state_ = Scan::kStopped;
            return;
          }
          StartCall(format_ == ToolFormat::kHermes
                        ? internal::CallScanner::Envelope()
                        : internal::CallScanner::Arguments(name),
                    obj, Scan::kStopped);
          continue;
        }
        // A bare Mistral list's "[" may be the start of [TOOL_CALLS].
        if (format_ == ToolFormat::kMistral && s.size() < kToolCalls.size() &&
            kToolCalls.starts_with(s)) {
          return;
        }
        size_t i = 0;
        if (format_ == ToolFormat::kLlama3 && s.starts_with(kPythonTag))
          i = kPythonTag.size();
        if (format_ == ToolFormat::kMistral && s.starts_with(kToolCalls))
          i = kToolCalls.size();
        if (format_ == ToolFormat::kMistral) {
          scan_ = i;
          scan_state_ = Scan::kGroup;
          continue;
        }
        scan_ = i;
        semicolon_ = true;  // no ';' before the first call
        scan_state_ = Scan::kBetween;
        continue;
      }
      case Scan::kBetween: {  // Llama 3: before a call, after ws and one ';'
        const size_t j = SkipSpace(s, scan_);
        if (j == s.size()) return;
        if (s[j] == ';' && !semicolon_) {
          semicolon_ = true;
          scan_ = j + 1;
          continue;
        }
        if (s[j] != '{') {
          scan_state_ = Scan::kStopped;
          return;
        }
        StartCall(internal::CallScanner::Envelope(), j, Scan::kBetween);
        continue;
      }
      case Scan::kGroup: {  // Mistral: after [TOOL_CALLS]
        const size_t j = SkipSpace(s, scan_);
        if (j == s.size()) return;
        scan_ = j;
        if (s[j] == '[') {
          ++scan_;
          scan_state_ = Scan::kElement;
        } else {
          scan_state_ = Scan::kName;
        }
        continue;
      }
      case Scan::kElement: {  // Mistral: a list's next element
        const size_t j = SkipSpace(s, scan_);
        if (j == s.size()) return;
        if (s[j] != '{') {
          scan_state_ = Scan::kStopped;
          return;
        }
        StartCall(internal::CallScanner::Envelope(), j, Scan::kNext);
        continue;
      }
      case Scan::kNext: {  // Mistral: after a list element
        const size_t j = SkipSpace(s, scan_);
        if (j == s.size()) return;
        scan_ = j + 1;
        if (s[j] == ',') {
          scan_state_ = Scan::kElement;
        } else if (s[j] == ']') {
          scan_state_ = Scan::kAfterGroup;
        } else {
          scan_state_ = Scan::kStopped;
        }
        continue;
      }
      case Scan::kName: {  // Mistral: name[ARGS]{...}
        const size_t args = s.find(kArgs, scan_);
        if (args == std::string_view::npos) return;
        const std::string_view name = Trim(s.substr(scan_, args - scan_));
        const size_t obj = SkipSpace(s, args + kArgs.size());
        if (name.empty() ||
            name.find_first_of(" \n") != std::string_view::npos ||
            (obj < s.size() && s[obj] != '{')) {
          scan_state_ = Scan::kStopped;
          return;
        }
        if (obj == s.size()) return;
        StartCall(internal::CallScanner::Arguments(std::string(name)), obj,
                  Scan::kAfterGroup);
        continue;
      }
      case Scan::kAfterGroup: {  // Mistral: a next [TOOL_CALLS]?
        const size_t j = SkipSpace(s, scan_);
        const std::string_view rest = s.substr(j);
        if (rest.starts_with(kToolCalls)) {
          scan_ = j + kToolCalls.size();
          scan_state_ = Scan::kGroup;
          continue;
        }
        if (!kToolCalls.starts_with(rest)) scan_state_ = Scan::kStopped;
        return;
      }
      case Scan::kCall: {
        size_t limit = s.size();
        if (format_ == ToolFormat::kHermes) {
          // ParseHermes ends the block at the first </tool_call>, even in
          // a JSON string: read up to it, or up to a tail that may start it.
          const size_t close = s.find(kHermesClose, scan_);
          limit = close != std::string_view::npos
                      ? close
                      : s.size() - MarkerTail(s, kHermesClose);
          limit = std::max(limit, scan_);
        }
        scan_ +=
            live_->Feed(s.substr(scan_, limit - scan_), &calls_emitted_, out);
        const internal::CallScanner& sc = live_->scanner();
        if (!sc.done() && !sc.gave_up()) return;  // needs more text
        if (format_ == ToolFormat::kHermes ||
            format_ == ToolFormat::kFunctionaryV31) {
          // DrainBlock decides the call when its block ends.
          EndCall(out);
          scan_state_ = Scan::kStopped;
          return;
        }
        // A call that cannot stream, or does not parse as the whole parse
        // reads it, leaves the rest of the section (the calls after it
        // included, to keep indexes in order) to Finish().
        const bool parses = !sc.gave_up() && call_parses(sc.envelope());
        EndCall(out);
        if (!parses) {
          scan_state_ = Scan::kStopped;
          return;
        }
        semicolon_ = false;
        scan_state_ = after_call_;
        continue;
      }
    }
  }
}

void ToolCallStream::ScanFunctionaryV32(Delta* out) {
  if (!segments_started_) {
    // The section starts at a ">>>", or at the reply's start (its first
    // recipient line named a tool).
    segments_started_ = true;
    segment_first_ = !section_.starts_with(kRecipient);
    if (!segment_first_) section_.erase(0, kRecipient.size());
  }
  // section_ starts at the current segment (after its ">>>").
  while (true) {
    const std::string_view s = section_;
    const size_t next = s.find(kRecipient);  // the segment's end
    const size_t end = next == std::string_view::npos ? s.size() : next;
    if (scan_state_ == Scan::kStart) {
      const size_t nl = s.find('\n');
      const size_t obj = nl < end ? SkipSpace(s, nl + 1) : end;
      const std::string_view recipient =
          nl < end ? Trim(s.substr(0, nl)) : std::string_view();
      if (nl < end && (recipient == "all" || !IsToolName(recipient))) {
        scan_state_ = Scan::kStopped;
      } else if (obj < end) {
        if (s[obj] == '{') {
          StartCall(internal::CallScanner::Arguments(std::string(recipient)),
                    obj, Scan::kStopped);
        } else {
          scan_state_ = Scan::kStopped;
        }
      }
    }
    if (scan_state_ == Scan::kCall) {
      // The whole parse splits at ">>>" even in a JSON string: read up to
      // it, or up to a tail that may start it.
      const size_t limit =
          std::max(scan_, next != std::string_view::npos
                              ? next
                              : s.size() - MarkerTail(s, kRecipient));
      scan_ +=
          live_->Feed(s.substr(scan_, limit - scan_), &calls_emitted_, out);
      if (live_->scanner().done() || live_->scanner().gave_up()) {
        EndCall(out);
        scan_state_ = Scan::kStopped;
      }
    }
    if (next == std::string_view::npos) return;
    EndCall(out);
    ParsedOutput p;
    ParseFunctionaryV32Segment(s.substr(0, next), segment_first_, &p);
    Reconcile(std::move(p), out);
    section_.erase(0, next + kRecipient.size());
    segment_first_ = false;
    scan_state_ = Scan::kStart;
    scan_ = 0;
  }
}

bool ToolCallStream::DrainBlock(Delta* out) {
  const auto block = Block(format_);
  if (!block.has_value()) return false;
  const auto [open, close_tag] = *block;
  const size_t i = SkipSpace(section_, 0);
  if (section_.compare(i, open.size(), open) != 0) return false;
  size_t after;
  if (format_ == ToolFormat::kFunctionaryV31) {
    // Delimited as its parser does: the JSON read to its end (a close tag
    // may sit in a string), then the close tag if one follows.
    const size_t gt = section_.find('>', i + open.size());
    if (gt == std::string::npos) return false;
    const size_t obj = SkipSpace(section_, gt + 1);
    // Not an object: the parser stops there, so the rest waits for
    // Finish() (parsed whole).
    if (obj >= section_.size() || section_[obj] != '{') return false;
    const size_t end = JsonEnd(section_, obj);
    if (end == std::string::npos) return false;
    const size_t k = SkipSpace(section_, end);
    if (k == section_.size()) return false;  // a close tag may follow
    const std::string_view rest = std::string_view(section_).substr(k);
    if (rest.starts_with(close_tag)) {
      after = k + close_tag.size();
    } else if (close_tag.starts_with(rest)) {
      return false;
    } else {
      after = end;
    }
  } else {
    const size_t close = section_.find(close_tag, i + open.size());
    if (close == std::string::npos) return false;
    after = close + close_tag.size();
  }
  EndCall(out);
  Reconcile(
      ParseToolCalls(format_, std::string_view(section_).substr(0, after)),
      out);
  section_.erase(0, after);
  scan_state_ = Scan::kStart;
  scan_ = 0;
  return true;
}

void ToolCallStream::Reconcile(ParsedOutput p, Delta* out) {
  out->content += p.content;
  // The calls streamed that parse are those of p, in order (the others
  // turned out malformed: p has their text as content).
  size_t j = 0;
  for (const ToolCall& streamed : begun_) {
    if (j < p.calls.size() && p.calls[j] == streamed) ++j;
  }
  begun_.clear();
  for (; j < p.calls.size(); ++j) {
    out->tool_calls.push_back({calls_emitted_++, std::move(p.calls[j].name),
                               std::move(p.calls[j].arguments)});
  }
}

ToolCallStream::Delta ToolCallStream::Finish() {
  if (harmony_ != nullptr) {
    Delta d = harmony_->Finish();
    calls_emitted_ = harmony_->calls_begun();
    return d;
  }
  Delta out;
  if (!in_section_) {
    out.content = std::move(pending_);
    pending_.clear();
    return out;
  }
  EndCall(&out);
  if (format_ == ToolFormat::kFunctionaryV32) {
    // The last segment (the earlier ones went out as they ended).
    ParsedOutput p;
    ParseFunctionaryV32Segment(section_, segment_first_, &p);
    Reconcile(std::move(p), &out);
  } else {
    Reconcile(ParseToolCalls(format_, section_), &out);
  }
  section_.clear();
  scan_state_ = Scan::kStopped;
  return out;
}

}  // namespace triptych::tool_calls
