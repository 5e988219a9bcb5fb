#include "services/gateway/generation_fields.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/sampling/sampling_params.h"

namespace triptych::gateway {
namespace {

using nlohmann::json;

// Most entries a logit_bias map may have (OpenAI accepts up to 300).
constexpr size_t kMaxLogitBiasEntries = 1024;

// A field Triptych does not implement, with the value that means "off"
// (null = any non-null value is refused) and what to use instead.
struct Unsupported {
  const char* name;
  json neutral;
  const char* hint;
};

const std::vector<Unsupported>& UnsupportedFields() {
  static const auto* fields = new std::vector<Unsupported>{
      // OpenAI.
      {"functions", json::array(), "use 'tools'"},
      {"function_call", nullptr, "use 'tool_choice'"},
      {"audio", nullptr, "audio output is not supported"},
      {"modalities", json::array({"text"}), "only text output is supported"},
      {"web_search_options", nullptr, "web search is not supported"},
      {"reasoning_effort", nullptr, "the served models do not reason"},
      {"verbosity", nullptr, ""},
      // vLLM extensions.
      {"guided_json", nullptr, "use response_format json_schema"},
      {"guided_regex", nullptr, "use a json_schema string with a pattern"},
      {"guided_choice", nullptr, "use a json_schema with an enum"},
      {"guided_grammar", nullptr, ""},
      {"structured_outputs", nullptr, "use response_format"},
      {"min_tokens", 0, ""},
      {"bad_words", json::array(), "use logit_bias -100"},
      {"allowed_token_ids", json::array(), ""},
      {"use_beam_search", false, ""},
      {"length_penalty", 1, ""},
      {"include_stop_str_in_output", false, ""},
      {"skip_special_tokens", true, ""},
      {"spaces_between_special_tokens", true, ""},
      {"prompt_logprobs", 0, ""},
      {"truncate_prompt_tokens", nullptr, ""},
      {"logits_processors", json::array(), ""},
      {"continue_final_message", false, ""},
      {"add_generation_prompt", true, ""},
      {"documents", json::array(), "use 'retrieval'"},
      // llama.cpp server extensions.
      {"grammar", "", "use response_format json_schema"},
      {"json_schema", nullptr, "use response_format json_schema"},
      {"mirostat", 0, ""},
      {"typical_p", 1, ""},
      {"tfs_z", 1, ""},
      {"dynatemp_range", 0, ""},
      {"xtc_probability", 0, ""},
      {"dry_multiplier", 0, ""},
      {"top_n_sigma", -1, ""},
      {"n_probs", 0, "use logprobs / top_logprobs"},
      {"n_predict", -1, "use max_tokens"},
      {"repeat_penalty", 1, "use repetition_penalty"},
      {"repeat_last_n", 64, ""},
      {"samplers", nullptr, ""},
  };
  return *fields;
}

bool IsNeutral(const json& value, const json& neutral) {
  if (value.is_null()) return true;
  if (neutral.is_null()) return false;
  if (value.is_number() && neutral.is_number()) {
    return value.get<double>() == neutral.get<double>();
  }
  if (value.is_array() && value.empty() && neutral.is_array() && neutral.empty()) return true;
  return value == neutral;
}

}  // namespace

absl::Status ParseLogitBias(const json& body, ParsedRequest* req) {
  auto it = body.find("logit_bias");
  if (it == body.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_object()) {
    return InvalidParam("logit_bias",
                        "'logit_bias' must be an object mapping token ids to biases");
  }
  if (it->size() > kMaxLogitBiasEntries) {
    return InvalidParam("logit_bias", absl::StrCat("'logit_bias' takes at most ",
                                                   kMaxLogitBiasEntries, " entries"));
  }
  std::vector<std::pair<int32_t, float>>& out = req->sampling.logit_bias;
  for (auto entry = it->begin(); entry != it->end(); ++entry) {
    const std::string& key = entry.key();
    int64_t id = -1;
    const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
    if (key.empty() || ec != std::errc() || end != key.data() + key.size() || id < 0 ||
        id > INT32_MAX) {
      return InvalidParam("logit_bias", absl::StrCat("'logit_bias' key '", key,
                                                     "' is not a token id (a non-negative "
                                                     "integer)"));
    }
    const json& v = entry.value();
    const double bias = v.is_number() ? v.get<double>() : NAN;
    if (!std::isfinite(bias) || bias < -sampling::kMaxLogitBias ||
        bias > sampling::kMaxLogitBias) {
      return InvalidParam("logit_bias", absl::StrCat("'logit_bias' value for token ", key,
                                                     " must be a number in [-100, 100]"));
    }
    out.emplace_back(static_cast<int32_t>(id), static_cast<float>(bias));
  }
  return absl::OkStatus();
}

absl::Status ParseResponseFormat(const json& body, ParsedRequest* req) {
  auto it = body.find("response_format");
  if (it == body.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_object()) return InvalidParam("response_format", "'response_format' must be an object");
  auto type = it->find("type");
  if (type == it->end() || !type->is_string()) {
    return InvalidParam("response_format.type", "'response_format.type' must be a string");
  }
  const std::string t = type->get<std::string>();
  grammar::OutputConstraint& c = req->constraint;
  if (t == "text") return absl::OkStatus();
  if (t == "json_object") {
    c.kind = grammar::ConstraintKind::kJsonObject;
    return absl::OkStatus();
  }
  if (t != "json_schema") {
    return InvalidParam("response_format.type",
                        absl::StrCat("'response_format.type' '", t,
                                     "' is not supported (text, json_object, json_schema)"));
  }
  auto spec = it->find("json_schema");
  if (spec == it->end() || !spec->is_object()) {
    return InvalidParam("response_format.json_schema",
                        "'response_format.json_schema' must be an object");
  }
  auto name = spec->find("name");
  if (name != spec->end() && !name->is_string()) {
    return InvalidParam("response_format.json_schema.name",
                        "'response_format.json_schema.name' must be a string");
  }
  auto strict = spec->find("strict");
  if (strict != spec->end() && !strict->is_null() && !strict->is_boolean()) {
    return InvalidParam("response_format.json_schema.strict",
                        "'response_format.json_schema.strict' must be a boolean");
  }
  auto schema = spec->find("schema");
  if (schema == spec->end() || schema->is_null()) {
    // OpenAI's default is the empty schema: any JSON value.
    c.kind = grammar::ConstraintKind::kJsonSchema;
    c.schema_json = "{}";
    return absl::OkStatus();
  }
  if (!schema->is_object() && !schema->is_boolean()) {
    return InvalidParam("response_format.json_schema.schema",
                        "'response_format.json_schema.schema' must be a JSON Schema object");
  }
  c.kind = grammar::ConstraintKind::kJsonSchema;
  c.schema_json = schema->dump();
  return absl::OkStatus();
}

void KeepSchemaKeyOrder(std::string_view body, ParsedRequest* req) {
  if (req->constraint.kind != grammar::ConstraintKind::kJsonSchema) return;
  const nlohmann::ordered_json j =
      nlohmann::ordered_json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return;
  auto rf = j.find("response_format");
  if (rf == j.end() || !rf->is_object()) return;
  auto spec = rf->find("json_schema");
  if (spec == rf->end() || !spec->is_object()) return;
  auto schema = spec->find("schema");
  // Only what ParseResponseFormat accepted (a body with duplicate keys may
  // hold another value here): otherwise the sorted dump stays.
  if (schema == spec->end() || !(schema->is_object() || schema->is_boolean())) return;
  req->constraint.schema_json = schema->dump();
}

absl::Status RejectUnsupportedFields(const json& body, Endpoint endpoint) {
  for (const Unsupported& f : UnsupportedFields()) {
    auto it = body.find(f.name);
    if (it == body.end() || IsNeutral(*it, f.neutral)) continue;
    std::string message = absl::StrCat("'", f.name, "' is not supported by this server");
    if (*f.hint != '\0') absl::StrAppend(&message, " (", f.hint, ")");
    return InvalidParam(f.name, message);
  }
  if (endpoint == Endpoint::kChat) {
    auto echo = body.find("echo");
    if (echo != body.end() && !IsNeutral(*echo, false)) {
      return InvalidParam("echo", "'echo' is not supported");
    }
  }
  return absl::OkStatus();
}

}  // namespace triptych::gateway
