#ifndef TRIPTYCH_RUNTIME_TOOL_CALLS_HARMONY_H_
#define TRIPTYCH_RUNTIME_TOOL_CALLS_HARMONY_H_

// OpenAI's harmony format (gpt-oss), whole and streamed. The reply (after
// the generation prompt's `<|start|>assistant`) is a sequence of messages:
//
//   header <|message|> body (<|end|> | <|call|> | <|return|> | end of text)
//
// where a header holds `<|channel|>CHANNEL`, optionally a recipient
// `to=functions.NAME` (before or after the channel) and a content type
// (`<|constrain|>json` or ` json`), and every header after the first opens
// with `<|start|>assistant`. A body is read to its end marker, or to a
// `<|start|>` that opens the next message without one.
//
//   * `analysis`: reasoning;
//   * recipient `functions.NAME` with a JSON object body: a call (a body
//     that is not one stays content, as written);
//   * `final`, `commentary` without a recipient (a preamble to the user)
//     and any other channel: content.
//
// Text that is not a message (no `<|message|>` within kMaxHeader bytes, or
// a header without `<|channel|>`) is content from there on, as written: a
// model (or a scripted backend) that writes no channels still answers.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/tool_calls/tool_call_parser.h"

namespace triptych::tool_calls {

ParsedOutput ParseHarmony(std::string_view text);

// Incremental ParseHarmony: body text streams as soon as it cannot be the
// start of an end marker; a header is held until its <|message|>; a call's
// body (its arguments) streams once it starts with '{', else the call
// comes out whole when its body ends. The concatenated content and
// reasoning and the calls equal ParseHarmony's, up to pieces that are only
// whitespace, with ToolCallStream's rule for a call whose body turns out
// malformed after it began (it stays, and the body is content too). Not
// thread-safe: one per stream.
class HarmonyStream {
 public:
  // What a message's body is (from its header).
  enum class Kind { kContent, kReasoning, kCall };

  HarmonyStream();
  ~HarmonyStream();

  ToolCallStream::Delta Push(std::string_view text);
  ToolCallStream::Delta Finish();
  // Calls begun so far.
  int calls_begun() const { return calls_; }

 private:
  enum class State { kHeader, kBody, kRaw };
  // Consumes what buf_ decides.
  void Drain(ToolCallStream::Delta* out);
  // More of a kCall message's body.
  void AddCallBody(std::string_view piece, ToolCallStream::Delta* out);
  // The body of a kCall message is complete.
  void EndCall(ToolCallStream::Delta* out);

  State state_ = State::kHeader;
  Kind kind_ = Kind::kContent;
  std::string call_name_;
  std::string call_body_;
  std::unique_ptr<internal::LiveCall> live_;  // the kCall body's arguments
  int calls_ = 0;
  std::string buf_;  // undecided text
};

}  // namespace triptych::tool_calls

#endif  // TRIPTYCH_RUNTIME_TOOL_CALLS_HARMONY_H_
