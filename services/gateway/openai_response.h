#ifndef TRIPTYCH_SERVICES_GATEWAY_OPENAI_RESPONSE_H_
#define TRIPTYCH_SERVICES_GATEWAY_OPENAI_RESPONSE_H_

// Builds OpenAI response bodies for one request: the non-streaming
// `chat.completion` / `text_completion` objects and the SSE chunks of a
// stream (`chat.completion.chunk` / `text_completion`), with logprobs in the
// shape of each endpoint, for the request's `n` choices (an event belongs to
// the choice of its `index`). Not thread-safe: one builder per request, used
// by one event at a time.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/types/span.h"
#include "nlohmann/json.hpp"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tool_calls/tool_call_parser.h"
#include "services/gateway/backend.h"
#include "services/gateway/openai_request.h"

namespace triptych::gateway {

// "stop" / "length"; kCancelled and kError give "stop" / "error".
const char* FinishReasonString(FinishReason reason);

class ResponseBuilder {
 public:
  // `tokenizer` renders logprob tokens and must outlive the builder.
  ResponseBuilder(Endpoint endpoint, std::string id, int64_t created, std::string model,
                  bool logprobs, const tokenizer::Tokenizer* tokenizer, int n = 1);

  // Adds an event's text and logprobs (and finish) to its choice's answer.
  // Events with an index outside [0, n) are ignored.
  void Append(const BackendEvent& event);

  // The passages retrieval placed into the prompt (a JSON array), reported
  // as "sources" in the non-streaming response and in the first chunk of a
  // stream. Null (the default): no "sources" field.
  void SetSources(nlohmann::json sources) { sources_ = std::move(sources); }

  // Parses the chat answer for tool calls written in `format`
  // (runtime/tool_calls): the message gets "tool_calls" (content outside
  // them stays "content", null when empty) and finish_reason "tool_calls";
  // a stream sends OpenAI tool-call deltas as the calls are generated (a
  // call's first chunk has its id, type and name, the next ones fragments
  // of its arguments; see ToolCallStream) and holds back text that may
  // start a call. Without `parallel` only the first call is kept. Call
  // before the first Append/Chunk.
  //
  // Formats with channels (gpt-oss) are parsed this way even without tools
  // (`return_calls` false: calls are dropped, as vLLM does): the answer is
  // the final channel and the analysis channel goes to
  // "reasoning_content" (message field, or delta.reasoning_content chunks).
  // `output_prefix`: text the output continues that the prompt carries (a
  // constrained gpt-oss call's header; ConstrainedCallHeader), parsed as
  // the output's start.
  void EnableToolCalls(tool_calls::ToolFormat format, bool parallel,
                       bool return_calls = true,
                       std::string output_prefix = "");

  // The complete non-streaming response body, every choice in index order;
  // a choice whose finish no event brought gets `finish`. Tool calls (with
  // EnableToolCalls) are parsed per choice; the streaming tool-call state
  // is per choice as well.
  std::string Final(FinishReason finish, const Usage& usage) const;

  // One SSE event ("data: {...}\n\n") carrying `event`'s text/logprobs and,
  // when it finishes the request, its finish_reason. The first chat chunk
  // also carries the assistant role. `with_usage_null` adds "usage": null
  // (stream_options.include_usage). Returns "" when there is nothing to send.
  std::string Chunk(const BackendEvent& event, bool with_usage_null);
  // The final usage-only chunk (choices: []).
  std::string UsageChunk(const Usage& usage) const;
  // An error inside a stream that already started.
  static std::string ErrorEvent(const ApiError& error);
  static const char* Done() { return "data: [DONE]\n\n"; }

  const std::string& id() const { return id_; }
  const std::string& text() const { return choices_[0].text; }

 private:
  nlohmann::json Envelope(const char* object) const;
  nlohmann::json LogprobsJson(absl::Span<const TokenLogprob> items, int64_t text_offset) const;
  nlohmann::json UsageJson(const Usage& usage) const;
  // {"id", "type": "function", "function": {"name", "arguments"}}.
  nlohmann::json ToolCallJson(const tool_calls::ToolCall& call) const;
  // The chat chunks of a stream with tool calls for `event` (its text is
  // already appended).
  void ToolChunks(const BackendEvent& event, const nlohmann::json& logprobs,
                  const std::function<void(nlohmann::json)>& emit);

  const Endpoint endpoint_;
  const std::string id_;
  const int64_t created_;
  const std::string model_;
  const bool logprobs_;
  const tokenizer::Tokenizer* const tokenizer_;
  struct Choice {
    std::string text;
    std::vector<TokenLogprob> logprobs;
    FinishReason finish = FinishReason::kNone;
    bool sent_role = false;
    // Streams with tool calls: this choice's parser and calls sent.
    std::unique_ptr<tool_calls::ToolCallStream> tool_stream;
    int tool_calls_sent = 0;
  };
  std::vector<Choice> choices_;  // n of them
  nlohmann::json sources_;
  bool sent_sources_ = false;
  // Tool calls (EnableToolCalls).
  tool_calls::ToolFormat tool_format_ = tool_calls::ToolFormat::kNone;
  bool parallel_tool_calls_ = true;
  bool tool_calls_ = false;  // EnableToolCalls was called
  bool return_calls_ = true;
  std::string output_prefix_;
};

// A fresh tool-call id: "call_" + 24 random hex digits; for Mistral
// templates, which require it, 9 random alphanumerics.
std::string NewToolCallId(tool_calls::ToolFormat format);

// A fresh id: "chatcmpl-" / "cmpl-" + 24 random hex digits.
std::string NewResponseId(Endpoint endpoint);

// `j` as compact JSON; invalid UTF-8 in strings becomes U+FFFD.
std::string DumpJson(const nlohmann::json& j);

}  // namespace triptych::gateway

#endif  // TRIPTYCH_SERVICES_GATEWAY_OPENAI_RESPONSE_H_
