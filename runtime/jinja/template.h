#ifndef TRIPTYCH_RUNTIME_JINJA_TEMPLATE_H_
#define TRIPTYCH_RUNTIME_JINJA_TEMPLATE_H_

// A Jinja template interpreter for chat templates (tokenizer.chat_template).
// It implements the subset of jinja2 that published chat templates use and
// renders as Hugging Face transformers does: trim_blocks and lstrip_blocks
// on, the loopcontrols extension, no autoescaping, Python's str()/repr() for
// printed values, HF's tojson (json.dumps with ensure_ascii=False by
// default) and the globals raise_exception() and strftime_now(). See
// docs/CHAT_TEMPLATES.md for the supported syntax, filters, tests and
// methods.
//
// Templates and their inputs are untrusted: parsing and rendering are
// bounded (nesting depth, evaluation steps, output and string sizes, macro
// recursion), nothing touches files, the environment or the clock other than
// strftime_now. Every failure is a Status, never a crash.
//
// Thread safety: a Template is immutable after Parse; Render may be called
// from several threads at once.

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/jinja/ast.h"
#include "runtime/jinja/value.h"

namespace triptych::jinja {

struct Limits {
  ParseLimits parse;
  // Statements and expression nodes evaluated per rendering.
  int64_t max_steps = 5'000'000;
  // Size of the rendered text and of any string or list built on the way.
  size_t max_output_bytes = 8 << 20;
  // Nested macro calls.
  int max_call_depth = 64;
};

struct RenderOptions {
  // The clock strftime_now() reads (seconds since the epoch, formatted in
  // UTC); the current time when unset.
  std::optional<std::time_t> now;
};

// A rendering and the byte ranges of it that came from untrusted values.
struct RenderedText {
  std::string text;
  // Sorted, disjoint, non-adjacent, non-empty ranges of `text`.
  std::vector<ByteRange> untrusted;
};

class Template {
 public:
  // Parses `source`. Errors: kInvalidArgument "template syntax error at
  // line N: ..." (or a size/nesting limit).
  static absl::StatusOr<std::unique_ptr<Template>> Parse(std::string_view source, Limits limits = {});

  // Renders with `context` (a dict: its entries are the template's
  // variables). Errors: kInvalidArgument "template error at line N: ..."
  // for runtime errors and limits; kInvalidArgument "raise_exception: MSG"
  // when the template calls raise_exception(MSG).
  absl::StatusOr<std::string> Render(const Value& context, const RenderOptions& options = {}) const;

  // Render, also saying which output bytes came from untrusted strings of
  // the context (Value::UntrustedString, FromUntrustedJson) rather than from
  // the template's literals or trusted values (bos_token, ...). Untrusted
  // text stays untrusted through every operation: `~`, `+`, `*`, slicing,
  // string methods and filters, macros, `set` and `filter` blocks, printed
  // lists and dicts, tojson. The text equals Render's. A caller that
  // tokenizes the prompt parses control tokens only outside `untrusted`
  // (tokenizer::Tokenizer::EncodeWithSpecialRanges). Errors: those of Render.
  absl::StatusOr<RenderedText> RenderWithProvenance(const Value& context,
                                                    const RenderOptions& options = {}) const;

 private:
  Template(NodeList root, Limits limits) : root_(std::move(root)), limits_(limits) {}
  NodeList root_;
  Limits limits_;
};

}  // namespace triptych::jinja

#endif  // TRIPTYCH_RUNTIME_JINJA_TEMPLATE_H_
