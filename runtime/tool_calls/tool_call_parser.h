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
namespace internal {
class CallScanner;
class LiveCall;
}  // namespace internal

struct ToolCall {
  std::string name;
  std::string arguments;  // JSON text (compact), "{}" when the call had none

  bool operator==(const ToolCall&) const = default;
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

// A piece of a call as it streams. A call's first piece carries its name;
// the concatenated `arguments` of its pieces are the call's arguments.
struct ToolCallDelta {
  int index = 0;          // the call's number in the output: 0, 1, ...
  std::string name;       // the call's first piece only (names are not "")
  std::string arguments;  // the next bytes of the compact arguments JSON
};

// Incremental parsing: text before a call streams out as content at once,
// except a tail that may be the start of a call marker (held until the next
// piece decides); from a marker on, text is held.
//
// Arguments stream as they are generated for Hermes, Llama 3, Mistral,
// functionary v3.1 and v3.2, and gpt-oss: once a call's name is known and
// its arguments object has started, the call's first piece (its name) goes
// out, then the arguments in fragments, compacted on the fly to the text
// ParseToolCalls gives. A call the stream cannot read that way (arguments
// before the name or as a JSON string, no arguments; DeepSeek R1 and
// Command R) comes out whole when its text is complete (a closed block or
// segment) or at Finish(), and so do the calls after it in the same
// section (indexes stay in order).
//
// The content of all Deltas is ParseToolCalls(format, all text)'s content,
// up to pieces that are only whitespace. For well-formed output the calls
// are its calls too. Output that turns out malformed after a call began to
// stream (bad JSON, text after the JSON in the block) is no call for the
// whole parse, whose content then holds the block's text; a stream cannot
// take back what it sent, so the call stays (its arguments are what was
// read, possibly not JSON) and the block's text is content as well: the
// whole parse's calls are the stream's calls without those, in order, and
// no text is dropped. vLLM keeps such a call too (and drops the text).
// Not thread-safe: one per stream.
class ToolCallStream {
 public:
  struct Delta {
    std::string content;
    // Call pieces in order; consecutive pieces of one call are merged.
    std::vector<ToolCallDelta> tool_calls;
    std::string reasoning;  // see ParsedOutput::reasoning
  };

  explicit ToolCallStream(ToolFormat format);
  ~ToolCallStream();

  Delta Push(std::string_view text);
  // The end of the output: everything held back.
  Delta Finish();
  // Calls begun so far (their first piece was emitted).
  int calls_emitted() const { return calls_emitted_; }

 private:
  // Where the argument scanner is in the section. Block formats (Hermes,
  // functionary v3.1) and functionary v3.2's segments go kStart -> kCall
  // -> kStopped per block or segment; Llama 3 goes kStart -> (kBetween ->
  // kCall)*; Mistral kStart -> kGroup, then kGroup -> kElement -> kCall ->
  // kNext (-> kElement | kAfterGroup) for a list or kGroup -> kName ->
  // kCall -> kAfterGroup for name[ARGS], and kAfterGroup -> kGroup at the
  // next [TOOL_CALLS]. Anything unexpected, or a call that gives up, goes
  // to kStopped: the rest of the section waits for the whole parse.
  enum class Scan {
    kStart,
    kCall,
    kBetween,
    kGroup,
    kElement,
    kNext,
    kName,
    kAfterGroup,
    kStopped
  };

  // In the call section: streams what it can, then emits the blocks that
  // are complete.
  void Advance(Delta* out);
  // Feeds the live call (or starts one) as far as the section decides.
  void ScanSection(Delta* out);
  // functionary v3.2: streams the current segment's call and emits each
  // segment that ended (at the next ">>>").
  void ScanFunctionaryV32(Delta* out);
  // Starts a live call at section_[at]; `next`: the state after it.
  void StartCall(internal::CallScanner scanner, size_t at, Scan next);
  // The live call's text ended: flushes it into begun_ (when it began).
  void EndCall(Delta* out);
  // Emits one complete block at the section's front (Hermes, functionary
  // v3.1); false when there is none.
  bool DrainBlock(Delta* out);
  // Emits `p` (the whole parse of text the stream read): its content, and
  // its calls except those begun_ already streamed.
  void Reconcile(ParsedOutput p, Delta* out);

  const ToolFormat format_;
  std::unique_ptr<HarmonyStream> harmony_;  // kGptOss
  std::string pending_;       // held text that may start a marker
  std::string section_;       // text from the first marker on
  bool in_section_ = false;
  bool content_started_ = false;  // non-whitespace content was emitted
  bool recipient_seen_ = false;   // functionary v3.2: the first line decided
  int calls_emitted_ = 0;
  // Argument streaming.
  Scan scan_state_ = Scan::kStart;
  size_t scan_ = 0;         // section_ bytes read by the scanner
  size_t call_start_ = 0;   // where the live call's JSON starts in section_
  bool semicolon_ = false;  // Llama 3: a ';' was read after the last call
  Scan after_call_ = Scan::kStopped;
  bool segments_started_ = false;  // functionary v3.2
  bool segment_first_ = false;     // the segment is the reply's first
  std::unique_ptr<internal::LiveCall> live_;
  // The calls streamed since the last Reconcile, as streamed.
  std::vector<ToolCall> begun_;
};

}  // namespace triptych::tool_calls

#endif  // TRIPTYCH_RUNTIME_TOOL_CALLS_TOOL_CALL_PARSER_H_
