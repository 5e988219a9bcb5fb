#ifndef TRIPTYCH_SERVICES_GATEWAY_OPENAI_REQUEST_H_
#define TRIPTYCH_SERVICES_GATEWAY_OPENAI_REQUEST_H_

// Parsing and validation of OpenAI request bodies (POST /v1/chat/completions
// and /v1/completions) into a typed request, and the mapping from
// absl::Status to OpenAI error responses. Pure functions, thread-safe.
//
// Unknown fields are ignored, except the fields of other servers that change
// the output and are not implemented (RejectUnsupportedFields: a 400). Supported beyond OpenAI: top_k, min_p,
// repetition_penalty, ignore_eos, stop_token_ids (as vLLM),
// sparse_attention_budget (tokens of context the decode steps attend to;
// 0 = dense, absent = the server's default), and, for chat, "retrieval"
// (RetrievalSpec below; OpenAI clients pass both in extra_body). Chat
// also takes tools, tool_choice and parallel_tool_calls, "tool" messages
// and assistant messages with tool_calls (tool_fields.h).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "memory/collection_store.h"
#include "nlohmann/json.hpp"
#include "runtime/chat/chat_template.h"
#include "runtime/grammar/output_constraint.h"
#include "runtime/sampling/sampling_params.h"
#include "runtime/tool_calls/tool_format.h"

namespace triptych::gateway {

enum class Endpoint { kChat, kCompletions };
const char* EndpointName(Endpoint endpoint);  // "chat" / "completions"

// Chat retrieval: search these vector stores with the last user message
// (or query_embedding) and place the top_k passages into the prompt.
// JSON: "retrieval": {"vector_store_ids": [...], "top_k": 3, "mode":
// "bm25" | "dense" | "hybrid", "alpha": 0.5, "query_embedding": [...]}.
struct RetrievalSpec {
  static constexpr int kMaxStores = 16;
  static constexpr int kMaxTopK = 20;
  std::vector<std::string> vector_store_ids;  // 1..kMaxStores, distinct
  int top_k = 3;                              // 1..kMaxTopK
  memory::SearchMode mode = memory::SearchMode::kBm25;
  float alpha = 0.5f;                  // hybrid: dense weight in [0, 1]
  std::vector<float> query_embedding;  // required for dense and hybrid
};

// tool_choice: kNone never parses calls; kAuto parses the output for calls;
// kRequired / kNamed also constrain it to one call (tool_fields.h).
enum class ToolChoice { kNone, kAuto, kRequired, kNamed };

struct ToolRequest {
  static constexpr int kMaxTools = 128;
  std::vector<tool_calls::ToolDef> defs;  // the declared functions
  // "tools" as sent (key order kept), for the chat template; "" = none.
  std::string tools_json;
  ToolChoice choice = ToolChoice::kNone;
  std::string choice_name;  // kNamed
  bool parallel = true;     // parallel_tool_calls
  // The output is parsed for tool calls.
  bool active() const { return !defs.empty() && choice != ToolChoice::kNone; }
  bool constrained() const { return choice == ToolChoice::kRequired || choice == ToolChoice::kNamed; }
};

struct ParsedRequest {
  Endpoint endpoint = Endpoint::kChat;
  std::string model;
  // Chat: the conversation ("developer" is mapped to "system").
  std::vector<chat::Message> messages;
  // Completions: a text prompt, or token ids when has_prompt_tokens.
  std::string prompt;
  bool has_prompt_tokens = false;
  std::vector<int32_t> prompt_tokens;
  int64_t n = 1;  // choices; >= 1 (the gateway bounds it by --max-n)
  std::optional<int64_t> max_tokens;  // max_completion_tokens wins for chat
  sampling::SamplingParams sampling;  // logprobs / top_logprobs included
  bool has_seed = false;
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;
  bool stream = false;
  bool include_usage = false;
  bool ignore_eos = false;
  std::optional<int64_t> sparse_attention_budget;
  std::string user;
  std::optional<RetrievalSpec> retrieval;  // chat only
  // response_format (see generation_fields.h); kNone for free text.
  grammar::OutputConstraint constraint;
  // tools / tool_choice / parallel_tool_calls (chat only).
  ToolRequest tools;
};

// Parses `body`. Errors: kInvalidArgument with a message for the client;
// the offending field's name, when there is one, is attached as the
// "param" payload (see ParamOf()).
absl::StatusOr<ParsedRequest> ParseRequest(Endpoint endpoint, std::string_view body);

// "bm25" / "dense" / "hybrid". Errors: kInvalidArgument naming `param`.
absl::StatusOr<memory::SearchMode> ParseSearchMode(std::string_view mode, std::string_view param);
// An array of finite numbers that fit a float. Errors: kInvalidArgument
// naming `param`.
absl::StatusOr<std::vector<float>> ParseEmbedding(const nlohmann::json& j, std::string_view param);

// An invalid-argument status naming `param`.
absl::Status InvalidParam(std::string_view param, std::string_view message);
// `status` with `param` attached as its "param" payload.
absl::Status WithParam(absl::Status status, std::string_view param);
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
// 404, kAlreadyExists -> 409, kResourceExhausted -> 429, kUnavailable ->
// 503, kDeadlineExceeded -> 504, anything else -> 500.
ApiError ErrorFromStatus(const absl::Status& status);
// Explicit form, e.g. MakeError(503, "server is overloaded",
// "server_overloaded", "", "").
ApiError MakeError(int http_status, std::string_view message, std::string_view type,
                   std::string_view param, std::string_view code);

}  // namespace triptych::gateway

#endif  // TRIPTYCH_SERVICES_GATEWAY_OPENAI_REQUEST_H_
