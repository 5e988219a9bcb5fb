#include "services/gateway/model_info.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log/log.h"
#include "nlohmann/json.hpp"
#include "runtime/jinja/chat_context.h"
#include "common/status_macros.h"

namespace triptych::gateway {

absl::StatusOr<std::unique_ptr<ModelInfo>> ModelInfo::Load(const std::string& path,
                                                        const ModelInfoOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<gguf::GgufFile> file, gguf::GgufFile::Open(path));
  ASSIGN_OR_RETURN(std::unique_ptr<tokenizer::Tokenizer> tok,
                   tokenizer::Tokenizer::FromGguf(*file));
  std::unique_ptr<ModelInfo> info(new ModelInfo());
  info->tokenizer_ = tok.get();
  RETURN_IF_ERROR(info->Init(*file, options));
  info->owned_file_ = std::move(file);
  info->owned_tokenizer_ = std::move(tok);
  return info;
}

absl::StatusOr<std::unique_ptr<ModelInfo>> ModelInfo::FromFile(
    const gguf::GgufFile& file, const tokenizer::Tokenizer* tokenizer,
    const ModelInfoOptions& options) {
  std::unique_ptr<ModelInfo> info(new ModelInfo());
  info->tokenizer_ = tokenizer;
  RETURN_IF_ERROR(info->Init(file, options));
  return info;
}

absl::Status ModelInfo::Init(const gguf::GgufFile& file, const ModelInfoOptions& options) {
  const std::string gguf_template = file.GetString("tokenizer.chat_template").value_or("");
  const std::string& source = options.chat_template.empty() ? gguf_template : options.chat_template;
  if (!source.empty()) {
    auto parsed = jinja::Template::Parse(source);
    if (parsed.ok()) {
      jinja_ = std::move(parsed).value();
      tool_format_ = tool_calls::DetectToolFormat(source);
    } else if (!options.chat_template.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--chat-template: ", parsed.status().message()));
    } else {
      log::Warn("gateway", "the GGUF's tokenizer.chat_template does not parse; using a built-in template",
                {{"error", std::string(parsed.status().message())}});
    }
  }
  if (tokenizer_->bos_id() >= 0) bos_text_ = std::string(tokenizer_->TokenText(tokenizer_->bos_id()));
  if (tokenizer_->eos_id() >= 0) eos_text_ = std::string(tokenizer_->TokenText(tokenizer_->eos_id()));
  template_kind_ = chat::DetectTemplateKindOrFallback(source);
  special_ = chat::DefaultSpecialTokens(template_kind_);
  // The tokenizer adds BOS itself when its vocabulary says so; the template
  // must then not write it a second time. Without add_bos the template's
  // own BOS text (parsed as a control token) is the only one.
  if (tokenizer_->add_bos()) {
    special_.bos.clear();
  } else if (tokenizer_->bos_id() >= 0 && !special_.bos.empty()) {
    special_.bos = std::string(tokenizer_->TokenText(tokenizer_->bos_id()));
  }
  if (tokenizer_->eos_id() >= 0) {
    special_.eos = std::string(tokenizer_->TokenText(tokenizer_->eos_id()));
  }
  chat_stops_ = chat::EndOfTurnStrings(template_kind_, special_);
  if (jinja_ != nullptr) arguments_as_string_ = TemplateWantsStringArguments(*jinja_, bos_text_, eos_text_);
  for (const std::string& text :
       tool_calls::PreservedTokenTexts(tool_format_)) {
    // Tokens the vocabulary lacks, or has as plain text, need nothing.
    const std::optional<int32_t> id = tokenizer_->TokenId(text);
    if (id.has_value() && tokenizer_->IsControl(*id))
      preserved_tokens_.push_back(*id);
  }
  name_ = file.GetString("general.name").value_or("");
  const std::string arch = file.GetString("general.architecture").value_or("llama");
  const int64_t ctx = file.GetInt(absl::StrCat(arch, ".context_length")).value_or(2048);
  context_length_ = ctx > 0 ? ctx : 2048;
  return absl::OkStatus();
}

