// libFuzzer target for the OpenAI request parser (built with
// -DTRIPTYCH_FUZZ=ON and clang; see docs/FUZZING.md).
//
// Every input is an HTTP body from an untrusted client. It is parsed as a
// chat completion and as a completion request; a rejection must be
// kInvalidArgument and must map to a well-formed OpenAI error body, and an
// accepted request must satisfy the limits the rest of the gateway relies on.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "nlohmann/json.hpp"
#include "runtime/sampling/sampling_params.h"
#include "services/gateway/openai_request.h"

namespace {

using triptych::gateway::Endpoint;
using triptych::gateway::ParsedRequest;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void CheckAccepted(Endpoint endpoint, const ParsedRequest& r) {
  Check(r.endpoint == endpoint);
  Check(triptych::sampling::Validate(r.sampling).ok());
  Check(!r.max_tokens.has_value() || *r.max_tokens >= 1);
  Check(r.stop.size() <= 4);
  for (const std::string& s : r.stop) Check(!s.empty());
  for (int32_t t : r.stop_token_ids) Check(t >= 0);
  if (endpoint == Endpoint::kChat) {
    Check(!r.messages.empty());
    for (const auto& m : r.messages) {
      Check(m.role == "system" || m.role == "user" || m.role == "assistant");
    }
  } else {
    Check(!r.has_prompt_tokens || !r.prompt_tokens.empty());
    for (int32_t t : r.prompt_tokens) Check(t >= 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  for (Endpoint endpoint : {Endpoint::kChat, Endpoint::kCompletions}) {
    auto r = triptych::gateway::ParseRequest(endpoint, body);
    if (r.ok()) {
      CheckAccepted(endpoint, *r);
      continue;
    }
    Check(r.status().code() == absl::StatusCode::kInvalidArgument);
    // The error body goes back to the client: it must be valid JSON even
    // when the message quotes invalid UTF-8 from the request.
    const triptych::gateway::ApiError e = triptych::gateway::ErrorFromStatus(r.status());
    Check(e.http_status == 400);
    Check(nlohmann::json::accept(e.body));
  }
  return 0;
}
