#include "runtime/tool_calls/harmony.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <utility>

#include "nlohmann/json.hpp"
#include "runtime/tool_calls/json_stream.h"
#include "runtime/tool_calls/text_util.h"

namespace triptych::tool_calls {
namespace {

using internal::AllSpace;
using internal::IsSpace;
using internal::IsToolName;
using internal::Trim;
using nlohmann::ordered_json;

constexpr std::string_view kStart = "<|start|>";
constexpr std::string_view kChannel = "<|channel|>";
constexpr std::string_view kMessage = "<|message|>";
constexpr std::string_view kEnd = "<|end|>";
constexpr std::string_view kCall = "<|call|>";
constexpr std::string_view kReturn = "<|return|>";
constexpr std::string_view kFunctions = "functions.";
// The end markers of a body; <|start|> (a next message with no <|end|>
// before it) is not consumed.
constexpr std::string_view kBodyEnds[] = {kEnd, kCall, kReturn, kStart};

// A header is at most this long (`<|start|>assistant to=functions.` + a
// 64-byte name + channel and content type fit well inside).
constexpr size_t kMaxHeader = 192;

// The word at s[i]: up to a space, a newline, '<' or the end.
std::string_view Word(std::string_view s, size_t i) {
  size_t e = i;
  while (e < s.size() && !IsSpace(s[e]) && s[e] != '<') ++e;
  return s.substr(i, e - i);
}

using Kind = HarmonyStream::Kind;

struct Header {
  bool valid = false;
  Kind kind = Kind::kContent;
  std::string call_name;  // kCall
};

Header ReadHeader(std::string_view h) {
  Header out;
  const size_t channel = h.find(kChannel);
  if (h.size() > kMaxHeader || channel == std::string_view::npos) return out;
  out.valid = true;
  const size_t to = h.find("to=");
  const std::string_view recipient =
      to == std::string_view::npos ? std::string_view() : Word(h, to + 3);
  if (!recipient.empty()) {
    // Only `functions.` calls exist here (no built-in browser or python
    // tools): any other recipient's message is content.
    if (recipient.starts_with(kFunctions) &&
        IsToolName(recipient.substr(kFunctions.size()))) {
      out.kind = Kind::kCall;
      out.call_name = std::string(recipient.substr(kFunctions.size()));
    }
    return out;
  }
  if (Word(h, channel + kChannel.size()) == "analysis")
    out.kind = Kind::kReasoning;
  return out;
}

// The first body end at or after `from`: its position and how many bytes
// of it the body consumes; {npos, 0} when there is none.
std::pair<size_t, size_t> FindBodyEnd(std::string_view s, size_t from) {
  std::pair<size_t, size_t> best = {std::string_view::npos, 0};
  for (std::string_view m : kBodyEnds) {
    const size_t at = s.find(m, from);
    if (at < best.first) best = {at, m == kStart ? 0 : m.size()};
  }
  return best;
}

// A call's body: the call when it is a JSON object, else nothing (the
// body is content).
std::optional<ToolCall> CallFromBody(const std::string& name,
                                     std::string_view body) {
  std::optional<ordered_json> j = internal::ParseJson(Trim(body));
  if (!j.has_value() || !j->is_object()) return std::nullopt;
  return ToolCall{name, internal::Dump(*j)};
}

std::string NonBlank(std::string s) {
  return AllSpace(s) ? std::string() : std::move(s);
}

}  // namespace

ParsedOutput ParseHarmony(std::string_view text) {
  ParsedOutput out;
  std::string content, reasoning;
  size_t pos = 0;
  while (pos < text.size()) {
    const std::string_view rest = text.substr(pos);
    const size_t message = rest.find(kMessage);
    Header h;
    if (message != std::string_view::npos)
      h = ReadHeader(rest.substr(0, message));
    if (!h.valid) {
      if (!AllSpace(rest)) content.append(rest);
      break;
    }
    const size_t body = message + kMessage.size();
    auto [end, consumed] = FindBodyEnd(rest, body);
    if (end == std::string_view::npos) end = rest.size();
    const std::string_view b = rest.substr(body, end - body);
    if (h.kind == Kind::kReasoning) {
      reasoning.append(b);
    } else if (h.kind == Kind::kCall) {
      if (std::optional<ToolCall> call = CallFromBody(h.call_name, b)) {
        out.calls.push_back(*std::move(call));
      } else {
        content.append(b);
      }
    } else {
      content.append(b);
    }
    pos += end + consumed;
  }
  out.content = NonBlank(std::move(content));
  out.reasoning = NonBlank(std::move(reasoning));
  return out;
}

HarmonyStream::HarmonyStream() = default;
HarmonyStream::~HarmonyStream() = default;

ToolCallStream::Delta HarmonyStream::Push(std::string_view text) {
  ToolCallStream::Delta out;
  buf_.append(text);
  Drain(&out);
  return out;
}

void HarmonyStream::AddCallBody(std::string_view piece,
                                ToolCallStream::Delta* out) {
  call_body_.append(piece);
  // Bytes after the arguments' end are for the whole parse to judge.
  if (live_ != nullptr) live_->Feed(piece, &calls_, out);
}

void HarmonyStream::EndCall(ToolCallStream::Delta* out) {
  std::optional<ToolCall> call = CallFromBody(call_name_, call_body_);
  const bool streamed = live_ != nullptr && live_->begun();
  if (streamed) live_->Flush(out);
  if (streamed && call.has_value() && *call == live_->call()) {
    // Sent already.
  } else if (call.has_value()) {
    out->tool_calls.push_back(
        {calls_++, std::move(call->name), std::move(call->arguments)});
  } else {
    // Not a call (if it began to stream, it stays: ToolCallStream's rule).
    out->content += call_body_;
  }
  live_.reset();
  call_body_.clear();
}

void HarmonyStream::Drain(ToolCallStream::Delta* out) {
  while (true) {
    if (state_ == State::kRaw) {
      out->content += buf_;
      buf_.clear();
      return;
    }
    if (state_ == State::kHeader) {
      const size_t message = buf_.find(kMessage);
      if (message == std::string::npos) {
        // A later <|message|> would make the header too long.
        if (buf_.size() >= kMaxHeader + kMessage.size()) state_ = State::kRaw;
        if (state_ == State::kRaw) continue;
        return;
      }
      const Header h = ReadHeader(std::string_view(buf_).substr(0, message));
      if (!h.valid) {
        state_ = State::kRaw;
        continue;
      }
      kind_ = h.kind;
      call_name_ = h.call_name;
      if (kind_ == Kind::kCall) {
        live_ = std::make_unique<internal::LiveCall>(
            internal::CallScanner::Arguments(call_name_));
      }
      buf_.erase(0, message + kMessage.size());
      state_ = State::kBody;
      continue;
    }
    // kBody.
    const auto [end, consumed] = FindBodyEnd(buf_, 0);
    size_t take = end;
    if (end == std::string::npos) {
      // Hold back a tail that may start an end marker.
      size_t keep = 0;
      for (std::string_view m : kBodyEnds) {
        for (size_t k = std::min(m.size() - 1, buf_.size()); k > keep; --k) {
          if (std::string_view(buf_).ends_with(m.substr(0, k))) {
            keep = k;
            break;
          }
        }
      }
      take = buf_.size() - keep;
    }
    const std::string piece = buf_.substr(0, take);
    if (kind_ == Kind::kCall) {
      AddCallBody(piece, out);
    } else if (kind_ == Kind::kReasoning) {
      out->reasoning += piece;
    } else {
      out->content += piece;
    }
    if (end == std::string::npos) {
      buf_.erase(0, take);
      return;
    }
    if (kind_ == Kind::kCall) EndCall(out);
    buf_.erase(0, end + consumed);
    state_ = State::kHeader;
  }
}

ToolCallStream::Delta HarmonyStream::Finish() {
  ToolCallStream::Delta out;
  Drain(&out);
  if (state_ == State::kHeader) {
    if (!AllSpace(buf_)) out.content += buf_;
  } else if (state_ == State::kBody) {
    if (kind_ == Kind::kCall) {
      AddCallBody(buf_, &out);
      EndCall(&out);
    } else if (kind_ == Kind::kReasoning) {
      out.reasoning += buf_;
    } else {
      out.content += buf_;
    }
  }
  buf_.clear();
  state_ = State::kHeader;
  return out;
}

}  // namespace triptych::tool_calls
