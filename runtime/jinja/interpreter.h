#ifndef TRIPTYCH_RUNTIME_JINJA_INTERPRETER_H_
#define TRIPTYCH_RUNTIME_JINJA_INTERPRETER_H_

// Evaluation state of one rendering (internal to triptych_jinja): scopes,
// step/size/depth accounting, and the builtin filters, tests and methods
// (builtins.cc). Single-threaded; lives for one Template::Render call.

#include <memory>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/jinja/ast.h"
#include "runtime/jinja/provenance.h"
#include "runtime/jinja/template.h"
#include "runtime/jinja/value.h"

namespace triptych::jinja {

struct Scope {
  absl::flat_hash_map<std::string, Value> vars;
  std::shared_ptr<Scope> parent;
};

class Interpreter {
 public:
  Interpreter(const Limits& limits, const RenderOptions& options, const Value& context);

  absl::StatusOr<std::string> RenderRoot(const NodeList& root);
  // RenderRoot, with the untrusted byte ranges of the output.
  absl::StatusOr<RenderedText> RenderRootWithProvenance(const NodeList& root);

  // Accounting, used by builtins.
  absl::Status Step();
  absl::Status CheckSize(size_t bytes) const;
  const RenderOptions& options() const { return options_; }

  // Builtins (builtins.cc). Errors carry no line; the caller adds it.
  absl::StatusOr<Value> ApplyFilter(const std::string& name, const Value& v, CallArgs& args);
  absl::StatusOr<bool> ApplyTest(const std::string& name, const Value& v, CallArgs& args);
  // obj.name for strings, lists and dicts (bound methods) or undefined.
  Value GetMethod(const Value& obj, const std::string& name);
  // The global functions: range, namespace, dict, raise_exception, strftime_now.
  Value GlobalFunction(const std::string& name);
  // Python's < for the comparable kinds. Errors: kInvalidArgument.
  static absl::StatusOr<bool> Less(const Value& a, const Value& b);
  // Calls a callable value.
  absl::StatusOr<Value> Call(const Value& callee, CallArgs& args);

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  using ScopePtr = std::shared_ptr<Scope>;

  absl::StatusOr<Flow> Exec(const NodeList& body, const ScopePtr& scope, TextBuilder* out);
  absl::StatusOr<Flow> ExecNode(const Node& n, const ScopePtr& scope, TextBuilder* out);
  absl::StatusOr<Flow> ExecFor(const Node& n, const ScopePtr& scope, TextBuilder* out);
  absl::Status ExecSet(const Node& n, const ScopePtr& scope);
  Value MakeMacro(const Node& n, const ScopePtr& scope);
  absl::StatusOr<Value> Eval(const Node& n, const ScopePtr& scope);
  absl::StatusOr<Value> EvalInner(const Node& n, const ScopePtr& scope);
  absl::StatusOr<Value> EvalBinary(const Node& n, const ScopePtr& scope);
  absl::StatusOr<Value> EvalCompare(const Node& n, const ScopePtr& scope);
  absl::Status EvalArgs(const Node& n, const ScopePtr& scope, CallArgs* args);
  absl::StatusOr<Value> ApplyFilterNodes(const NodeList& filters, Value v, const ScopePtr& scope);
  Value Lookup(const std::string& name, const ScopePtr& scope) const;
  // Template text (trusted) / str(v) with its provenance, size-checked.
  absl::Status Append(TextBuilder* out, std::string_view text) const;
  absl::Status AppendValue(TextBuilder* out, const Value& v) const;
  absl::Status WithLine(const Node& n, absl::Status s) const;

  const Limits& limits_;
  const RenderOptions& options_;
  Value context_;
  int64_t steps_ = 0;
  int call_depth_ = 0;
  int eval_depth_ = 0;
};

// Helpers shared by interpreter.cc and builtins.cc.
absl::Status TypeError(const std::string& msg);
std::string TypeName(const Value& v);
// jinja2/markupsafe escape(): & < > " ' as HTML entities.
std::string HtmlEscape(const std::string& s);
// Python's `in`.
absl::StatusOr<bool> Contains(const Value& container, const Value& item);
// Items of an iterable (list, string chars, dict keys; undefined is empty).
absl::StatusOr<std::vector<Value>> Iterate(const Value& v);

}  // namespace triptych::jinja

#endif  // TRIPTYCH_RUNTIME_JINJA_INTERPRETER_H_
