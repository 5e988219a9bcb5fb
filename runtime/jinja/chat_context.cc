#include "runtime/jinja/chat_context.h"

namespace triptych::jinja {

Value ChatContextFromJson(const nlohmann::ordered_json& j) {
  Value ctx = Value::NewDict();
  auto get = [&](const char* key) -> const nlohmann::ordered_json* {
    if (!j.is_object()) return nullptr;
    auto it = j.find(key);
    return it == j.end() ? nullptr : &*it;
  };
  const nlohmann::ordered_json* messages = get("messages");
  ctx.dict().Set("messages", messages ? Value::FromUntrustedJson(*messages) : Value::ListOf({}));
  if (const nlohmann::ordered_json* tools = get("tools"); tools && !tools->is_null())
    ctx.dict().Set("tools", Value::FromUntrustedJson(*tools));
  const nlohmann::ordered_json* agp = get("add_generation_prompt");
  ctx.dict().Set("add_generation_prompt", Value::Bool(agp && agp->is_boolean() && agp->get<bool>()));
  for (const char* key : {"bos_token", "eos_token"}) {
    const nlohmann::ordered_json* t = get(key);
    ctx.dict().Set(key, Value::String(t && t->is_string() ? t->get<std::string>() : ""));
  }
  return ctx;
}

}  // namespace triptych::jinja
