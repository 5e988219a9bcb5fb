#ifndef TRIPTYCH_SERVICES_GATEWAY_MODEL_INFO_H_
#define TRIPTYCH_SERVICES_GATEWAY_MODEL_INFO_H_

// What the gateway needs to know about the served model, read from its GGUF
// file: the tokenizer, the chat template and its special tokens, and the
// context length. No weights are loaded. Immutable; thread-safe.
//
// Chat template: the Jinja text of ModelInfoOptions::chat_template (from
// --chat-template FILE) if given, else the GGUF's tokenizer.chat_template,
// rendered by runtime/jinja; the built-in families of runtime/chat are the
// fallback when there is neither (or the GGUF's template does not parse).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "nlohmann/json.hpp"
#include "runtime/chat/chat_template.h"
#include "runtime/gguf/gguf_reader.h"
#include "runtime/jinja/template.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tool_calls/tool_format.h"

namespace triptych::gateway {

// The chat template's `messages` for `messages`: role, content (null when
// content_null), tool_calls, and for "tool" messages tool_call_id and name.
// Tool-call arguments become JSON values (what most templates print with
// tojson, as transformers' and vLLM's callers pass them), or JSON strings
// with `arguments_as_string` (templates that concatenate them, such as
// functionary's). Errors: kInternal when a tool_calls_json is not JSON.
absl::StatusOr<nlohmann::ordered_json> ChatMessagesJson(absl::Span<const chat::Message> messages,
                                                        bool arguments_as_string = false);

// Renders a probe conversation with one tool call whose arguments are an
// object, then a JSON string: true when only the string form shows them.
bool TemplateWantsStringArguments(const jinja::Template& t, const std::string& bos,
                                  const std::string& eos);

struct ModelInfoOptions {
  // Jinja chat template overriding the GGUF's (the contents of
  // --chat-template FILE); empty: use the GGUF's.
  std::string chat_template;
};

class ModelInfo {
 public:
  // Opens the GGUF at `path` (metadata only). Errors: those of
  // GgufFile::Open and Tokenizer::FromGguf; kInvalidArgument when
  // options.chat_template does not parse.
  static absl::StatusOr<std::unique_ptr<ModelInfo>> Load(const std::string& path,
                                                         const ModelInfoOptions& options = {});
  // Uses an already opened file and tokenizer, which must outlive the result.
  static absl::StatusOr<std::unique_ptr<ModelInfo>> FromFile(
      const gguf::GgufFile& file, const tokenizer::Tokenizer* tokenizer,
      const ModelInfoOptions& options = {});

  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
  // The built-in family (used when there is no Jinja template; also gives
  // the end-of-turn stop strings).
  chat::TemplateKind template_kind() const { return template_kind_; }
  // True when chats are rendered by the Jinja template.
  bool uses_jinja_template() const { return jinja_ != nullptr; }
  // How the model writes tool calls, from the Jinja template's markers
  // (kNone without a Jinja template; runtime/tool_calls).
  tool_calls::ToolFormat tool_format() const { return tool_format_; }
  // The control tokens of this vocabulary that the tool-call format's
  // parser reads (tool_calls::PreservedTokenTexts), for the decoder to keep
  // in chat output; empty for most formats.
  const std::vector<int32_t>& preserved_tokens() const {
    return preserved_tokens_;
  }
  // The template prints tool-call arguments given as JSON strings, not
  // objects (found by rendering a probe call both ways at load time).
  bool tool_arguments_as_string() const { return arguments_as_string_; }
  // Renders `messages` to the prompt text (generation prompt added), with
  // `tools_json` (the request's "tools" array, "" = none) as the template's
  // `tools`. Errors: kInvalidArgument (the template raised or failed, roles
  // or tool calls the built-in family cannot place).
  absl::StatusOr<std::string> RenderChat(absl::Span<const chat::Message> messages,
                                         std::string_view tools_json = "") const;
  // RenderChat, with the byte ranges that came from the request (message
  // contents, tools and anything else taken from it) rather than from the
  // template.
  absl::StatusOr<chat::RenderedPrompt> RenderChatWithProvenance(
      absl::Span<const chat::Message> messages, std::string_view tools_json = "") const;
  int64_t context_length() const { return context_length_; }
  // general.name, or "" when absent.
  const std::string& name() const { return name_; }

  // Renders `messages` with the chat template (generation prompt added) and
  // tokenizes the result; BOS is added once (by the tokenizer when its
  // vocabulary asks for it and the rendering does not start with it).
  // Control tokens are parsed only in the template's own text: written in a
  // message they are plain text (tokenizer::EncodeWithSpecialRanges; the
  // tokens are those of Encode otherwise). `trusted_suffix` is the server's
  // own text appended after the generation prompt (its control tokens are
  // parsed), e.g. a constrained gpt-oss call's header. Errors: those of
  // RenderChat.
  absl::StatusOr<std::vector<int32_t>> EncodeChat(
      absl::Span<const chat::Message> messages,
      std::string_view tools_json = "",
      std::string_view trusted_suffix = "") const;
  // Tokenizes a completion prompt (BOS as the vocabulary says; control
  // tokens written in the text are parsed: the raw prompt is the caller's
  // own text, template included, as in llama-server and vLLM).
  std::vector<int32_t> EncodePrompt(const std::string& prompt) const;
  // Extra stop strings that end an assistant turn for this template.
  const std::vector<std::string>& chat_stop_strings() const { return chat_stops_; }

 private:
  ModelInfo() = default;
  absl::Status Init(const gguf::GgufFile& file, const ModelInfoOptions& options);

  std::unique_ptr<gguf::GgufFile> owned_file_;
  std::unique_ptr<tokenizer::Tokenizer> owned_tokenizer_;
  const tokenizer::Tokenizer* tokenizer_ = nullptr;
  chat::TemplateKind template_kind_ = chat::kFallbackTemplateKind;
  chat::SpecialTokens special_;
  std::unique_ptr<jinja::Template> jinja_;
  tool_calls::ToolFormat tool_format_ = tool_calls::ToolFormat::kNone;
  bool arguments_as_string_ = false;
  std::vector<int32_t> preserved_tokens_;
  std::string bos_text_, eos_text_;  // the vocabulary's, for the Jinja template
  std::vector<std::string> chat_stops_;
  int64_t context_length_ = 2048;
  std::string name_;
};

}  // namespace triptych::gateway

#endif  // TRIPTYCH_SERVICES_GATEWAY_MODEL_INFO_H_
