#ifndef TRIPTYCH_SERVICES_GATEWAY_OPENAI_REQUEST_H_
#define TRIPTYCH_SERVICES_GATEWAY_OPENAI_REQUEST_H_

// Parsing and validation of OpenAI request bodies (POST /v1/chat/completions
// and /v1/completions) into a typed request, and the mapping from
// absl::Status to OpenAI error responses. Pure functions, thread-safe.
//
// Unknown fields are ignored. Supported beyond OpenAI: top_k, min_p,
// repetition_penalty, ignore_eos, stop_token_ids (as vLLM).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/chat/chat_template.h"
#include "runtime/sampling/sampling_params.h"

namespace triptych::gateway {

enum class Endpoint { kChat, kCompletions };
const char* EndpointName(Endpoint endpoint);  // "chat" / "completions"

struct ParsedRequest {
  Endpoint endpoint = Endpoint::kChat;
  std::string model;
  // Chat: the conversation ("developer" is mapped to "system").
  std::vector<chat::Message> messages;
  // Completions: a text prompt, or token ids when has_prompt_tokens.
  std::string prompt;
  bool has_prompt_tokens = false;
  std::vector<int32_t> prompt_tokens;
  std::optional<int64_t> max_tokens;  // max_completion_tokens wins for chat
  sampling::SamplingParams sampling;  // logprobs / top_logprobs included
  bool has_seed = false;
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;
  bool stream = false;
  bool include_usage = false;
  bool ignore_eos = false;
  std::string user;
};

// Parses `body`. Errors: kInvalidArgument with a message for the client;
// the offending field's name, when there is one, is attached as the
// "param" payload (see ParamOf()).
absl::StatusOr<ParsedRequest> ParseRequest(Endpoint endpoint, std::string_view body);

// An invalid-argument status naming `param`.
absl::Status InvalidParam(std::string_view param, std::string_view message);
// The "param" payload of `status`, or "" when none.
std::string ParamOf(const absl::Status& status);

// An OpenAI error response: HTTP status and the JSON body
// {"error":{"message","type","param","code"}}.
struct ApiError {
  int http_status = 500;
  std::string body;
};

// Maps a status to HTTP: kInvalidArgument/kOutOfRange/kFailedPrecondition
// -> 400, kUnauthenticated -> 401, kPermissionDenied -> 403, kNotFound ->
// 404, kResourceExhausted -> 429, kUnavailable -> 503, kDeadlineExceeded ->
// 504, anything else -> 500.
ApiError ErrorFromStatus(const absl::Status& status);
// Explicit form, e.g. MakeError(503, "server is overloaded",
// "server_overloaded", "", "").
ApiError MakeError(int http_status, std::string_view message, std::string_view type,
                   std::string_view param, std::string_view code);

}  // namespace triptych::gateway

#endif  // TRIPTYCH_SERVICES_GATEWAY_OPENAI_REQUEST_H_
