#ifndef TRIPTYCH_RUNTIME_JINJA_CHAT_CONTEXT_H_
#define TRIPTYCH_RUNTIME_JINJA_CHAT_CONTEXT_H_

// The variables a chat template is rendered with, as transformers'
// apply_chat_template passes them: messages, tools (when given),
// add_generation_prompt, bos_token, eos_token.

#include "nlohmann/json.hpp"
#include "runtime/jinja/value.h"

namespace triptych::jinja {

// From a JSON object with those fields (others are ignored; a missing
// add_generation_prompt is false, missing tokens are ""). `tools` is only
// defined when present and not null.
Value ChatContextFromJson(const nlohmann::ordered_json& j);

}  // namespace triptych::jinja

#endif  // TRIPTYCH_RUNTIME_JINJA_CHAT_CONTEXT_H_
