// libFuzzer target for the tool-call parsers (built with -DTRIPTYCH_FUZZ=ON
// and clang; see docs/FUZZING.md). Model output is untrusted text.
//
// Input: 1 format byte (mod the number of formats), 1 piece-size byte, then
// the output text. Checks, for every format:
//   1. ParseToolCalls never crashes, every call has a name and arguments
//      that are valid JSON;
//   2. ToolCallStream fed the text in pieces of the given size yields
//      pieces in order (a call's first piece names it and takes the next
//      index) whose calls hold the whole parse's calls (names and
//      arguments, in order) plus only calls that began to stream and turned
//      out malformed, and the same content and reasoning (gpt-oss's
//      analysis channel) up to whitespace-only pieces (the stream's
//      contract in tool_call_parser.h).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "nlohmann/json.hpp"
#include "runtime/tool_calls/tool_call_parser.h"
#include "runtime/tool_calls/tool_format.h"

namespace {

using triptych::tool_calls::ParsedOutput;
using triptych::tool_calls::ToolCallStream;
using triptych::tool_calls::ToolFormat;

constexpr ToolFormat kFormats[] = {
    ToolFormat::kNone,           ToolFormat::kHermes,
    ToolFormat::kLlama3,         ToolFormat::kMistral,
    ToolFormat::kDeepSeekR1,     ToolFormat::kFunctionaryV31,
    ToolFormat::kFunctionaryV32, ToolFormat::kCommandR,
    ToolFormat::kCommandR7B,     ToolFormat::kGptOss,
};

std::string NoSpace(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c != ' ' && c != '\n' && c != '\t' && c != '\r') out.push_back(c);
  }
  return out;
}

[[noreturn]] void Fail(const char* what, ToolFormat format, std::string_view text) {
  std::fprintf(stderr, "%s (format %s): %.*s\n", what, triptych::tool_calls::ToolFormatName(format),
               static_cast<int>(text.size()), text.data());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const ToolFormat format = kFormats[data[0] % (sizeof(kFormats) / sizeof(kFormats[0]))];
  const size_t step = 1 + data[1] % 16;
  const std::string_view text(reinterpret_cast<const char*>(data) + 2, size - 2);

  const ParsedOutput whole = triptych::tool_calls::ParseToolCalls(format, text);
  for (const auto& call : whole.calls) {
    if (call.name.empty()) Fail("call without a name", format, text);
    if (!nlohmann::json::accept(call.arguments)) Fail("arguments not JSON", format, text);
  }

  ToolCallStream stream(format);
  ParsedOutput streamed;
  auto take = [&](ToolCallStream::Delta d) {
    streamed.content += d.content;
    streamed.reasoning += d.reasoning;
    for (auto& piece : d.tool_calls) {
      if (!piece.name.empty()) {
        if (piece.index != static_cast<int>(streamed.calls.size())) {
          Fail("call index out of order", format, text);
        }
        streamed.calls.push_back({piece.name, ""});
      } else if (piece.index < 0 ||
                 piece.index >= static_cast<int>(streamed.calls.size())) {
        Fail("piece of an unknown call", format, text);
      }
      streamed.calls[piece.index].arguments += piece.arguments;
    }
  };
  for (size_t i = 0; i < text.size(); i += step) take(stream.Push(text.substr(i, step)));
  take(stream.Finish());
  // The whole parse's calls, in order, among the streamed ones; the others
  // must be calls the whole parse does not have (malformed after they began).
  size_t j = 0;
  for (const auto& call : streamed.calls) {
    if (j < whole.calls.size() && call == whole.calls[j]) ++j;
  }
  if (j != whole.calls.size()) Fail("calls differ", format, text);
  if (NoSpace(streamed.content) != NoSpace(whole.content)) Fail("content differs", format, text);
  if (NoSpace(streamed.reasoning) != NoSpace(whole.reasoning)) {
    Fail("reasoning differs", format, text);
  }
  return 0;
}
