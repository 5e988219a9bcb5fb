#include "runtime/tool_calls/tool_format.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace triptych::tool_calls {
namespace {

using nlohmann::ordered_json;

bool Has(std::string_view text, std::string_view marker) {
  return text.find(marker) != std::string_view::npos;
}

// The parameters schema of `tool` as JSON (any object when none is given).
ordered_json ParametersSchema(const ToolDef& tool) {
  if (tool.parameters_json.empty()) return ordered_json{{"type", "object"}};
  ordered_json p = ordered_json::parse(tool.parameters_json, nullptr, /*allow_exceptions=*/false);
  return p.is_discarded() ? ordered_json{{"type", "object"}} : p;
}

// The key the format writes the arguments under.
const char* ArgumentsKey(ToolFormat format) {
  return format == ToolFormat::kLlama3 ? "parameters" : "arguments";
}

}  // namespace

const char* ToolFormatName(ToolFormat format) {
  switch (format) {
    case ToolFormat::kHermes:
      return "hermes";
    case ToolFormat::kLlama3:
      return "llama3";
    case ToolFormat::kMistral:
      return "mistral";
    case ToolFormat::kDeepSeekR1:
      return "deepseek_r1";
    case ToolFormat::kFunctionaryV31:
      return "functionary_v3_1";
    case ToolFormat::kFunctionaryV32:
      return "functionary_v3_2";
    case ToolFormat::kCommandR:
      return "command_r";
    case ToolFormat::kCommandR7B:
      return "command_r7b";
    case ToolFormat::kGptOss:
      return "gpt_oss";
    case ToolFormat::kNone:
      break;
  }
  return "none";
}

std::vector<std::string> PreservedTokenTexts(ToolFormat format) {
  if (format != ToolFormat::kGptOss) return {};
  return {"<|start|>", "<|channel|>", "<|message|>", "<|constrain|>",
          "<|end|>",   "<|call|>",    "<|return|>"};
}

bool ParsesWithoutTools(ToolFormat format) {
  return format == ToolFormat::kGptOss;
}

ToolFormat DetectToolFormat(std::string_view t) {
  // Families that share Llama 3's header tokens or ChatML's markers but
  // write calls their own way come first.
  if (Has(t, "<|channel|>")) return ToolFormat::kGptOss;
  if (Has(t, "<|START_ACTION|>")) return ToolFormat::kCommandR7B;
  if (Has(t, "<|START_OF_TURN_TOKEN|>") && Has(t, "Action:")) return ToolFormat::kCommandR;
  if (Has(t, "<function=")) return ToolFormat::kFunctionaryV31;
  if (Has(t, ">>>")) return ToolFormat::kFunctionaryV32;
  if (Has(t, "<tool_call>")) return ToolFormat::kHermes;
  if (Has(t, "[TOOL_CALLS]")) return ToolFormat::kMistral;
  if (Has(t, "tool\xe2\x96\x81" "calls\xe2\x96\x81" "begin")) return ToolFormat::kDeepSeekR1;
  if (Has(t, "<|start_header_id|>") && (Has(t, "ipython") || Has(t, "\"parameters\""))) {
    return ToolFormat::kLlama3;
  }
  return ToolFormat::kNone;
}

