#ifndef TRIPTYCH_RUNTIME_CHAT_CHAT_TEMPLATE_H_
#define TRIPTYCH_RUNTIME_CHAT_CHAT_TEMPLATE_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace triptych::chat {

// Prompt formats for chat models. There is no Jinja interpreter: like
// llama.cpp's llm_chat_detect_template, the template text found in a GGUF
// file (tokenizer.chat_template) is mapped to one of these hand-written
// families by distinctive markers. See docs/CHAT_TEMPLATES.md.
enum class TemplateKind {
  kChatml,     // <|im_start|>role\n...<|im_end|>  (Qwen, Hermes, Yi, ...)
  kLlama2,     // [INST] <<SYS>>\n...\n<</SYS>>\n\n... [/INST]
  kLlama3,     // <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>
  kMistralV1,  // " [INST] ... [/INST]"  (Mistral 7B v0.1/v0.2, Mixtral)
  kMistralV3,  // "[INST] ...[/INST]"  (Mistral 7B v0.3, Mixtral 8x22B)
  kMistralV7,  // [SYSTEM_PROMPT] ...[/SYSTEM_PROMPT][INST] ...[/INST]
  kZephyr,     // <|user|>\n...</s>
  kPhi3,       // <|user|>\n...<|end|>
  kGemma,      // <start_of_turn>user\n...<end_of_turn>
};

// Used when the template is absent or not recognised.
inline constexpr TemplateKind kFallbackTemplateKind = TemplateKind::kChatml;

struct Message {
  std::string role;  // "system", "user" or "assistant" ("tool": Jinja only)
  std::string content;
  // Tool calling: only Jinja chat templates render these (Render() below
  // refuses tool calls and the "tool" role).
  bool content_null = false;    // OpenAI's "content": null (tool calls only)
  std::string tool_calls_json;  // assistant: JSON array of {id, type,
                                // function: {name, arguments (as sent)}}
  std::string tool_call_id;     // tool: the call this result answers
  std::string name;             // tool: the function's name, when given
  // assistant: the turn's reasoning as a response gave it
  // (reasoning_content), for templates that render it; "" = none.
  std::string reasoning;
};

// Texts of the special tokens a family may write into the prompt (trusted:
// they come from the vocabulary). Render copies them verbatim; pass an empty
// bos when the tokenizer adds BOS itself (otherwise the prompt starts with
// two). DefaultSpecialTokens() gives the conventional ones.
struct SpecialTokens {
  std::string bos;
  std::string eos;
};

// The family's name as accepted by ParseTemplateKind ("chatml", "llama2",
// "llama3", "mistral-v1", "mistral-v3", "mistral-v7", "zephyr", "phi3",
// "gemma").
std::string_view TemplateKindName(TemplateKind kind);

// For a --chat-template flag: the names above plus the aliases "qwen",
// "llama3.1" and "phi-3". Returns kInvalidArgument listing the valid names
// for anything else.
absl::StatusOr<TemplateKind> ParseTemplateKind(std::string_view name);

// Recognises the family of a Jinja chat template by its markers, or returns
// nullopt (empty or unknown template). Also accepts a family name.
std::optional<TemplateKind> DetectTemplateKind(std::string_view jinja);

// DetectTemplateKind, falling back to kFallbackTemplateKind.
TemplateKind DetectTemplateKindOrFallback(std::string_view jinja);

// The tokens the family's reference tokenizer uses ("<s>"/"</s>" for Llama 2
// and Mistral, "<|begin_of_text|>"/"<|eot_id|>" for Llama 3, ...). Prefer the
// texts of the model's own vocabulary when they are known.
SpecialTokens DefaultSpecialTokens(TemplateKind kind);

// Strings that end an assistant turn in this family (useful as extra stop
// strings when the end-of-turn token is not the model's EOS), e.g.
// "<|im_end|>" for chatml, `tokens.eos` for Llama 2 / Mistral / Zephyr.
std::vector<std::string> EndOfTurnStrings(TemplateKind kind,
                                          const SpecialTokens& tokens);

// Renders `messages` into the prompt text for `kind`. With
// add_generation_prompt, appends the header that starts an assistant reply
// (families whose user turn already ends in the reply cue, Llama 2 and
// Mistral, have none). System messages follow each family's reference
// template: own turns for chatml / Llama 3 / Zephyr / Phi-3 / Mistral v7;
// merged into the first user turn for Llama 2 (<<SYS>> block), Gemma and
// Mistral v1; into the last user turn for Mistral v3.
// Errors (kInvalidArgument): a role other than system / user / assistant;
// a system message in a merging family with no user message to carry it.
absl::StatusOr<std::string> Render(TemplateKind kind,
                                   absl::Span<const Message> messages,
                                   bool add_generation_prompt,
                                   const SpecialTokens& tokens);

// A byte range [begin, end) of a rendered prompt.
struct ByteRange {
  size_t begin = 0;
  size_t end = 0;
  bool operator==(const ByteRange&) const = default;
};

// A rendered prompt and the bytes of it that came from message contents
// (sorted, disjoint, non-adjacent, non-empty ranges). Everything else (role
// headers, markers, the SpecialTokens) is the family's own text.
struct RenderedPrompt {
  std::string text;
  std::vector<ByteRange> untrusted;
};

// Render, also returning which bytes are message contents, so that the
// caller can tokenize control tokens only outside them
// (tokenizer::Tokenizer::EncodeWithSpecialRanges). The text equals Render's.
absl::StatusOr<RenderedPrompt> RenderWithProvenance(
    TemplateKind kind, absl::Span<const Message> messages,
    bool add_generation_prompt, const SpecialTokens& tokens);

}  // namespace triptych::chat

#endif  // TRIPTYCH_RUNTIME_CHAT_CHAT_TEMPLATE_H_
