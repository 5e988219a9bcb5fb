#ifndef TRIPTYCH_RUNTIME_TOOL_CALLS_TOOL_CALL_PARSER_H_
#define TRIPTYCH_RUNTIME_TOOL_CALLS_TOOL_CALL_PARSER_H_

// Turns a model's output into content and tool calls, whole
// (ParseToolCalls) or as it streams (ToolCallStream), for the formats of
// tool_format.h. The output is untrusted: whatever does not parse as a call
// stays content, nothing throws.
//
// Marker tokens that are control tokens in a real vocabulary
// (<|python_tag|>, [TOOL_CALLS], <|START_ACTION|>) are dropped by the
// detokenizer, so the Llama 3, Mistral and Command R7B parsers also accept a
// reply that *starts* with the call's JSON (`{"name"...` / `[{"name"...` /
// `[{"tool_call_id"...`), as vLLM's Llama 3 JSON parser does.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/tool_calls/tool_format.h"

namespace triptych::tool_calls {

class HarmonyStream;

struct ToolCall {
  std::string name;
  std::string arguments;  // JSON text (compact), "{}" when the call had none
};

struct ParsedOutput {
  // The text outside the calls; "" when that is only whitespace.
  std::string content;
  std::vector<ToolCall> calls;
  // Reasoning the format keeps apart from the answer (gpt-oss's `analysis`
  // channel); "" when that is only whitespace, and for the other formats.
  std::string reasoning;
};

// Parses a complete output. With kNone (or no call found) everything is
// content.
ParsedOutput ParseToolCalls(ToolFormat format, std::string_view text);

// Incremental parsing: text before a call streams out as content at once,
// except a tail that may be the start of a call marker (held until the next
// piece decides); from a marker on, text is held and calls come out when
// they are complete (a closed Hermes block) or at Finish(). The calls of
// all Deltas are those of ParseToolCalls(format, all text), and so is the
// content, up to pieces that are only whitespace. Not thread-safe: one per
// stream.
class ToolCallStream {
 public:
  struct Delta {
    std::string content;
    std::vector<ToolCall> calls;  // complete calls, in order
    std::string reasoning;        // see ParsedOutput::reasoning
  };

  explicit ToolCallStream(ToolFormat format);
  ~ToolCallStream();

  Delta Push(std::string_view text);
  // The end of the output: everything held back.
  Delta Finish();
  // Calls emitted so far.
  int calls_emitted() const { return calls_emitted_; }

 private:
  // In the call section: emits the Hermes blocks that are complete.
  void DrainCompleteBlocks(Delta* out);

  const ToolFormat format_;
  std::unique_ptr<HarmonyStream> harmony_;  // kGptOss
  std::string pending_;       // held text that may start a marker
  std::string section_;       // text from the first marker on
  bool in_section_ = false;
  bool content_started_ = false;  // non-whitespace content was emitted
  bool recipient_seen_ = false;   // functionary v3.2: the first line decided
  int calls_emitted_ = 0;
};

}  // namespace triptych::tool_calls

#endif  // TRIPTYCH_RUNTIME_TOOL_CALLS_TOOL_CALL_PARSER_H_