absl::StatusOr<grammar::OutputConstraint> ToolCallConstraint(
    ToolFormat format, absl::Span<const ToolDef> tools, const std::optional<std::string>& only) {
  if (format == ToolFormat::kNone) {
    return absl::InvalidArgumentError("no tool-call format for this chat template");
  }
  std::vector<const ToolDef*> candidates;
  for (const ToolDef& t : tools) {
    if (!only.has_value() || t.name == *only) candidates.push_back(&t);
  }
  if (candidates.empty()) {
    return absl::InvalidArgumentError(
        only.has_value() ? absl::StrCat("no tool named '", *only, "'") : "no tools declared");
  }
  grammar::OutputConstraint c;
  c.kind = grammar::ConstraintKind::kJsonSchema;
  if (format == ToolFormat::kCommandR || format == ToolFormat::kCommandR7B) {
    // A list of one action; the tool name is inside the JSON, so several
    // tools are an anyOf.
    ordered_json any_of = ordered_json::array();
    for (const ToolDef* t : candidates) {
      ordered_json props = ordered_json::object();
      ordered_json required = ordered_json::array();
      if (format == ToolFormat::kCommandR7B) {
        props["tool_call_id"] = {{"const", "0"}};
        required.push_back("tool_call_id");
      }
      props["tool_name"] = {{"const", t->name}};
      props["parameters"] = ParametersSchema(*t);
      required.push_back("tool_name");
      required.push_back("parameters");
      any_of.push_back({{"type", "object"},
                        {"properties", std::move(props)},
                        {"required", std::move(required)}});
    }
    ordered_json items = any_of.size() == 1 ? any_of[0] : ordered_json{{"anyOf", any_of}};
    c.schema_json = ordered_json{{"type", "array"},
                                 {"items", std::move(items)},
                                 {"minItems", 1},
                                 {"maxItems", 1}}
                        .dump();
    if (format == ToolFormat::kCommandR) {
      // The layout Command R+'s template renders an action list in.
      c.prefix = "Action:\n```json\n";
      c.suffix = "\n```";
    }
    return c;
  }
  const char* args_key = ArgumentsKey(format);
  if (candidates.size() == 1) {
    // The envelope up to the arguments is fixed text, in the layout the
    // templates render (and the models were trained on).
    const ToolDef& t = *candidates[0];
    const std::string head = absl::StrCat("{\"name\": ", ordered_json(t.name).dump(), ", \"",
                                          args_key, "\": ");
    switch (format) {
      case ToolFormat::kHermes:
        c.prefix = absl::StrCat("<tool_call>\n", head);
        c.suffix = "}\n</tool_call>";
        break;
      case ToolFormat::kLlama3:
        c.prefix = head;
        c.suffix = "}";
        break;
      case ToolFormat::kMistral:
        c.prefix = absl::StrCat("[", head);
        c.suffix = "}]";
        break;
      case ToolFormat::kDeepSeekR1:
        // The layout DeepSeek R1's template renders a call in.
        c.prefix = absl::StrCat(
            "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "begin\xef\xbd\x9c>",
            "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "begin\xef\xbd\x9c>function",
            "<\xef\xbd\x9ctool\xe2\x96\x81" "sep\xef\xbd\x9c>", t.name, "\n```json\n");
        c.suffix =
            "\n```<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "end\xef\xbd\x9c>"
            "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "end\xef\xbd\x9c>";
        c.schema_json = ParametersSchema(t).dump();
        return c;
      case ToolFormat::kFunctionaryV31:
        c.prefix = absl::StrCat("<function=", t.name, ">");
        c.suffix = "</function>";
        c.schema_json = ParametersSchema(t).dump();
        return c;
      case ToolFormat::kFunctionaryV32:
        // After the generation prompt's ">>>": the recipient line.
        c.prefix = absl::StrCat(t.name, "\n");
        c.schema_json = ParametersSchema(t).dump();
        return c;
      case ToolFormat::kGptOss:
        // The header is in the prompt (ConstrainedCallHeader): the output
        // is the arguments.
        c.schema_json = ParametersSchema(t).dump();
        return c;
      case ToolFormat::kCommandR:
      case ToolFormat::kCommandR7B:
      case ToolFormat::kNone:
        break;
    }
    c.schema_json = ParametersSchema(t).dump();
    return c;
  }
  if (format == ToolFormat::kDeepSeekR1 ||
      format == ToolFormat::kFunctionaryV31 ||
      format == ToolFormat::kFunctionaryV32 || format == ToolFormat::kGptOss) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tool_choice \"required\" with several tools is not supported for the ",
        ToolFormatName(format),
        " tool-call format (the function name is outside the JSON): name one function"));
  }
  ordered_json any_of = ordered_json::array();
  for (const ToolDef* t : candidates) {
    ordered_json props = ordered_json::object();
    props["name"] = {{"const", t->name}};
    props[args_key] = ParametersSchema(*t);
    any_of.push_back({{"type", "object"},
                      {"properties", std::move(props)},
                      {"required", ordered_json::array({"name", args_key})}});
  }
  c.schema_json = ordered_json{{"anyOf", std::move(any_of)}}.dump();
  switch (format) {
    case ToolFormat::kHermes:
      c.prefix = "<tool_call>\n";
      c.suffix = "\n</tool_call>";
      break;
    case ToolFormat::kMistral:
      c.prefix = "[";
      c.suffix = "]";
      break;
    default:
      break;
  }
  return c;
}

std::string ConstrainedCallHeader(ToolFormat format,
                                  absl::Span<const ToolDef> tools,
                                  const std::optional<std::string>& only) {
  if (format != ToolFormat::kGptOss) return "";
  const ToolDef* call = nullptr;
  int candidates = 0;
  for (const ToolDef& t : tools) {
    if (!only.has_value() || t.name == *only) {
      call = &t;
      ++candidates;
    }
  }
  if (candidates != 1) return "";
  // The layout gpt-oss writes a call in (the template renders the recipient
  // before the channel; the model writes it after, as here).
  return absl::StrCat("<|channel|>commentary to=functions.", call->name,
                      " <|constrain|>json<|message|>");
}

}  // namespace triptych::tool_calls
