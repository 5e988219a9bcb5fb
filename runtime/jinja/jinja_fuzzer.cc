// libFuzzer target for the Jinja chat-template interpreter (built with
// -DTRIPTYCH_FUZZ=ON and clang; see docs/FUZZING.md).
//
// Input: template source, then optionally a NUL byte and a JSON object with
// the chat variables (messages, tools, add_generation_prompt, bos_token,
// eos_token) as the gateway passes them; without the NUL (or when the JSON
// does not parse) a fixed two-message chat is used. Parse and Render run
// with the production Limits. Checks: every error is kInvalidArgument (a
// template error is a 400, never a crash or another code); a rendering is
// no larger than the output limit and is the same when rendered twice with
// the same clock.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "nlohmann/json.hpp"
#include "runtime/jinja/chat_context.h"
#include "runtime/jinja/template.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

const nlohmann::ordered_json& DefaultChat() {
  static const nlohmann::ordered_json* chat = new nlohmann::ordered_json(nlohmann::ordered_json::parse(
      R"({"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},)"
      R"({"role":"assistant","content":"Hello!"}],"add_generation_prompt":true,)"
      R"("bos_token":"<s>","eos_token":"</s>"})"));
  return *chat;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view source = input.substr(0, nul);

  using triptych::jinja::Template;
  const triptych::jinja::Limits limits;
  auto tmpl = Template::Parse(source, limits);
  if (!tmpl.ok()) {
    Check(tmpl.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  nlohmann::ordered_json chat;
  if (nul != std::string_view::npos) {
    chat = nlohmann::ordered_json::parse(input.substr(nul + 1), nullptr, /*allow_exceptions=*/false);
  }
  if (chat.is_discarded() || !chat.is_object()) chat = DefaultChat();
  const triptych::jinja::Value context = triptych::jinja::ChatContextFromJson(chat);

  triptych::jinja::RenderOptions options;
  options.now = 1'700'000'000;
  auto first = (*tmpl)->Render(context, options);
  if (!first.ok()) {
    Check(first.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  Check(first->size() <= limits.max_output_bytes);
  auto second = (*tmpl)->Render(context, options);
  Check(second.ok() && *second == *first);
  return 0;
}
