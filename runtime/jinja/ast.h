#ifndef TRIPTYCH_RUNTIME_JINJA_AST_H_
#define TRIPTYCH_RUNTIME_JINJA_AST_H_

// Syntax tree of a parsed template (internal to triptych_jinja).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/jinja/value.h"

namespace triptych::jinja {

enum class NodeKind {
  // Expressions.
  kLiteral,    // value
  kName,       // str
  kAttr,       // a.str
  kItem,       // a[b]
  kSlice,      // a[b:c:d] (null parts absent)
  kCall,       // a(list..., kwnames=kwvalues)
  kFilter,     // a|str(list..., kw...)   (a null inside a filter block)
  kTest,       // a is [not] str(list...); negated
  kUnary,      // str ("-", "+", "not") a
  kBinary,     // a str b  ("+", "-", "*", "/", "//", "%", "**", "~", "and", "or")
  kCompare,    // a, then list[i] compared with ops[i]
  kCondExpr,   // b if a else c
  kList,       // [list...]
  kTuple,      // (list...)
  kDict,       // {list[2i]: list[2i+1]}
  // Statements.
  kText,       // str
  kOutput,     // {{ a }}
  kIf,         // list = conditions, bodies[i]; else_body
  kFor,        // names (targets), a = iterable, b = filter (optional), body, else_body
  kSet,        // names (targets) or a = namespace-attr target (kAttr); b = value
  kSetBlock,   // names[0], body; list = filters (kFilter nodes with null operand)
  kMacro,      // str, names = params, list = defaults (null where none), body
  kCallBlock,  // a = call expression, names = caller params, list = defaults, body
  kFilterBlock,// list = filters, body
  kBreak,
  kContinue,
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using NodeList = std::vector<NodePtr>;

struct Node {
  NodeKind kind;
  int line = 0;
  std::string str;
  Value value;
  bool negated = false;
  NodePtr a, b, c, d;
  NodeList list;
  std::vector<std::string> ops;
  std::vector<std::string> names;
  std::vector<std::string> kwnames;
  NodeList kwvalues;
  NodeList body, else_body;
  std::vector<NodeList> bodies;
};

struct ParseLimits {
  int max_depth = 100;               // nesting of expressions and blocks
  size_t max_template_bytes = 1 << 20;
};

// Parses template source with trim_blocks and lstrip_blocks on, as Hugging
// Face transformers configures jinja2. Errors: kInvalidArgument
// "line N: ...".
absl::StatusOr<NodeList> ParseTemplate(std::string_view source, const ParseLimits& limits);

}  // namespace triptych::jinja

#endif  // TRIPTYCH_RUNTIME_JINJA_AST_H_
