#ifndef TRIPTYCH_RUNTIME_JINJA_CHAT_CONTEXT_H_
#define TRIPTYCH_RUNTIME_JINJA_CHAT_CONTEXT_H_

// The variables a chat template is rendered with, as transformers'
// apply_chat_template passes them: messages, tools (when given),
// add_generation_prompt, bos_token, eos_token.
//
// Provenance: `messages` and `tools` come from the request, so all their
// strings and keys are untrusted (Value::FromUntrustedJson); bos_token and
// eos_token are the vocabulary's and trusted. Code that adds other
// request-derived variables must make them untrusted too.

#include "nlohmann/json.hpp"
#include "runtime/jinja/value.h"

namespace triptych::jinja {

// From a JSON object with those fields (others are ignored; a missing
// add_generation_prompt is false, missing tokens are ""). `tools` is only
// defined when present and not null.
Value ChatContextFromJson(const nlohmann::ordered_json& j);

}  // namespace triptych::jinja

#endif  // TRIPTYCH_RUNTIME_JINJA_CHAT_CONTEXT_H_
