// Recursive-descent parser with jinja2's grammar and operator precedence:
// condexpr < or < and < not < compare (==, !=, <, >, <=, >=, in, not in) <
// + - < ~ < * / // % < ** < unary - + < primary with postfix (.attr, [i],
// [a:b:c], call) and then filters (|f) and tests (is t).

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/jinja/ast.h"
#include "runtime/jinja/lexer.h"

#define JRETURN_IF_ERROR(expr) \
  do {                         \
    absl::Status _s = (expr);  \
    if (!_s.ok()) return _s;   \
  } while (0)
#define JASSIGN(lhs, expr)                 \
  auto lhs##_or = (expr);                  \
  if (!lhs##_or.ok()) return lhs##_or.status(); \
  auto lhs = std::move(*lhs##_or)

namespace triptych::jinja {
namespace {

class Parser {
 public:
  Parser(std::vector<Token> tokens, const ParseLimits& limits)
      : t_(std::move(tokens)), limits_(limits) {}

  absl::StatusOr<NodeList> ParseAll() {
    JASSIGN(body, ParseBody({}));
    if (Peek().type != Tok::kEnd) return Err("unexpected tag");
    return body;
  }

 private:
  const Token& Peek(size_t k = 0) const { return t_[std::min(pos_ + k, t_.size() - 1)]; }
  const Token& Next() { return t_[std::min(pos_++, t_.size() - 1)]; }
  bool IsOp(const std::string& op, size_t k = 0) const { return Peek(k).type == Tok::kOp && Peek(k).text == op; }
  bool IsName(std::string_view n, size_t k = 0) const { return Peek(k).type == Tok::kName && Peek(k).text == n; }
  bool SkipOp(const std::string& op) {
    if (!IsOp(op)) return false;
    ++pos_;
    return true;
  }
  bool SkipName(std::string_view n) {
    if (!IsName(n)) return false;
    ++pos_;
    return true;
  }
  absl::Status Err(const std::string& msg) const {
    const Token& tok = Peek();
    std::string got = tok.type == Tok::kEnd ? "end of template"
                      : tok.type == Tok::kBlockEnd ? "'%}'"
                      : tok.type == Tok::kVarEnd ? "'}}'"
                      : tok.text.empty() ? "a literal" : absl::StrCat("'", tok.text, "'");
    return absl::InvalidArgumentError(
        absl::StrCat("template syntax error at line ", tok.line, ": ", msg, " (found ", got, ")"));
  }
  absl::Status ExpectOp(const std::string& op) {
    if (!SkipOp(op)) return Err(absl::StrCat("expected '", op, "'"));
    return absl::OkStatus();
  }
  absl::Status ExpectBlockEnd() {
    if (Peek().type != Tok::kBlockEnd) return Err("expected end of tag '%}'");
    ++pos_;
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> ExpectName() {
    if (Peek().type != Tok::kName) return Err("expected a name");
    return Next().text;
  }
  NodePtr Make(NodeKind kind) {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->line = Peek().line;
    return n;
  }
  struct DepthGuard {
    explicit DepthGuard(int* d) : d(d) { ++*d; }
    ~DepthGuard() { --*d; }
    int* d;
  };
  absl::Status CheckDepth() {
    if (depth_ > limits_.max_depth) return Err("template nested too deeply");
    return absl::OkStatus();
  }

  // Statements until a tag whose first name is in `ends` (not consumed).
  absl::StatusOr<NodeList> ParseBody(std::initializer_list<std::string_view> ends) {
    DepthGuard g(&depth_);
    JRETURN_IF_ERROR(CheckDepth());
    NodeList body;
    while (true) {
      const Token& tok = Peek();
      if (tok.type == Tok::kEnd) {
        if (ends.size() != 0) return Err(absl::StrCat("missing '", std::string(*ends.begin()), "'"));
        return body;
      }
      if (tok.type == Tok::kText) {
        auto n = Make(NodeKind::kText);
        n->str = Next().text;
        body.push_back(std::move(n));
        continue;
      }
      if (tok.type == Tok::kVarBegin) {
        ++pos_;
        auto n = Make(NodeKind::kOutput);
        JASSIGN(e, ParseTuple(true));
        n->a = std::move(e);
        if (Peek().type != Tok::kVarEnd) return Err("expected end of print statement '}}'");
        ++pos_;
        body.push_back(std::move(n));
        continue;
      }
      if (tok.type != Tok::kBlockBegin) return Err("unexpected token");
      const Token& name = Peek(1);
      if (name.type != Tok::kName) {
        ++pos_;
        return Err("expected a tag name");
      }
      for (std::string_view e : ends)
        if (name.text == e) return body;
      pos_ += 2;
      JASSIGN(stmt, ParseStatement(name.text));
      if (stmt) body.push_back(std::move(stmt));
    }
  }

  absl::StatusOr<NodePtr> ParseStatement(const std::string& name) {
    if (name == "if") return ParseIf();
    if (name == "for") return ParseFor();
    if (name == "set") return ParseSet();
    if (name == "macro") return ParseMacro();
    if (name == "call") return ParseCallBlock();
    if (name == "filter") return ParseFilterBlock();
    if (name == "break" || name == "continue") {
      auto n = Make(name == "break" ? NodeKind::kBreak : NodeKind::kContinue);
      if (loop_depth_ == 0) return Err(absl::StrCat("'", name, "' outside a loop"));
      JRETURN_IF_ERROR(ExpectBlockEnd());
      return n;
    }
    if (name == "generation") {  // transformers' AssistantTracker: renders its body.
      JRETURN_IF_ERROR(ExpectBlockEnd());
      auto n = Make(NodeKind::kFilterBlock);
      JASSIGN(body, ParseBody({"endgeneration"}));
      n->body = std::move(body);
      pos_ += 2;
      JRETURN_IF_ERROR(ExpectBlockEnd());
      return n;
    }
    --pos_;
    return Err(absl::StrCat("unknown or unsupported tag '", name, "'"));
  }

  absl::Status EndTag(const std::string& end) {
    if (!IsName(end, 1)) return Err(absl::StrCat("expected '", end, "'"));
    pos_ += 2;
    return ExpectBlockEnd();
  }

  absl::StatusOr<NodePtr> ParseIf() {
    auto n = Make(NodeKind::kIf);
    while (true) {
      JASSIGN(cond, ParseTuple(false));
      JRETURN_IF_ERROR(ExpectBlockEnd());
      JASSIGN(body, ParseBody({"elif", "else", "endif"}));
      n->list.push_back(std::move(cond));
      n->bodies.push_back(std::move(body));
      const std::string tag = Peek(1).text;
      pos_ += 2;
      if (tag == "elif") continue;
      if (tag == "else") {
        JRETURN_IF_ERROR(ExpectBlockEnd());
        JASSIGN(else_body, ParseBody({"endif"}));
        n->else_body = std::move(else_body);
        pos_ += 2;
      }
      JRETURN_IF_ERROR(ExpectBlockEnd());
      return n;
    }
  }

  absl::StatusOr<NodePtr> ParseFor() {
    auto n = Make(NodeKind::kFor);
    do {
      JASSIGN(target, ExpectName());
      n->names.push_back(target);
    } while (SkipOp(","));
    if (!SkipName("in")) return Err("expected 'in' in for loop");
    JASSIGN(iter, ParseTuple(false, /*with_condexpr=*/false));
    n->a = std::move(iter);
    if (SkipName("if")) {
      JASSIGN(filter, ParseExpression(true));
      n->b = std::move(filter);
    }
    if (SkipName("recursive")) return Err("recursive loops are not supported");
    JRETURN_IF_ERROR(ExpectBlockEnd());
    ++loop_depth_;
    JASSIGN(body, ParseBody({"else", "endfor"}));
    --loop_depth_;
    n->body = std::move(body);
    if (IsName("else", 1)) {
      pos_ += 2;
      JRETURN_IF_ERROR(ExpectBlockEnd());
      JASSIGN(else_body, ParseBody({"endfor"}));
      n->else_body = std::move(else_body);
    }
    JRETURN_IF_ERROR(EndTag("endfor"));
    return n;
  }

  absl::StatusOr<NodePtr> ParseSet() {
    JASSIGN(first, ExpectName());
    if (Peek().type == Tok::kBlockEnd || IsOp("|")) {
      auto n = Make(NodeKind::kSetBlock);
      n->names.push_back(first);
      while (SkipOp("|")) {
        JASSIGN(f, ParseFilter(nullptr));
        n->list.push_back(std::move(f));
      }
      JRETURN_IF_ERROR(ExpectBlockEnd());
      const int saved = loop_depth_;
      loop_depth_ = 0;
      JASSIGN(body, ParseBody({"endset"}));
      loop_depth_ = saved;
      n->body = std::move(body);
      JRETURN_IF_ERROR(EndTag("endset"));
      return n;
    }
    auto n = Make(NodeKind::kSet);
    if (SkipOp(".")) {
      JASSIGN(attr, ExpectName());
      auto target = Make(NodeKind::kAttr);
      target->a = Make(NodeKind::kName);
      target->a->str = first;
      target->str = attr;
      n->a = std::move(target);
    } else {
      n->names.push_back(first);
      while (SkipOp(",")) {
        JASSIGN(more, ExpectName());
        n->names.push_back(more);
      }
    }
    JRETURN_IF_ERROR(ExpectOp("="));
    JASSIGN(value, ParseTuple(false));
    n->b = std::move(value);
    JRETURN_IF_ERROR(ExpectBlockEnd());
    return n;
  }

  absl::Status ParseParams(Node* n) {
    JRETURN_IF_ERROR(ExpectOp("("));
    while (!IsOp(")")) {
      if (!n->names.empty()) JRETURN_IF_ERROR(ExpectOp(","));
      if (IsOp(")")) break;
      JASSIGN(param, ExpectName());
      n->names.push_back(param);
      if (SkipOp("=")) {
        JASSIGN(def, ParseExpression(true));
        n->list.push_back(std::move(def));
      } else {
        n->list.push_back(nullptr);
      }
    }
    return ExpectOp(")");
  }

  absl::StatusOr<NodePtr> ParseMacro() {
    auto n = Make(NodeKind::kMacro);
    JASSIGN(name, ExpectName());
    n->str = name;
    JRETURN_IF_ERROR(ParseParams(n.get()));
    JRETURN_IF_ERROR(ExpectBlockEnd());
    const int saved = loop_depth_;
    loop_depth_ = 0;
    JASSIGN(body, ParseBody({"endmacro"}));
    loop_depth_ = saved;
    n->body = std::move(body);
    JRETURN_IF_ERROR(EndTag("endmacro"));
    return n;
  }

  absl::StatusOr<NodePtr> ParseCallBlock() {
    auto n = Make(NodeKind::kCallBlock);
    if (IsOp("(")) JRETURN_IF_ERROR(ParseParams(n.get()));
    JASSIGN(call, ParseExpression(true));
    if (call->kind != NodeKind::kCall) return Err("expected a call in 'call' tag");
    n->a = std::move(call);
    JRETURN_IF_ERROR(ExpectBlockEnd());
    const int saved = loop_depth_;
    loop_depth_ = 0;
    JASSIGN(body, ParseBody({"endcall"}));
    loop_depth_ = saved;
    n->body = std::move(body);
    JRETURN_IF_ERROR(EndTag("endcall"));
    return n;
  }

  absl::StatusOr<NodePtr> ParseFilterBlock() {
    auto n = Make(NodeKind::kFilterBlock);
    do {
      JASSIGN(f, ParseFilter(nullptr));
      n->list.push_back(std::move(f));
    } while (SkipOp("|"));
    JRETURN_IF_ERROR(ExpectBlockEnd());
    JASSIGN(body, ParseBody({"endfilter"}));
    n->body = std::move(body);
    JRETURN_IF_ERROR(EndTag("endfilter"));
    return n;
  }

  // ---- expressions ----
  absl::StatusOr<NodePtr> ParseTuple(bool allow_empty_end, bool with_condexpr = true) {
    (void)allow_empty_end;
    JASSIGN(first, ParseExpression(with_condexpr));
    if (!IsOp(",")) return first;
    auto t = Make(NodeKind::kTuple);
    t->list.push_back(std::move(first));
    while (SkipOp(",")) {
      if (Peek().type == Tok::kBlockEnd || Peek().type == Tok::kVarEnd || IsOp(")") || IsName("in")) break;
      JASSIGN(e, ParseExpression(with_condexpr));
      t->list.push_back(std::move(e));
    }
    return t;
  }

  absl::StatusOr<NodePtr> ParseExpression(bool with_condexpr) {
    DepthGuard g(&depth_);
    JRETURN_IF_ERROR(CheckDepth());
    if (!with_condexpr) return ParseOr();
    JASSIGN(expr, ParseOr());
    while (SkipName("if")) {
      auto n = Make(NodeKind::kCondExpr);
      JASSIGN(cond, ParseOr());
      n->a = std::move(cond);
      n->b = std::move(expr);
      if (SkipName("else")) {
        JASSIGN(other, ParseExpression(true));
        n->c = std::move(other);
      }
      expr = std::move(n);
    }
    return expr;
  }

  absl::StatusOr<NodePtr> Binary(std::string op, NodePtr a, NodePtr b) {
    auto n = Make(NodeKind::kBinary);
    n->str = std::move(op);
    n->a = std::move(a);
    n->b = std::move(b);
    return n;
  }

  absl::StatusOr<NodePtr> ParseOr() {
    JASSIGN(left, ParseAnd());
    while (SkipName("or")) {
      JASSIGN(right, ParseAnd());
      JASSIGN(n, Binary("or", std::move(left), std::move(right)));
      left = std::move(n);
    }
    return left;
  }
  absl::StatusOr<NodePtr> ParseAnd() {
    JASSIGN(left, ParseNot());
    while (SkipName("and")) {
      JASSIGN(right, ParseNot());
      JASSIGN(n, Binary("and", std::move(left), std::move(right)));
      left = std::move(n);
    }
    return left;
  }
  absl::StatusOr<NodePtr> ParseNot() {
    if (IsName("not")) {
      DepthGuard g(&depth_);
      JRETURN_IF_ERROR(CheckDepth());
      ++pos_;
      auto n = Make(NodeKind::kUnary);
      n->str = "not";
      JASSIGN(operand, ParseNot());
      n->a = std::move(operand);
      return n;
    }
    return ParseCompare();
  }
  absl::StatusOr<NodePtr> ParseCompare() {
    JASSIGN(left, ParseMath1());
    NodePtr n;
    while (true) {
      std::string op;
      if (Peek().type == Tok::kOp &&
          (IsOp("==") || IsOp("!=") || IsOp("<") || IsOp(">") || IsOp("<=") || IsOp(">="))) {
        op = Next().text;
      } else if (IsName("in")) {
        ++pos_;
        op = "in";
      } else if (IsName("not") && IsName("in", 1)) {
        pos_ += 2;
        op = "not in";
      } else {
        break;
      }
      if (!n) {
        n = Make(NodeKind::kCompare);
        n->a = std::move(left);
      }
      JASSIGN(right, ParseMath1());
      n->ops.push_back(op);
      n->list.push_back(std::move(right));
    }
    if (n) return n;
    return left;
  }
  absl::StatusOr<NodePtr> ParseMath1() {
    JASSIGN(left, ParseConcat());
    while (IsOp("+") || IsOp("-")) {
      std::string op = Next().text;
      JASSIGN(right, ParseConcat());
      JASSIGN(n, Binary(op, std::move(left), std::move(right)));
      left = std::move(n);
    }
    return left;
  }
  absl::StatusOr<NodePtr> ParseConcat() {
    JASSIGN(left, ParseMath2());
    while (SkipOp("~")) {
      JASSIGN(right, ParseMath2());
      JASSIGN(n, Binary("~", std::move(left), std::move(right)));
      left = std::move(n);
    }
    return left;
  }
  absl::StatusOr<NodePtr> ParseMath2() {
    JASSIGN(left, ParsePow());
    while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
      std::string op = Next().text;
      JASSIGN(right, ParsePow());
      JASSIGN(n, Binary(op, std::move(left), std::move(right)));
      left = std::move(n);
    }
    return left;
  }
  absl::StatusOr<NodePtr> ParsePow() {
    JASSIGN(left, ParseUnary(true));
    while (SkipOp("**")) {
      JASSIGN(right, ParseUnary(true));
      JASSIGN(n, Binary("**", std::move(left), std::move(right)));
      left = std::move(n);
    }
    return left;
  }
  absl::StatusOr<NodePtr> ParseUnary(bool with_filter) {
    DepthGuard g(&depth_);
    JRETURN_IF_ERROR(CheckDepth());
    NodePtr node;
    if (IsOp("-") || IsOp("+")) {
      node = Make(NodeKind::kUnary);
      node->str = Next().text;
      JASSIGN(operand, ParseUnary(false));
      node->a = std::move(operand);
    } else {
      JASSIGN(primary, ParsePrimary());
      node = std::move(primary);
    }
    JASSIGN(post, ParsePostfix(std::move(node)));
    node = std::move(post);
    if (!with_filter) return node;
    while (true) {
      if (SkipOp("|")) {
        JASSIGN(f, ParseFilter(std::move(node)));
        node = std::move(f);
      } else if (IsName("is")) {
        ++pos_;
        JASSIGN(t, ParseTest(std::move(node)));
        node = std::move(t);
      } else if (IsOp("(")) {
        JASSIGN(c, ParseCall(std::move(node)));
        node = std::move(c);
      } else {
        return node;
      }
    }
  }
  absl::StatusOr<NodePtr> ParsePrimary() {
    const Token& tok = Peek();
    if (tok.type == Tok::kName) {
      ++pos_;
      auto n = Make(NodeKind::kLiteral);
      if (tok.text == "true" || tok.text == "True") n->value = Value::Bool(true);
      else if (tok.text == "false" || tok.text == "False") n->value = Value::Bool(false);
      else if (tok.text == "none" || tok.text == "None") n->value = Value::None();
      else {
        n->kind = NodeKind::kName;
        n->str = tok.text;
      }
      return n;
    }
    if (tok.type == Tok::kString) {
      auto n = Make(NodeKind::kLiteral);
      std::string s;
      while (Peek().type == Tok::kString) s += Next().value.str();
      n->value = Value::String(std::move(s));
      return n;
    }
    if (tok.type == Tok::kInt || tok.type == Tok::kFloat) {
      auto n = Make(NodeKind::kLiteral);
      n->value = Next().value;
      return n;
    }
    if (SkipOp("(")) {
      if (SkipOp(")")) return Make(NodeKind::kTuple);
      JASSIGN(first, ParseExpression(true));
      if (SkipOp(")")) return first;
      auto t = Make(NodeKind::kTuple);
      t->list.push_back(std::move(first));
      while (SkipOp(",")) {
        if (IsOp(")")) break;
        JASSIGN(e, ParseExpression(true));
        t->list.push_back(std::move(e));
      }
      JRETURN_IF_ERROR(ExpectOp(")"));
      return t;
    }
    if (SkipOp("[")) {
      auto n = Make(NodeKind::kList);
      while (!IsOp("]")) {
        if (!n->list.empty()) JRETURN_IF_ERROR(ExpectOp(","));
        if (IsOp("]")) break;
        JASSIGN(e, ParseExpression(true));
        n->list.push_back(std::move(e));
      }
      ++pos_;
      return n;
    }
    if (SkipOp("{")) {
      auto n = Make(NodeKind::kDict);
      while (!IsOp("}")) {
        if (!n->list.empty()) JRETURN_IF_ERROR(ExpectOp(","));
        if (IsOp("}")) break;
        JASSIGN(k, ParseExpression(true));
        JRETURN_IF_ERROR(ExpectOp(":"));
        JASSIGN(v, ParseExpression(true));
        n->list.push_back(std::move(k));
        n->list.push_back(std::move(v));
      }
      ++pos_;
      return n;
    }
    return Err("expected an expression");
  }
  absl::StatusOr<NodePtr> ParsePostfix(NodePtr node) {
    while (true) {
      if (SkipOp(".")) {
        if (Peek().type == Tok::kInt) {
          auto n = Make(NodeKind::kItem);
          n->a = std::move(node);
          n->b = Make(NodeKind::kLiteral);
          n->b->value = Next().value;
          node = std::move(n);
          continue;
        }
        JASSIGN(attr, ExpectName());
        auto n = Make(NodeKind::kAttr);
        n->a = std::move(node);
        n->str = attr;
        node = std::move(n);
      } else if (SkipOp("[")) {
        auto parts = std::array<NodePtr, 3>{};
        bool is_slice = false;
        for (int i = 0; i < 3; ++i) {
          if (!IsOp(":") && !IsOp("]")) {
            JASSIGN(e, ParseExpression(true));
            parts[i] = std::move(e);
          }
          if (!SkipOp(":")) break;
          is_slice = true;
        }
        JRETURN_IF_ERROR(ExpectOp("]"));
        if (!is_slice && !parts[0]) return Err("expected a subscript");
        auto n = Make(is_slice ? NodeKind::kSlice : NodeKind::kItem);
        n->a = std::move(node);
        n->b = std::move(parts[0]);
        n->c = std::move(parts[1]);
        n->d = std::move(parts[2]);
        node = std::move(n);
      } else if (IsOp("(")) {
        JASSIGN(c, ParseCall(std::move(node)));
        node = std::move(c);
      } else {
        return node;
      }
    }
  }
  absl::Status ParseArgs(Node* n) {
    JRETURN_IF_ERROR(ExpectOp("("));
    bool first = true;
    while (!IsOp(")")) {
      if (!first) JRETURN_IF_ERROR(ExpectOp(","));
      first = false;
      if (IsOp(")")) break;
      if (Peek().type == Tok::kName && IsOp("=", 1)) {
        n->kwnames.push_back(Next().text);
        ++pos_;
        JASSIGN(v, ParseExpression(true));
        n->kwvalues.push_back(std::move(v));
      } else {
        if (!n->kwnames.empty()) return Err("positional argument after keyword argument");
        JASSIGN(v, ParseExpression(true));
        n->list.push_back(std::move(v));
      }
    }
    ++pos_;
    return absl::OkStatus();
  }
  absl::StatusOr<NodePtr> ParseCall(NodePtr callee) {
    auto n = Make(NodeKind::kCall);
    n->a = std::move(callee);
    JRETURN_IF_ERROR(ParseArgs(n.get()));
    return n;
  }
  absl::StatusOr<NodePtr> ParseFilter(NodePtr operand) {
    auto n = Make(NodeKind::kFilter);
    JASSIGN(name, ExpectName());
    n->str = name;
    n->a = std::move(operand);
    if (IsOp("(")) JRETURN_IF_ERROR(ParseArgs(n.get()));
    return n;
  }
  absl::StatusOr<NodePtr> ParseTest(NodePtr operand) {
    auto n = Make(NodeKind::kTest);
    n->negated = SkipName("not");
    JASSIGN(name, ExpectName());
    n->str = name;
    n->a = std::move(operand);
    if (IsOp("(")) {
      JRETURN_IF_ERROR(ParseArgs(n.get()));
    } else {
      const Token& tok = Peek();
      const bool arg_start = tok.type == Tok::kString || tok.type == Tok::kInt || tok.type == Tok::kFloat ||
                             IsOp("[") || IsOp("{") ||
                             (tok.type == Tok::kName && tok.text != "else" && tok.text != "or" &&
                              tok.text != "and" && tok.text != "if" && tok.text != "is" && tok.text != "in" &&
                              tok.text != "not");
      if (arg_start) {
        JASSIGN(p, ParsePrimary());
        JASSIGN(arg, ParsePostfix(std::move(p)));
        n->list.push_back(std::move(arg));
      }
    }
    return n;
  }

  std::vector<Token> t_;
  ParseLimits limits_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

absl::StatusOr<NodeList> ParseTemplate(std::string_view source, const ParseLimits& limits) {
  if (source.size() > limits.max_template_bytes)
    return absl::InvalidArgumentError(absl::StrCat("template is larger than ", limits.max_template_bytes, " bytes"));
  auto tokens = Lex(source);
  if (!tokens.ok()) return tokens.status();
  return Parser(std::move(*tokens), limits).ParseAll();
}

}  // namespace triptych::jinja
