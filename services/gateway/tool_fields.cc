#include "services/gateway/tool_fields.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace triptych::gateway {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr size_t kMaxNameLength = 64;

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool IsNonEmptyArray(const ordered_json& body, const char* key) {
  auto it = body.find(key);
  return it != body.end() && it->is_array() && !it->empty();
}

absl::Status ParseTools(const ordered_json& body, ToolRequest* out) {
  auto it = body.find("tools");
  if (it == body.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_array()) return InvalidParam("tools", "'tools' must be an array");
  if (it->size() > ToolRequest::kMaxTools) {
    return InvalidParam("tools", absl::StrCat("'tools' takes at most ", ToolRequest::kMaxTools,
                                              " tools"));
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const ordered_json& t = (*it)[i];
    const std::string param = absl::StrCat("tools[", i, "]");
    if (!t.is_object()) return InvalidParam(param, absl::StrCat(param, " must be an object"));
    auto type = t.find("type");
    if (type == t.end() || !type->is_string() || type->get<std::string>() != "function") {
      return InvalidParam(param + ".type",
                          absl::StrCat(param, ".type must be \"function\" (the only tool type "
                                              "supported)"));
    }
    auto fn = t.find("function");
    if (fn == t.end() || !fn->is_object()) {
      return InvalidParam(param + ".function", absl::StrCat(param, ".function must be an object"));
    }
    auto name = fn->find("name");
    if (name == fn->end() || !name->is_string() || !ValidName(name->get<std::string>())) {
      return InvalidParam(param + ".function.name",
                          absl::StrCat(param, ".function.name must be 1 to ", kMaxNameLength,
                                       " characters of a-z, A-Z, 0-9, '_', '-', '.'"));
    }
    auto description = fn->find("description");
    if (description != fn->end() && !description->is_null() && !description->is_string()) {
      return InvalidParam(param + ".function.description",
                          absl::StrCat(param, ".function.description must be a string"));
    }
    auto strict = fn->find("strict");
    if (strict != fn->end() && !strict->is_null() && !strict->is_boolean()) {
      return InvalidParam(param + ".function.strict",
                          absl::StrCat(param, ".function.strict must be a boolean"));
    }
    tool_calls::ToolDef def;
    def.name = name->get<std::string>();
    for (const tool_calls::ToolDef& d : out->defs) {
      if (d.name == def.name) {
        return InvalidParam(param + ".function.name",
                            absl::StrCat("two tools are named '", def.name, "'"));
      }
    }
    auto params = fn->find("parameters");
    if (params != fn->end() && !params->is_null()) {
      if (!params->is_object()) {
        return InvalidParam(param + ".function.parameters",
                            absl::StrCat(param, ".function.parameters must be a JSON Schema "
                                                "object"));
      }
      def.parameters_json = params->dump();
    }
    out->defs.push_back(std::move(def));
  }
  if (!out->defs.empty()) out->tools_json = it->dump(-1, ' ', false, json::error_handler_t::replace);
  return absl::OkStatus();
}

absl::Status ParseToolChoice(const ordered_json& body, ToolRequest* out) {
  out->choice = out->defs.empty() ? ToolChoice::kNone : ToolChoice::kAuto;
  auto it = body.find("tool_choice");
  if (it == body.end() || it->is_null()) return absl::OkStatus();
  if (it->is_string()) {
    const std::string c = it->get<std::string>();
    if (c == "none") {
      out->choice = ToolChoice::kNone;
    } else if (c == "auto") {
      if (!out->defs.empty()) out->choice = ToolChoice::kAuto;
    } else if (c == "required") {
      out->choice = ToolChoice::kRequired;
    } else {
      return InvalidParam("tool_choice",
                          absl::StrCat("'tool_choice' '", c, "' is not one of none, auto, "
                                       "required or a {\"type\": \"function\", ...} object"));
    }
  } else if (it->is_object()) {
    auto type = it->find("type");
    auto fn = it->find("function");
    auto name = fn != it->end() && fn->is_object() ? fn->find("name") : it->end();
    if (type == it->end() || !type->is_string() || type->get<std::string>() != "function" ||
        fn == it->end() || !fn->is_object() || name == fn->end() || !name->is_string()) {
      return InvalidParam("tool_choice",
                          "'tool_choice' must be {\"type\": \"function\", \"function\": "
                          "{\"name\": \"...\"}}");
    }
    out->choice = ToolChoice::kNamed;
    out->choice_name = name->get<std::string>();
  } else {
    return InvalidParam("tool_choice", "'tool_choice' must be a string or an object");
  }
  if (out->constrained() && out->defs.empty()) {
    return InvalidParam("tool_choice", "'tool_choice' requires 'tools'");
  }
  if (out->choice == ToolChoice::kNamed) {
    bool found = false;
    for (const tool_calls::ToolDef& d : out->defs) found = found || d.name == out->choice_name;
    if (!found) {
      return InvalidParam("tool_choice", absl::StrCat("'tool_choice' names the function '",
                                                      out->choice_name,
                                                      "', which is not among 'tools'"));
    }
  }
  return absl::OkStatus();
}