namespace {

// Python's json.dumps(x) layout (", " and ": "), which a template that
// concatenates arguments would have printed from the client's string.
std::string PythonJson(const nlohmann::ordered_json& j) {
  using nlohmann::ordered_json;
  if (j.is_object()) {
    std::string out = "{";
    bool first = true;
    for (auto it = j.begin(); it != j.end(); ++it) {
      absl::StrAppend(&out, first ? "" : ", ", ordered_json(it.key()).dump(), ": ",
                      PythonJson(it.value()));
      first = false;
    }
    return out + "}";
  }
  if (j.is_array()) {
    std::string out = "[";
    for (size_t i = 0; i < j.size(); ++i) absl::StrAppend(&out, i ? ", " : "", PythonJson(j[i]));
    return out + "]";
  }
  return j.dump(-1, ' ', /*ensure_ascii=*/true, ordered_json::error_handler_t::replace);
}

}  // namespace

bool TemplateWantsStringArguments(const jinja::Template& t, const std::string& bos,
                                  const std::string& eos) {
  using nlohmann::ordered_json;
  auto render = [&](bool as_string) -> std::optional<std::string> {
    chat::Message user{"user", "probe question"};
    chat::Message assistant{"assistant", ""};
    assistant.content_null = true;
    assistant.tool_calls_json =
        R"([{"id":"call12345","type":"function","function":{"name":"probe_fn",)"
        R"("arguments":{"probe_arg":"probe_value"}}}])";
    chat::Message tool{"tool", "probe result"};
    tool.tool_call_id = "call12345";
    const chat::Message messages[] = {user, assistant, tool};
    auto json_messages = ChatMessagesJson(messages, as_string);
    if (!json_messages.ok()) return std::nullopt;
    ordered_json ctx = {{"messages", *json_messages},
                        {"tools", ordered_json::parse(R"([{"type":"function","function":)"
                                                      R"({"name":"probe_fn","description":"d",)"
                                                      R"("parameters":{"type":"object"}}}])")},
                        {"add_generation_prompt", true},
                        {"bos_token", bos},
                        {"eos_token", eos}};
    auto text = t.Render(jinja::ChatContextFromJson(ctx));
    if (!text.ok()) return std::nullopt;
    return *text;
  };
  auto has_value = [](const std::optional<std::string>& s) {
    return s.has_value() && s->find("probe_value") != std::string::npos;
  };
  return !has_value(render(false)) && has_value(render(true));
}

absl::StatusOr<nlohmann::ordered_json> ChatMessagesJson(
    absl::Span<const chat::Message> messages, bool arguments_as_string) {
  using nlohmann::ordered_json;
  ordered_json out = ordered_json::array();
  for (const chat::Message& m : messages) {
    // Keys in the order transformers' callers usually write them.
    ordered_json msg = {{"role", m.role}};
    msg["content"] = m.content_null ? ordered_json(nullptr) : ordered_json(m.content);
    if (!m.tool_calls_json.empty()) {
      ordered_json calls = ordered_json::parse(m.tool_calls_json, nullptr, false);
      if (calls.is_discarded() || !calls.is_array()) {
        return absl::InternalError("tool_calls are not JSON");
      }
      for (ordered_json& c : calls) {
        if (!c.is_object() || !c.contains("function") || !c["function"].is_object()) continue;
        ordered_json& args = c["function"]["arguments"];
        if (args.is_string() && !arguments_as_string) {
          args = ordered_json::parse(args.get<std::string>(), nullptr, false);
          if (args.is_discarded()) return absl::InternalError("tool-call arguments are not JSON");
        } else if (!args.is_string() && arguments_as_string) {
          args = PythonJson(args);
        }
      }
      msg["tool_calls"] = std::move(calls);
    }
    if (!m.reasoning.empty()) msg["reasoning_content"] = m.reasoning;
    if (m.role == "tool") {
      msg["tool_call_id"] = m.tool_call_id;
      if (!m.name.empty()) msg["name"] = m.name;
    }
    out.push_back(std::move(msg));
  }
  return out;
}

absl::StatusOr<std::string> ModelInfo::RenderChat(absl::Span<const chat::Message> messages,
                                                  std::string_view tools_json) const {
  ASSIGN_OR_RETURN(chat::RenderedPrompt prompt, RenderChatWithProvenance(messages, tools_json));
  return std::move(prompt.text);
}

