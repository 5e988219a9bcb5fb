#ifndef TRIPTYCH_RUNTIME_TOOL_CALLS_TOOL_FORMAT_H_
#define TRIPTYCH_RUNTIME_TOOL_CALLS_TOOL_FORMAT_H_

// The ways chat models write tool calls into their output, recognised from
// the chat template's text (as llama.cpp and vLLM pick a tool parser), and
// the output constraint that makes a model write one valid call
// (tool_choice "required" or a named function). See docs/TOOL_CALLING.md.
// Pure functions; thread-safe.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/grammar/output_constraint.h"

namespace triptych::tool_calls {

enum class ToolFormat {
  kNone,  // no tool-call format this library parses
  // <tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>, one block
  // per call (Hermes 2 Pro / 3, Qwen 2.5, Qwen 3).
  kHermes,
  // {"name": ..., "parameters": {...}} as the whole reply, optionally after
  // <|python_tag|>, several separated by ';' (Llama 3.1 / 3.2 / 3.3).
  kLlama3,
  // [TOOL_CALLS][{"name": ..., "arguments": {...}}, ...] (Mistral Nemo) or
  // [TOOL_CALLS]name[ARGS]{...} (Devstral, Mistral Small 3.2).
  kMistral,
  // <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>name\n
  // ```json\n{...}\n```<｜tool▁call▁end｜>...<｜tool▁calls▁end｜> (DeepSeek R1
  // and its distills). "required" with several tools is refused: the name
  // is outside the JSON, which the constraint cannot choose among.
  kDeepSeekR1,
  // <function=name>{...}</function> per call (functionary v3.1). "required"
  // with several tools is refused (the name is outside the JSON).
  kFunctionaryV31,
  // The generation prompt ends in ">>>", so the reply starts with its
  // recipient: `all\n` + text, or `name\n{...}`; further segments each
  // after ">>>" (functionary v3.2). "required" with several tools is
  // refused (the name is outside the JSON).
  kFunctionaryV32,
  // Action:\n```json\n[{"tool_name": ..., "parameters": {...}}, ...]\n```
  // (Command R+; a `directly-answer` action is no call).
  kCommandR,
  // <|START_ACTION|>[{"tool_call_id": "0", "tool_name": ..., "parameters":
  // {...}}, ...]<|END_ACTION|> (Command R7B); the markers are control
  // tokens, so a reply that starts with the list counts too.
  kCommandR7B,
  // OpenAI harmony (gpt-oss): the reply is a sequence of messages, each a
  // header, <|message|> and a body ended by <|end|>, <|call|> or <|return|>:
  // `<|channel|>analysis<|message|>...<|end|><|start|>assistant<|channel|>
  // final<|message|>...`, a call `<|channel|>commentary to=functions.name
  // <|constrain|>json<|message|>{...}<|call|>`. The markers are control
  // tokens: the gateway asks the decoder to keep them in the text
  // (PreservedTokenTexts). "required" with several tools is refused (the
  // name is in the header, outside the JSON).
  kGptOss,
};

// "hermes", "llama3", "mistral", "deepseek_r1", "functionary_v3_1",
// "functionary_v3_2", "command_r", "command_r7b", "gpt_oss", "none".
const char* ToolFormatName(ToolFormat format);

// The format of a Jinja chat template, by markers: `<|START_ACTION|>` ->
// Command R7B; `Action:` with `<|START_OF_TURN_TOKEN|>` -> Command R+;
// `<function=` -> functionary v3.1; `>>>` -> functionary v3.2 (these
// first: they share Llama 3's header tokens); `<tool_call>` -> Hermes;
// `[TOOL_CALLS]` -> Mistral; `tool▁calls▁begin` -> DeepSeek R1;
// `<|start_header_id|>` with `ipython` or `"parameters"` -> Llama 3;
// `<|channel|>` -> gpt-oss (checked first of all); otherwise kNone.
ToolFormat DetectToolFormat(std::string_view chat_template);

// The control tokens (by their vocabulary text) that `format`'s parser
// reads and the detokenizer must therefore keep in the generated text
// ("preserved tokens"): the harmony markers for kGptOss, none for the
// others. The prompt side is unchanged: control tokens written in a message
// stay plain text.
std::vector<std::string> PreservedTokenTexts(ToolFormat format);

// Whether `format`'s output is parsed even without tools: gpt-oss writes
// every reply in channels, so a plain chat answer is its `final` channel
// (the `analysis` channel is reasoning).
bool ParsesWithoutTools(ToolFormat format);

// A declared tool: its function name and its parameters JSON Schema as
// JSON text ("" = any object).
struct ToolDef {
  std::string name;
  std::string parameters_json;
};

// The constraint under which a model writes exactly one call in `format`
// (kHermes: the <tool_call> block; kLlama3: the JSON object; kMistral: the
// JSON array; functionary: the <function=...> block or the `name\n{...}`
// segment; Command R: a one-action list, after `Action:` for R+) to `only`
// when set, else to one of `tools`. With one
// possible tool the envelope is literal text up to the arguments (the
// layout the templates render: `{"name": "f", "arguments": ` ... `}`); with
// several the call is a JSON object matching one of them (keys in the
// grammar's order). kGptOss: the arguments only (the header goes into the
// prompt, see ConstrainedCallHeader). Errors: kInvalidArgument (no tools,
// kNone, `only` not among `tools`, several possible tools for the formats
// whose name is outside the JSON).
absl::StatusOr<grammar::OutputConstraint> ToolCallConstraint(
    ToolFormat format, absl::Span<const ToolDef> tools, const std::optional<std::string>& only);

// For formats whose constrained call opens with control tokens, which the
// grammar's mask never offers (kGptOss: `<|channel|>commentary
// to=functions.f <|constrain|>json<|message|>`): that opening, to be
// appended to the prompt (control tokens parsed; it is the server's text
// and the name is a checked tool name) and read by the parser as the start
// of the output. "" for the other formats. Call after ToolCallConstraint
// succeeded (same arguments).
std::string ConstrainedCallHeader(ToolFormat format,
                                  absl::Span<const ToolDef> tools,
                                  const std::optional<std::string>& only);

}  // namespace triptych::tool_calls

#endif  // TRIPTYCH_RUNTIME_TOOL_CALLS_TOOL_FORMAT_H_
