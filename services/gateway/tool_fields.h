#ifndef TRIPTYCH_SERVICES_GATEWAY_TOOL_FIELDS_H_
#define TRIPTYCH_SERVICES_GATEWAY_TOOL_FIELDS_H_

// The tool-calling fields of a chat request (docs/TOOL_CALLING.md):
//   "tools": [{"type": "function", "function": {"name", "description",
//             "parameters" (a JSON Schema object), "strict"}}, ...]
//   "tool_choice": "none" | "auto" | "required" |
//                  {"type": "function", "function": {"name": "..."}}
//   "parallel_tool_calls": bool
// and the tool_calls of assistant messages (their OpenAI-style JSON-string
// "arguments" must hold JSON; ChatMessagesJson in model_info.h turns them
// into what the template prints). Key order of what the template prints is
// kept. Pure functions, thread-safe.

#include <string_view>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "services/gateway/openai_request.h"

namespace triptych::gateway {

// Fills req->tools and req->messages[i].tool_calls_json from `body` (the
// request as an ordered JSON object; req->messages already parsed from it,
// one per element of "messages"). Errors: kInvalidArgument naming the
// field (an unknown function in tool_choice, a malformed tool, arguments
// that are not JSON, tool fields on /v1/completions).
absl::Status ParseToolFields(const nlohmann::ordered_json& body, ParsedRequest* req);

// Calls ParseToolFields on `raw` re-parsed with key order kept when `body`
// (the same request) has any tool field or tool_calls; otherwise nothing.
absl::Status ParseToolFieldsIfAny(const nlohmann::json& body, std::string_view raw,
                                  ParsedRequest* req);

}  // namespace triptych::gateway

#endif  // TRIPTYCH_SERVICES_GATEWAY_TOOL_FIELDS_H_