absl::StatusOr<chat::RenderedPrompt> ModelInfo::RenderChatWithProvenance(
    absl::Span<const chat::Message> messages, std::string_view tools_json) const {
  using nlohmann::ordered_json;
  if (jinja_ == nullptr) {
    if (!tools_json.empty()) {
      return absl::InvalidArgumentError(
          "tools need the model's own chat template (this GGUF has none; pass "
          "--chat-template FILE)");
    }
    return chat::RenderWithProvenance(template_kind_, messages, /*add_generation_prompt=*/true,
                                      special_);
  }
  ordered_json ctx = {{"messages", ordered_json::array()},
                      {"add_generation_prompt", true},
                      {"bos_token", bos_text_},
                      {"eos_token", eos_text_}};
  if (!tools_json.empty()) {
    ctx["tools"] = ordered_json::parse(tools_json.begin(), tools_json.end(), nullptr, false);
    if (ctx["tools"].is_discarded()) return absl::InternalError("tools are not valid JSON");
  }
  ASSIGN_OR_RETURN(ctx["messages"], ChatMessagesJson(messages, arguments_as_string_));
  if (tool_format_ == tool_calls::ToolFormat::kGptOss) {
    // The harmony template checks `"content" in message` and then searches
    // message.content for channel tags, which raises on a null content
    // (jinja2 alike): an assistant turn with only tool_calls goes without
    // the key. Its reasoning is `thinking` there (rendered, as the analysis
    // before a call, while no final answer follows); a tool-call turn with
    // content as well renders the content as that analysis and raises on
    // both, so the reasoning then stays out.
    for (ordered_json& m : ctx["messages"]) {
      if (m.contains("content") && m["content"].is_null()) m.erase("content");
      if (!m.contains("reasoning_content")) continue;
      const bool has_content = m.contains("content") &&
                               m["content"].is_string() &&
                               !m["content"].empty();
      if (!(has_content && m.contains("tool_calls")))
        m["thinking"] = m["reasoning_content"];
      m.erase("reasoning_content");
    }
  }
  // Messages and tools are untrusted (ChatContextFromJson); bos/eos are the
  // vocabulary's.
  auto text = jinja_->RenderWithProvenance(jinja::ChatContextFromJson(ctx));
  if (!text.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("chat template: ", text.status().message()));
  }
  chat::RenderedPrompt prompt{std::move(text->text), {}};
  for (const jinja::ByteRange& u : text->untrusted) prompt.untrusted.push_back({u.begin, u.end});
  return prompt;
}

namespace {

// The bytes of `prompt` outside its untrusted (sorted, disjoint) ranges.
std::vector<tokenizer::TextRange> TrustedRanges(const chat::RenderedPrompt& prompt) {
  std::vector<tokenizer::TextRange> trusted;
  size_t at = 0;
  for (const chat::ByteRange& u : prompt.untrusted) {
    if (u.begin > at) trusted.push_back({at, u.begin});
    at = std::max(at, u.end);
  }
  if (at < prompt.text.size()) trusted.push_back({at, prompt.text.size()});
  return trusted;
}

}  // namespace

absl::StatusOr<std::vector<int32_t>> ModelInfo::EncodeChat(
    absl::Span<const chat::Message> messages, std::string_view tools_json,
    std::string_view trusted_suffix) const {
  ASSIGN_OR_RETURN(chat::RenderedPrompt prompt, RenderChatWithProvenance(messages, tools_json));
  prompt.text.append(trusted_suffix);  // outside every untrusted range
  const std::string& text = prompt.text;
  // Templates that write bos_token themselves (Llama 3, Mistral, Gemma)
  // must not get a second one from the tokenizer. A message that merely
  // starts with BOS's text does not count.
  const bool starts_with_bos =
      jinja_ != nullptr && !bos_text_.empty() && absl::StartsWith(text, bos_text_) &&
      (prompt.untrusted.empty() || prompt.untrusted.front().begin >= bos_text_.size());
  // Control tokens only from the template: inside message text they are
  // plain text (a user cannot write a fake "<|im_start|>system" turn).
  return tokenizer_->EncodeWithSpecialRanges(text, /*add_special=*/!starts_with_bos,
                                             TrustedRanges(prompt));
}

std::vector<int32_t> ModelInfo::EncodePrompt(const std::string& prompt) const {
  // A completion prompt is the caller's own raw text, template included:
  // control tokens in it are parsed, as llama-server and vLLM do.
  return tokenizer_->Encode(prompt, /*add_special=*/true, /*parse_special=*/true);
}

}  // namespace triptych::gateway