// messages[i].tool_calls, checked and normalised ({id, type, function:
// {name, arguments}}; arguments as sent, a JSON string or a value).
absl::StatusOr<std::string> ConvertToolCalls(const ordered_json& calls, const std::string& param) {
  if (!calls.is_array()) {
    return InvalidParam(param, absl::StrCat(param, " must be an array"));
  }
  ordered_json out = ordered_json::array();
  for (size_t j = 0; j < calls.size(); ++j) {
    const ordered_json& c = calls[j];
    const std::string p = absl::StrCat(param, "[", j, "]");
    if (!c.is_object()) return InvalidParam(p, absl::StrCat(p, " must be an object"));
    auto type = c.find("type");
    if (type != c.end() && !type->is_null() &&
        (!type->is_string() || type->get<std::string>() != "function")) {
      return InvalidParam(p + ".type", absl::StrCat(p, ".type must be \"function\""));
    }
    auto fn = c.find("function");
    if (fn == c.end() || !fn->is_object()) {
      return InvalidParam(p + ".function", absl::StrCat(p, ".function must be an object"));
    }
    auto name = fn->find("name");
    if (name == fn->end() || !name->is_string()) {
      return InvalidParam(p + ".function.name", absl::StrCat(p, ".function.name must be a string"));
    }
    // Kept as sent (ChatMessagesJson gives the template the form it
    // prints); a string must hold JSON.
    ordered_json args = ordered_json::object();
    auto a = fn->find("arguments");
    if (a != fn->end() && a->is_string()) {
      const std::string& text = a->get_ref<const std::string&>();
      if (!ordered_json::accept(text)) {
        return InvalidParam(p + ".function.arguments",
                            absl::StrCat(p, ".function.arguments is not valid JSON"));
      }
      args = *a;
    } else if (a != fn->end() && !a->is_null()) {
      args = *a;
    }
    ordered_json converted = ordered_json::object();
    auto id = c.find("id");
    if (id != c.end() && !id->is_null()) {
      if (!id->is_string()) return InvalidParam(p + ".id", absl::StrCat(p, ".id must be a string"));
      converted["id"] = *id;
    }
    converted["type"] = "function";
    converted["function"] = {{"name", *name}, {"arguments", std::move(args)}};
    out.push_back(std::move(converted));
  }
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

absl::Status ParseToolFields(const ordered_json& body, ParsedRequest* req) {
  if (!body.is_object()) return absl::OkStatus();
  if (req->endpoint != Endpoint::kChat) {
    auto choice = body.find("tool_choice");
    if (IsNonEmptyArray(body, "tools") ||
        (choice != body.end() && !choice->is_null() && *choice != "none")) {
      return InvalidParam("tools", "tools are only supported on /v1/chat/completions");
    }
    return absl::OkStatus();
  }
  ToolRequest& tools = req->tools;
  RETURN_IF_ERROR(ParseTools(body, &tools));
  RETURN_IF_ERROR(ParseToolChoice(body, &tools));
  auto parallel = body.find("parallel_tool_calls");
  if (parallel != body.end() && !parallel->is_null()) {
    if (!parallel->is_boolean()) {
      return InvalidParam("parallel_tool_calls", "'parallel_tool_calls' must be a boolean");
    }
    tools.parallel = parallel->get<bool>();
  }
  auto messages = body.find("messages");
  if (messages == body.end() || !messages->is_array()) return absl::OkStatus();
  for (size_t i = 0; i < messages->size() && i < req->messages.size(); ++i) {
    const ordered_json& m = (*messages)[i];
    auto calls = m.is_object() ? m.find("tool_calls") : m.end();
    if (!m.is_object() || calls == m.end() || calls->is_null()) continue;
    const std::string param = absl::StrCat("messages[", i, "].tool_calls");
    if (req->messages[i].role != "assistant") {
      return InvalidParam(param, absl::StrCat(param, " is only allowed on assistant messages"));
    }
    if (calls->is_array() && calls->empty()) continue;
    ASSIGN_OR_RETURN(req->messages[i].tool_calls_json, ConvertToolCalls(*calls, param));
  }
  return absl::OkStatus();
}

absl::Status ParseToolFieldsIfAny(const json& body, std::string_view raw, ParsedRequest* req) {
  if (!body.is_object()) return absl::OkStatus();
  bool any = body.contains("tools") || body.contains("tool_choice") ||
             body.contains("parallel_tool_calls");
  auto messages = body.find("messages");
  if (!any && messages != body.end() && messages->is_array()) {
    for (const json& m : *messages) any = any || (m.is_object() && m.contains("tool_calls"));
  }
  if (!any) return absl::OkStatus();
  ordered_json ordered = ordered_json::parse(raw.begin(), raw.end(), nullptr,
                                             /*allow_exceptions=*/false);
  if (ordered.is_discarded()) return InvalidParam("", "request body is not valid JSON");
  return ParseToolFields(ordered, req);
}

}  // namespace triptych::gateway
