#include "tools/loadgen/openai.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace triptych::loadgen {
namespace {

using json = nlohmann::json;

// Appends the string at j[key] to `out` when it is one.
void AppendString(const json& j, const char* key, std::string* out) {
  if (!j.is_object()) return;
  auto it = j.find(key);
  if (it != j.end() && it->is_string())
    *out += it->get_ref<const std::string&>();
}

std::optional<int64_t> GetInt(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

}  // namespace

absl::StatusOr<Endpoint> ParseEndpoint(const std::string& name) {
  if (name == "chat") return Endpoint::kChat;
  if (name == "completions") return Endpoint::kCompletions;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown API '", name, "' (want chat or completions)"));
}

const char* EndpointPath(Endpoint endpoint) {
  return endpoint == Endpoint::kChat ? "/v1/chat/completions"
                                     : "/v1/completions";
}

absl::StatusOr<std::string> BuildRequestBody(const ApiOptions& options,
                                             const RequestSpec& spec) {
  json body = json::object();
  body["model"] = options.model;
  if (options.endpoint == Endpoint::kChat) {
    json messages = json::array();
    for (const Message& m : spec.messages) {
      messages.push_back({{"role", m.role}, {"content", m.content}});
    }
    body["messages"] = std::move(messages);
  } else {
    std::string prompt;
    for (size_t i = 0; i < spec.messages.size(); ++i) {
      if (i > 0) prompt.push_back('\n');
      prompt += spec.messages[i].content;
    }
    body["prompt"] = std::move(prompt);
  }
  body["max_tokens"] = spec.max_tokens;
  body["stream"] = options.stream;
  if (options.stream) body["stream_options"] = {{"include_usage", true}};
  if (options.ignore_eos) body["ignore_eos"] = true;
  if (options.temperature) body["temperature"] = *options.temperature;
  if (!options.extra_body.empty()) {
    json extra = json::parse(options.extra_body, nullptr, false);
    if (extra.is_discarded() || !extra.is_object()) {
      return absl::InvalidArgumentError("extra body is not a JSON object");
    }
    for (auto& [k, v] : extra.items()) body[k] = v;
  }
  // Replace invalid UTF-8 (e.g. from a ShareGPT file) instead of throwing.
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

absl::StatusOr<ParsedChunk> ParseChunk(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a JSON object: ", std::string(text.substr(0, 120))));
  }
  if (auto err = j.find("error"); err != j.end() && !err->is_null()) {
    std::string message;
    AppendString(*err, "message", &message);
    if (message.empty()) message = err->dump().substr(0, 200);
    return absl::AbortedError(message);
  }
  ParsedChunk out;
  if (auto choices = j.find("choices");
      choices != j.end() && choices->is_array()) {
    for (const json& c : *choices) {
      if (!c.is_object()) continue;
      AppendString(c, "text", &out.text);
      for (const char* part : {"delta", "message"}) {
        if (auto d = c.find(part); d != c.end()) {
          AppendString(*d, "reasoning_content", &out.text);
          AppendString(*d, "content", &out.text);
        }
      }
      if (auto f = c.find("finish_reason"); f != c.end() && !f->is_null()) {
        out.finished = true;
      }
    }
  }
  if (auto usage = j.find("usage"); usage != j.end() && usage->is_object()) {
    out.prompt_tokens = GetInt(*usage, "prompt_tokens");
    out.completion_tokens = GetInt(*usage, "completion_tokens");
  }
  return out;
}

}  // namespace triptych::loadgen
