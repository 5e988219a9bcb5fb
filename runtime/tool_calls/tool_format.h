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

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/grammar/output_constraint.h"

namespace triptych::tool_calls {

enum class ToolFormat {
  kNone,    // no tool-call format this library parses
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
};

// Formats that are recognised but whose output is not parsed (tools are
// then a 400 naming the family). gpt-oss writes calls in control tokens
// (<|channel|>, <|message|>, <|call|>) that the detokenizer drops.
enum class UnparsedFamily { kNone, kGptOss };

// "hermes", "llama3", "mistral", "deepseek_r1", "functionary_v3_1",
// "functionary_v3_2", "command_r", "command_r7b", "none".
const char* ToolFormatName(ToolFormat format);
const char* UnparsedFamilyName(UnparsedFamily family);

// The format of a Jinja chat template, by markers: `<|START_ACTION|>` ->
// Command R7B; `Action:` with `<|START_OF_TURN_TOKEN|>` -> Command R+;
// `<function=` -> functionary v3.1; `>>>` -> functionary v3.2 (these
// first: they share Llama 3's header tokens); `<tool_call>` -> Hermes;
// `[TOOL_CALLS]` -> Mistral; `tool▁calls▁begin` -> DeepSeek R1;
// `<|start_header_id|>` with `ipython` or `"parameters"` -> Llama 3;
// otherwise (and for gpt-oss) kNone.
ToolFormat DetectToolFormat(std::string_view chat_template);
// For a kNone template: the tool-calling family it belongs to, when known
// (gpt-oss `<|channel|>`).
UnparsedFamily DetectUnparsedFamily(std::string_view chat_template);

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
// grammar's order). Errors: kInvalidArgument (no tools, kNone, `only` not
// among `tools`).
absl::StatusOr<grammar::OutputConstraint> ToolCallConstraint(
    ToolFormat format, absl::Span<const ToolDef> tools, const std::optional<std::string>& only);

}  // namespace triptych::tool_calls

#endif  // TRIPTYCH_RUNTIME_TOOL_CALLS_TOOL_FORMAT_H_
