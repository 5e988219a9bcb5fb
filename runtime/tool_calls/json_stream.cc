#include "runtime/tool_calls/json_stream.h"

#include <utility>
#include <vector>

#include "runtime/tool_calls/text_util.h"

namespace triptych::tool_calls::internal {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}

// A byte of a number or a literal (true, false, null) outside strings.
bool IsTokenChar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || c == '+' || c == '-' || c == '.';
}

// "\uD800".."\uDBFF": the first half of a surrogate pair.
bool IsHighSurrogate(std::string_view esc) {
  if (esc.size() != 6 || esc[1] != 'u') return false;
  const char a = esc[2], b = esc[3];
  return (a == 'd' || a == 'D') &&
         (b == '8' || b == '9' || b == 'a' || b == 'A' || b == 'b' || b == 'B');
}

// The JSON string token `raw` (quotes included), decoded; nullopt when it
// is not one.
std::optional<std::string> DecodeString(std::string_view raw) {
  json j =
      json::parse(raw.begin(), raw.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_string()) return std::nullopt;
  return j.get<std::string>();
}

// The length of `s` without a UTF-8 sequence cut off at its end.
size_t Utf8Boundary(std::string_view s) {
  for (size_t back = 1; back <= 4 && back <= s.size(); ++back) {
    const unsigned char c = static_cast<unsigned char>(s[s.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte
    const size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return len > back ? s.size() - back : s.size();
  }
  return s.size();
}

}  // namespace

std::optional<ordered_json> ParseJson(std::string_view s) {
  // The keys of the objects being parsed, innermost last.
  std::vector<std::vector<std::string>> keys;
  bool repeated = false;
  const ordered_json::parser_callback_t note_keys =
      [&](int, ordered_json::parse_event_t event, ordered_json& parsed) {
        using Event = ordered_json::parse_event_t;
        if (event == Event::object_start) {
          keys.emplace_back();
        } else if (event == Event::object_end) {
          if (!keys.empty()) keys.pop_back();
        } else if (event == Event::key && !keys.empty()) {
          const std::string& k = parsed.get_ref<const std::string&>();
          for (const std::string& seen : keys.back())
            repeated = repeated || seen == k;
          keys.back().push_back(k);
        }
        return true;
      };
  ordered_json j = ordered_json::parse(s.begin(), s.end(), note_keys,
                                       /*allow_exceptions=*/false);
  if (j.is_discarded() || repeated) return std::nullopt;
  return j;
}

std::string Dump(const ordered_json& j) {
  return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

void JsonCompactor::FlushToken(std::string* out) {
  json j = json::parse(tok_.begin(), tok_.end(), nullptr,
                       /*allow_exceptions=*/false);
  // Not a number or literal: written as it came (the whole parse fails).
  out->append(j.is_discarded() ? tok_ : j.dump());
  tok_.clear();
}

void JsonCompactor::FlushEscape(std::string* out) {
  const std::string quoted = "\"" + esc_ + "\"";
  json j = json::parse(quoted.begin(), quoted.end(), nullptr,
                       /*allow_exceptions=*/false);
  if (j.is_string()) {
    const std::string d =
        j.dump(-1, ' ', false, json::error_handler_t::replace);
    out->append(d, 1, d.size() - 2);
  } else {
    out->append(esc_);  // a bad escape or a lone surrogate
  }
  esc_.clear();
}

void JsonCompactor::Feed(char c, std::string* out) {
  if (in_string_) {
    if (!esc_.empty()) {
      // An escape: '\' and one byte, or "\u" and 4 hex digits; a high
      // surrogate waits for its low half ("\uD83D\uDE00"). A byte that
      // cannot continue it ends it and is read as string text, as the
      // parsers' JsonEnd reads it.
      const size_t n = esc_.size();
      if (n == 1) {
        esc_.push_back(c);
        if (c != 'u') FlushEscape(out);
        return;
      }
      if (n < 6 || (n > 7 && n < 12)) {
        if (IsHex(c)) {
          esc_.push_back(c);
          if ((esc_.size() == 6 && !IsHighSurrogate(esc_)) ||
              esc_.size() == 12) {
            FlushEscape(out);
          }
          return;
        }
        FlushEscape(out);
      } else if (n == 6) {
        if (c == '\\') {
          esc_.push_back(c);
          return;
        }
        FlushEscape(out);
      } else {  // n == 7: "\uD83D\" then not 'u': two escapes
        if (c == 'u') {
          esc_.push_back(c);
          return;
        }
        esc_.pop_back();
        FlushEscape(out);
        esc_ = {'\\', c};
        FlushEscape(out);
        return;
      }
    }
    if (c == '\\') {
      esc_ = "\\";
      return;
    }
    if (c == '"') in_string_ = false;
    out->push_back(c);
    return;
  }
  const bool token = IsTokenChar(c);
  if (!tok_.empty() && !token) FlushToken(out);
  if (token) {
    tok_.push_back(c);
    return;
  }
  if (IsSpace(c)) return;
  out->push_back(c);
  if (c == '"') {
    in_string_ = true;
  } else if (c == '{' || c == '[') {
    ++depth_;
  } else if ((c == '}' || c == ']') && --depth_ <= 0) {
    done_ = true;
  }
}

CallScanner CallScanner::Envelope() { return CallScanner(); }

CallScanner CallScanner::Arguments(std::string name) {
  CallScanner s;
  s.envelope_ = false;
  s.state_ = State::kValue;
  s.key_ = "arguments";
  s.name_ = std::move(name);
  return s;
}

bool CallScanner::Skip(char c) {
  if (skip_in_string_) {
    if (skip_escaped_) {
      skip_escaped_ = false;
    } else if (c == '\\') {
      skip_escaped_ = true;
    } else if (c == '"') {
      skip_in_string_ = false;
    }
    return false;
  }
  if (c == '"') {
    skip_in_string_ = true;
  } else if (c == '{' || c == '[') {
    ++skip_depth_;
  } else if (c == '}' || c == ']') {
    if (skip_depth_ == 0) return true;
    --skip_depth_;
  } else if (c == ',' && skip_depth_ == 0) {
    return true;
  }
  return false;
}

void CallScanner::Feed(char c) {
  switch (state_) {
    case State::kOpen:
      if (IsSpace(c)) return;
      state_ = c == '{' ? State::kKey : State::kGaveUp;
      return;
    case State::kKey:
      if (IsSpace(c)) return;
      if (c == '"') {
        raw_ = "\"";
        escaped_ = false;
        state_ = State::kInKey;
      } else {
        state_ = c == '}' ? State::kDone : State::kGaveUp;
      }
      return;
    case State::kInKey:
    case State::kInName: {
      raw_.push_back(c);
      if (escaped_) {
        escaped_ = false;
        return;
      }
      if (c == '\\') {
        escaped_ = true;
        return;
      }
      if (c != '"') return;
      const std::optional<std::string> s = DecodeString(raw_);
      if (state_ == State::kInKey) {
        key_ = s.value_or("");
        state_ = State::kColon;
      } else {
        if (name_.empty() && s.has_value()) name_ = *s;
        state_ = State::kAfter;
      }
      return;
    }
    case State::kColon:
      if (IsSpace(c)) return;
      state_ = c == ':' ? State::kValue : State::kGaveUp;
      return;
    case State::kValue:
      if (IsSpace(c)) return;
      if (envelope_ && key_ == "name" && c == '"') {
        raw_ = "\"";
        escaped_ = false;
        state_ = State::kInName;
        return;
      }
      if ((key_ == "arguments" || key_ == "parameters") && !args_started_) {
        if (c == '{' && !name_.empty()) {
          args_started_ = true;
          args_scanner_.Feed(c, &args_);
          state_ = State::kArgs;
          return;
        }
        // A null "arguments" leaves the call to "parameters" (the whole
        // parse takes the first that is not null); anything else is not
        // an object we can stream, or comes before the name.
        if (!envelope_ || c != 'n') {
          state_ = State::kGaveUp;
          return;
        }
      }
      skip_depth_ = 0;
      skip_in_string_ = skip_escaped_ = false;
      state_ = State::kSkip;
      [[fallthrough]];
    case State::kSkip:
      if (!Skip(c)) return;
      state_ = State::kAfter;
      Feed(c);
      return;
    case State::kArgs:
      args_scanner_.Feed(c, &args_);
      if (args_scanner_.done())
        state_ = envelope_ ? State::kAfter : State::kDone;
      return;
    case State::kAfter:
      if (IsSpace(c)) return;
      if (c == ',') {
        state_ = State::kKey;
      } else {
        state_ = c == '}' ? State::kDone : State::kGaveUp;
      }
      return;
    case State::kDone:
    case State::kGaveUp:
      return;
  }
}

size_t LiveCall::Feed(std::string_view s, int* next_index,
                      ToolCallStream::Delta* out) {
  size_t i = 0;
  while (i < s.size() && !scanner_.done() && !scanner_.gave_up()) {
    scanner_.Feed(s[i++]);
    if (index_ < 0 && scanner_.streaming()) {
      index_ = (*next_index)++;
      out->tool_calls.push_back({index_, scanner_.name(), ""});
    }
  }
  if (index_ >= 0) Send(scanner_.done(), out);
  return i;
}

void LiveCall::Flush(ToolCallStream::Delta* out) {
  if (index_ >= 0) Send(/*all=*/true, out);
}

void LiveCall::Send(bool all, ToolCallStream::Delta* out) {
  const std::string& args = scanner_.arguments();
  const size_t end = all ? args.size() : Utf8Boundary(args);
  if (end <= sent_) return;
  if (out->tool_calls.empty() || out->tool_calls.back().index != index_) {
    out->tool_calls.push_back({index_, "", ""});
  }
  out->tool_calls.back().arguments.append(args, sent_, end - sent_);
  sent_ = end;
}

}  // namespace triptych::tool_calls::internal
