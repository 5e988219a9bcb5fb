#ifndef TRIPTYCH_TOOLS_LOADGEN_OPENAI_H_
#define TRIPTYCH_TOOLS_LOADGEN_OPENAI_H_

// The OpenAI-compatible wire format: request bodies and response parsing,
// free of any transport.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "tools/loadgen/dataset.h"

namespace triptych::loadgen {

enum class Endpoint { kChat, kCompletions };

// "chat" / "completions" -> enum; kInvalidArgument otherwise.
absl::StatusOr<Endpoint> ParseEndpoint(const std::string& name);
// "/v1/chat/completions" or "/v1/completions".
const char* EndpointPath(Endpoint endpoint);

struct ApiOptions {
  Endpoint endpoint = Endpoint::kChat;
  std::string model;
  bool stream = true;
  // Sends "ignore_eos": true (vLLM, SGLang, Triptych honour it; others
  // ignore unknown fields or reject them).
  bool ignore_eos = false;
  std::optional<double> temperature;
  // A JSON object whose members are merged into every request body.
  std::string extra_body;
};

// The JSON body for `spec`: model, messages (chat) or prompt (completions:
// message contents joined by "\n"), max_tokens, stream and, when streaming,
// stream_options.include_usage = true. Errors: kInvalidArgument when
// extra_body is not a JSON object.
absl::StatusOr<std::string> BuildRequestBody(const ApiOptions& options,
                                             const RequestSpec& spec);

// One streamed chunk or a whole non-streamed response.
struct ParsedChunk {
  std::string text;  // generated text in this chunk (content + reasoning)
  std::optional<int64_t> prompt_tokens;      // usage.prompt_tokens
  std::optional<int64_t> completion_tokens;  // usage.completion_tokens
  bool finished = false;  // a choice carried a non-null finish_reason
};

// Parses a chunk of either endpoint (choices[0].text, .delta.content,
// .message.content and their reasoning_content). Errors: kInvalidArgument
// for text that is not a JSON object; kAborted with the server's message
// when the object is an error ({"error": ...}).
absl::StatusOr<ParsedChunk> ParseChunk(std::string_view json);

}  // namespace triptych::loadgen

#endif  // TRIPTYCH_TOOLS_LOADGEN_OPENAI_H_
