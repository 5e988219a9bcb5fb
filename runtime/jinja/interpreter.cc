#include "runtime/jinja/interpreter.h"

#include <cmath>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace triptych::jinja {

absl::Status TypeError(const std::string& msg) { return absl::InvalidArgumentError(msg); }

std::string TypeName(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return "undefined";
    case Value::Kind::kNone: return "NoneType";
    case Value::Kind::kBool: return "bool";
    case Value::Kind::kInt: return "int";
    case Value::Kind::kFloat: return "float";
    case Value::Kind::kString: return "str";
    case Value::Kind::kList: return "list";
    case Value::Kind::kDict: return "dict";
    case Value::Kind::kNamespace: return "Namespace";
    case Value::Kind::kCallable: return "function";
  }
  return "object";
}

absl::StatusOr<bool> Contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::kUndefined: return false;
    case Value::Kind::kString:
      if (!item.is_string()) return TypeError(absl::StrCat("'in <string>' requires string as left operand, not ", TypeName(item)));
      return absl::StrContains(container.str(), item.str());
    case Value::Kind::kList:
      for (const Value& e : container.list())
        if (Equals(e, item)) return true;
      return false;
    case Value::Kind::kDict:
    case Value::Kind::kNamespace:
      return item.is_string() && container.dict().Find(item.str()) != nullptr;
    default: return TypeError(absl::StrCat("argument of type '", TypeName(container), "' is not iterable"));
  }
}

absl::StatusOr<std::vector<Value>> Iterate(const Value& v) {
  std::vector<Value> out;
  switch (v.kind()) {
    case Value::Kind::kUndefined: return out;
    case Value::Kind::kList: return v.list();
    case Value::Kind::kDict:
      for (const auto& [k, e] : v.dict().items()) out.push_back(KeyString(v.dict(), k));
      return out;
    case Value::Kind::kString: {
      const auto offs = CodePointOffsets(v.str());
      for (size_t i = 0; i + 1 < offs.size(); ++i) out.push_back(Substring(v, offs[i], offs[i + 1]));
      return out;
    }
    default: return TypeError(absl::StrCat("'", TypeName(v), "' object is not iterable"));
  }
}

Interpreter::Interpreter(const Limits& limits, const RenderOptions& options, const Value& context)
    : limits_(limits), options_(options), context_(context) {}

absl::Status Interpreter::Step() {
  if (++steps_ > limits_.max_steps)
    return absl::InvalidArgumentError(absl::StrCat("template exceeded ", limits_.max_steps, " evaluation steps"));
  return absl::OkStatus();
}

absl::Status Interpreter::CheckSize(size_t bytes) const {
  if (bytes > limits_.max_output_bytes)
    return absl::InvalidArgumentError(absl::StrCat("template output or a value exceeds ", limits_.max_output_bytes, " bytes"));
  return absl::OkStatus();
}

absl::Status Interpreter::Append(TextBuilder* out, std::string_view text) const {
  if (auto s = CheckSize(out->size() + text.size()); !s.ok()) return s;
  out->Append(text);
  return absl::OkStatus();
}

absl::Status Interpreter::AppendValue(TextBuilder* out, const Value& v) const {
  if (v.is_string()) {
    if (auto s = CheckSize(out->size() + v.str().size()); !s.ok()) return s;
    out->AppendValue(v);
    return absl::OkStatus();
  }
  const std::string printed = ToPythonString(v);
  if (auto s = CheckSize(out->size() + printed.size()); !s.ok()) return s;
  if (ContainsUntrusted(v)) out->AppendUntrusted(printed);
  else out->Append(printed);
  return absl::OkStatus();
}

absl::Status Interpreter::WithLine(const Node& n, absl::Status s) const {
  if (s.ok()) return s;
  const std::string msg(s.message());
  if (absl::StartsWith(msg, "template ") || absl::StartsWith(msg, "raise_exception")) return s;
  return absl::Status(s.code(), absl::StrCat("template error at line ", n.line, ": ", msg));
}

absl::StatusOr<std::string> Interpreter::RenderRoot(const NodeList& root) {
  auto r = RenderRootWithProvenance(root);
  if (!r.ok()) return r.status();
  return std::move(r->text);
}

absl::StatusOr<RenderedText> Interpreter::RenderRootWithProvenance(const NodeList& root) {
  auto scope = std::make_shared<Scope>();
  TextBuilder out;
  auto flow = Exec(root, scope, &out);
  if (!flow.ok()) return flow.status();
  RenderedText r;
  r.text = out.TakeText(&r.untrusted);
  return r;
}

Value Interpreter::Lookup(const std::string& name, const ScopePtr& scope) const {
  for (const Scope* s = scope.get(); s != nullptr; s = s->parent.get()) {
    auto it = s->vars.find(name);
    if (it != s->vars.end()) return it->second;
  }
  if (context_.is_dict()) {
    if (const Value* v = context_.dict().Find(name)) return *v;
  }
  return const_cast<Interpreter*>(this)->GlobalFunction(name);
}

absl::StatusOr<Interpreter::Flow> Interpreter::Exec(const NodeList& body, const ScopePtr& scope, TextBuilder* out) {
  for (const NodePtr& n : body) {
    auto flow = ExecNode(*n, scope, out);
    if (!flow.ok()) return WithLine(*n, flow.status());
    if (*flow != Flow::kNormal) return flow;
  }
  return Flow::kNormal;
}

absl::StatusOr<Interpreter::Flow> Interpreter::ExecNode(const Node& n, const ScopePtr& scope, TextBuilder* out) {
  if (auto s = Step(); !s.ok()) return s;
  switch (n.kind) {
    case NodeKind::kText:
      if (auto s = Append(out, n.str); !s.ok()) return s;
      return Flow::kNormal;
    case NodeKind::kOutput: {
      auto v = Eval(*n.a, scope);
      if (!v.ok()) return v.status();
      if (auto s = AppendValue(out, *v); !s.ok()) return s;
      return Flow::kNormal;
    }
    case NodeKind::kIf:
      for (size_t i = 0; i < n.list.size(); ++i) {
        auto c = Eval(*n.list[i], scope);
        if (!c.ok()) return c.status();
        if (c->Truthy()) return Exec(n.bodies[i], scope, out);
      }
      return Exec(n.else_body, scope, out);
    case NodeKind::kFor: return ExecFor(n, scope, out);
    case NodeKind::kSet:
      if (auto s = ExecSet(n, scope); !s.ok()) return s;
      return Flow::kNormal;
    case NodeKind::kSetBlock: {
      TextBuilder captured;
      auto flow = Exec(n.body, scope, &captured);
      if (!flow.ok()) return flow.status();
      auto v = ApplyFilterNodes(n.list, captured.TakeValue(), scope);
      if (!v.ok()) return v.status();
      scope->vars[n.names[0]] = std::move(*v);
      return Flow::kNormal;
    }
    case NodeKind::kFilterBlock: {
      TextBuilder captured;
      auto flow = Exec(n.body, scope, &captured);
      if (!flow.ok()) return flow.status();
      auto v = ApplyFilterNodes(n.list, captured.TakeValue(), scope);
      if (!v.ok()) return v.status();
      if (auto s = AppendValue(out, *v); !s.ok()) return s;
      return Flow::kNormal;
    }
    case NodeKind::kMacro:
      scope->vars[n.str] = MakeMacro(n, scope);
      return Flow::kNormal;
    case NodeKind::kCallBlock: {
      Value caller = MakeMacro(n, scope);
      CallArgs args;
      if (auto s = EvalArgs(*n.a, scope, &args); !s.ok()) return s;
      args.keyword.emplace_back("caller", caller);
      auto callee = Eval(*n.a->a, scope);
      if (!callee.ok()) return callee.status();
      auto v = Call(*callee, args);
      if (!v.ok()) return v.status();
      if (auto s = AppendValue(out, *v); !s.ok()) return s;
      return Flow::kNormal;
    }
    case NodeKind::kBreak: return Flow::kBreak;
    case NodeKind::kContinue: return Flow::kContinue;
    default: return absl::InternalError("expression used as a statement");
  }
}

absl::StatusOr<Interpreter::Flow> Interpreter::ExecFor(const Node& n, const ScopePtr& scope, TextBuilder* out) {
  auto iterable = Eval(*n.a, scope);
  if (!iterable.ok()) return iterable.status();
  if (iterable->is_dict() && n.names.size() == 1) {
    // Iterating a dict yields its keys.
  }
  auto items_or = Iterate(*iterable);
  if (!items_or.ok()) return items_or.status();
  std::vector<Value> items = std::move(*items_or);
  auto bind = [&](const ScopePtr& s, const Value& item) -> absl::Status {
    if (n.names.size() == 1) {
      s->vars[n.names[0]] = item;
      return absl::OkStatus();
    }
    auto parts = Iterate(item);
    if (!parts.ok()) return parts.status();
    if (parts->size() != n.names.size())
      return TypeError(absl::StrCat("cannot unpack ", parts->size(), " values into ", n.names.size(), " names"));
    for (size_t i = 0; i < n.names.size(); ++i) s->vars[n.names[i]] = (*parts)[i];
    return absl::OkStatus();
  };
  if (n.b) {
    std::vector<Value> kept;
    for (const Value& item : items) {
      auto s = std::make_shared<Scope>();
      s->parent = scope;
      if (auto st = bind(s, item); !st.ok()) return st;
      auto c = Eval(*n.b, s);
      if (!c.ok()) return c.status();
      if (c->Truthy()) kept.push_back(item);
    }
    items = std::move(kept);
  }
  if (items.empty()) return Exec(n.else_body, scope, out);
  const int64_t len = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < len; ++i) {
    auto s = std::make_shared<Scope>();
    s->parent = scope;
    if (auto st = bind(s, items[i]); !st.ok()) return st;
    Value loop = Value::NewDict();
    Dict& d = loop.dict();
    d.Set("index", Value::Int(i + 1));
    d.Set("index0", Value::Int(i));
    d.Set("revindex", Value::Int(len - i));
    d.Set("revindex0", Value::Int(len - i - 1));
    d.Set("first", Value::Bool(i == 0));
    d.Set("last", Value::Bool(i == len - 1));
    d.Set("length", Value::Int(len));
    d.Set("depth", Value::Int(1));
    d.Set("depth0", Value::Int(0));
    if (i > 0) d.Set("previtem", items[i - 1]);
    if (i + 1 < len) d.Set("nextitem", items[i + 1]);
    d.Set("cycle", Value::Callable("loop.cycle", [i](CallArgs& args) -> absl::StatusOr<Value> {
            if (args.positional.empty()) return TypeError("loop.cycle() needs at least one argument");
            return args.positional[i % args.positional.size()];
          }));
    s->vars["loop"] = std::move(loop);
    auto flow = Exec(n.body, s, out);
    if (!flow.ok()) return flow.status();
    if (*flow == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

absl::Status Interpreter::ExecSet(const Node& n, const ScopePtr& scope) {
  auto v = Eval(*n.b, scope);
  if (!v.ok()) return v.status();
  if (n.a) {  // ns.attr = value
    Value target = Lookup(n.a->a->str, scope);
    if (!target.is_namespace())
      return TypeError(absl::StrCat("cannot assign attribute on non-namespace object '", n.a->a->str, "'"));
    target.dict().Set(n.a->str, std::move(*v));
    return absl::OkStatus();
  }
  if (n.names.size() == 1) {
    scope->vars[n.names[0]] = std::move(*v);
    return absl::OkStatus();
  }
  auto parts = Iterate(*v);
  if (!parts.ok()) return parts.status();
  if (parts->size() != n.names.size())
    return TypeError(absl::StrCat("cannot unpack ", parts->size(), " values into ", n.names.size(), " names"));
  for (size_t i = 0; i < n.names.size(); ++i) scope->vars[n.names[i]] = (*parts)[i];
  return absl::OkStatus();
}

Value Interpreter::MakeMacro(const Node& n, const ScopePtr& scope) {
  const Node* node = &n;
  std::weak_ptr<Scope> weak = scope;
  return Value::Callable(n.kind == NodeKind::kMacro ? n.str : "caller", [this, node, weak](CallArgs& args) -> absl::StatusOr<Value> {
    ScopePtr defining = weak.lock();
    if (++call_depth_ > limits_.max_call_depth) {
      --call_depth_;
      return absl::InvalidArgumentError(absl::StrCat("template macro calls nested deeper than ", limits_.max_call_depth));
    }
    struct Exit {
      int* d;
      ~Exit() { --*d; }
    } exit{&call_depth_};
    auto s = std::make_shared<Scope>();
    s->parent = defining;
    const auto& params = node->names;
    if (args.positional.size() > params.size())
      return TypeError(absl::StrCat("macro '", node->str, "' takes not more than ", params.size(), " argument(s)"));
    for (size_t i = 0; i < args.positional.size(); ++i) s->vars[params[i]] = args.positional[i];
    for (auto& [k, v] : args.keyword) {
      bool known = k == "caller";
      for (const auto& p : params) known |= p == k;
      if (!known) return TypeError(absl::StrCat("macro '", node->str, "' has no argument '", k, "'"));
      s->vars[k] = v;
    }
    for (size_t i = 0; i < params.size(); ++i) {
      if (s->vars.contains(params[i])) continue;
      if (node->list[i]) {
        auto d = Eval(*node->list[i], s);
        if (!d.ok()) return d.status();
        s->vars[params[i]] = std::move(*d);
      } else {
        s->vars[params[i]] = Value();
      }
    }
    TextBuilder out;
    auto flow = Exec(node->body, s, &out);
    if (!flow.ok()) return flow.status();
    return out.TakeValue();
  });
}

absl::StatusOr<Value> Interpreter::Call(const Value& callee, CallArgs& args) {
  if (callee.is_undefined()) return TypeError("call of an undefined value");
  if (!callee.is_callable()) return TypeError(absl::StrCat("'", TypeName(callee), "' object is not callable"));
  return callee.function()(args);
}

absl::Status Interpreter::EvalArgs(const Node& n, const ScopePtr& scope, CallArgs* args) {
  for (const NodePtr& a : n.list) {
    auto v = Eval(*a, scope);
    if (!v.ok()) return v.status();
    args->positional.push_back(std::move(*v));
  }
  for (size_t i = 0; i < n.kwnames.size(); ++i) {
    auto v = Eval(*n.kwvalues[i], scope);
    if (!v.ok()) return v.status();
    args->keyword.emplace_back(n.kwnames[i], std::move(*v));
  }
  return absl::OkStatus();
}

absl::StatusOr<Value> Interpreter::ApplyFilterNodes(const NodeList& filters, Value v, const ScopePtr& scope) {
  for (const NodePtr& f : filters) {
    CallArgs args;
    if (auto s = EvalArgs(*f, scope, &args); !s.ok()) return s;
    auto r = ApplyFilter(f->str, v, args);
    if (!r.ok()) return r.status();
    v = std::move(*r);
  }
  return v;
}

absl::StatusOr<Value> Interpreter::Eval(const Node& n, const ScopePtr& scope) {
  if (auto s = Step(); !s.ok()) return s;
  if (++eval_depth_ > 4 * limits_.parse.max_depth + 64) {
    --eval_depth_;
    return absl::InvalidArgumentError("template expression nested too deeply");
  }
  auto v = EvalInner(n, scope);
  --eval_depth_;
  // Work is charged by size too: every value produced costs a step per 64
  // bytes of string (or per 8 list items), so a loop that builds
  // multi-megabyte values ends at max_steps (about 320 MB of strings)
  // instead of copying terabytes.
  if (v.ok() && (v->is_string() || v->is_list())) {
    steps_ += v->is_string() ? static_cast<int64_t>(v->str().size() >> 6)
                             : static_cast<int64_t>(v->list().size() >> 3);
    if (auto s = Step(); !s.ok()) return s;
  }
  return v;
}

namespace {

std::string Describe(const Node& n) {
  if (n.kind == NodeKind::kName) return n.str;
  if (n.kind == NodeKind::kAttr) return absl::StrCat(Describe(*n.a), ".", n.str);
  if (n.kind == NodeKind::kItem) return absl::StrCat(Describe(*n.a), "[...]");
  return "value";
}

absl::StatusOr<Value> Subscript(Interpreter& in, const Value& obj, const Value& key) {
  if (obj.is_dict() || obj.is_namespace()) {
    if (key.is_string()) {
      if (const Value* v = obj.dict().Find(key.str())) return *v;
      return in.GetMethod(obj, key.str());
    }
    return Value();
  }
  if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t i = key.int_value();
    if (obj.is_list()) {
      const int64_t size = static_cast<int64_t>(obj.list().size());
      if (i < 0) i += size;
      if (i < 0 || i >= size) return Value();
      return obj.list()[i];
    }
    const auto offs = CodePointOffsets(obj.str());
    const int64_t size = static_cast<int64_t>(offs.size()) - 1;
    if (i < 0) i += size;
    if (i < 0 || i >= size) return Value();
    return Substring(obj, offs[i], offs[i + 1]);
  }
  if (key.is_string()) return in.GetMethod(obj, key.str());
  return Value();
}

}  // namespace

absl::StatusOr<Value> Interpreter::EvalInner(const Node& n, const ScopePtr& scope) {
  switch (n.kind) {
    case NodeKind::kLiteral: return n.value;
    case NodeKind::kName: return Lookup(n.str, scope);
    case NodeKind::kAttr: {
      auto obj = Eval(*n.a, scope);
      if (!obj.ok()) return obj.status();
      if (obj->is_undefined()) return TypeError(absl::StrCat("'", Describe(*n.a), "' is undefined"));
      if (obj->is_dict()) {
        Value m = GetMethod(*obj, n.str);
        if (!m.is_undefined()) return m;
        if (const Value* v = obj->dict().Find(n.str)) return *v;
        return Value();
      }
      if (obj->is_namespace()) {
        if (const Value* v = obj->dict().Find(n.str)) return *v;
        return Value();
      }
      return GetMethod(*obj, n.str);
    }
    case NodeKind::kItem: {
      auto obj = Eval(*n.a, scope);
      if (!obj.ok()) return obj.status();
      if (obj->is_undefined()) return TypeError(absl::StrCat("'", Describe(*n.a), "' is undefined"));
      auto key = Eval(*n.b, scope);
      if (!key.ok()) return key.status();
      return Subscript(*this, *obj, *key);
    }
    case NodeKind::kSlice: {
      auto obj = Eval(*n.a, scope);
      if (!obj.ok()) return obj.status();
      if (obj->is_undefined()) return TypeError(absl::StrCat("'", Describe(*n.a), "' is undefined"));
      int64_t parts[3] = {0, 0, 1};
      bool given[3] = {false, false, false};
      const Node* nodes[3] = {n.b.get(), n.c.get(), n.d.get()};
      for (int i = 0; i < 3; ++i) {
        if (!nodes[i]) continue;
        auto v = Eval(*nodes[i], scope);
        if (!v.ok()) return v.status();
        if (v->is_none()) continue;
        if (!v->is_int()) return TypeError("slice indices must be integers or None");
        parts[i] = v->int_value();
        given[i] = true;
      }
      int64_t step = parts[2];
      if (step == 0) return TypeError("slice step cannot be zero");
      std::vector<size_t> offs;
      int64_t size;
      if (obj->is_list()) {
        size = static_cast<int64_t>(obj->list().size());
      } else if (obj->is_string()) {
        offs = CodePointOffsets(obj->str());
        size = static_cast<int64_t>(offs.size()) - 1;
      } else {
        return TypeError(absl::StrCat("'", TypeName(*obj), "' object is not subscriptable"));
      }
      auto norm = [&](int64_t v, bool is_given, int64_t dflt) {
        if (!is_given) return dflt;
        if (v < 0) v += size;
        if (step > 0) return std::clamp<int64_t>(v, 0, size);
        return std::clamp<int64_t>(v, -1, size - 1);
      };
      const int64_t start = norm(parts[0], given[0], step > 0 ? 0 : size - 1);
      const int64_t stop = norm(parts[1], given[1], step > 0 ? size : -1);
      std::vector<int64_t> idx;
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) idx.push_back(i);
      if (obj->is_list()) {
        std::vector<Value> out;
        for (int64_t i : idx) out.push_back(obj->list()[i]);
        return Value::ListOf(std::move(out));
      }
      TextBuilder out;
      if (step == 1) {
        if (start < stop) out.AppendSubstring(*obj, offs[start], offs[stop]);
      } else {
        for (int64_t i : idx) out.AppendSubstring(*obj, offs[i], offs[i + 1]);
      }
      return out.TakeValue();
    }
    case NodeKind::kCall: {
      CallArgs args;
      if (auto s = EvalArgs(n, scope, &args); !s.ok()) return s;
      auto callee = Eval(*n.a, scope);
      if (!callee.ok()) return callee.status();
      if (callee->is_undefined()) return TypeError(absl::StrCat("'", Describe(*n.a), "' is undefined"));
      return Call(*callee, args);
    }
    case NodeKind::kFilter: {
      auto v = Eval(*n.a, scope);
      if (!v.ok()) return v.status();
      CallArgs args;
      if (auto s = EvalArgs(n, scope, &args); !s.ok()) return s;
      return ApplyFilter(n.str, *v, args);
    }
    case NodeKind::kTest: {
      auto v = Eval(*n.a, scope);
      if (!v.ok()) return v.status();
      CallArgs args;
      if (auto s = EvalArgs(n, scope, &args); !s.ok()) return s;
      auto r = ApplyTest(n.str, *v, args);
      if (!r.ok()) return r.status();
      return Value::Bool(*r != n.negated);
    }
    case NodeKind::kUnary: {
      auto v = Eval(*n.a, scope);
      if (!v.ok()) return v.status();
      if (n.str == "not") return Value::Bool(!v->Truthy());
      if (v->is_float()) return Value::Float(n.str == "-" ? -v->float_value() : v->float_value());
      if (v->is_int() || v->is_bool()) {
        if (n.str == "-" && v->int_value() == INT64_MIN) return TypeError("integer overflow");
        return Value::Int(n.str == "-" ? -v->int_value() : v->int_value());
      }
      return TypeError(absl::StrCat("bad operand type for unary ", n.str, ": '", TypeName(*v), "'"));
    }
    case NodeKind::kBinary: return EvalBinary(n, scope);
    case NodeKind::kCompare: return EvalCompare(n, scope);
    case NodeKind::kCondExpr: {
      auto c = Eval(*n.a, scope);
      if (!c.ok()) return c.status();
      if (c->Truthy()) return Eval(*n.b, scope);
      if (n.c) return Eval(*n.c, scope);
      return Value();
    }
    case NodeKind::kList:
    case NodeKind::kTuple: {
      std::vector<Value> items;
      for (const NodePtr& e : n.list) {
        auto v = Eval(*e, scope);
        if (!v.ok()) return v.status();
        items.push_back(std::move(*v));
      }
      return Value::ListOf(std::move(items));
    }
    case NodeKind::kDict: {
      Value d = Value::NewDict();
      for (size_t i = 0; i + 1 < n.list.size(); i += 2) {
        auto k = Eval(*n.list[i], scope);
        if (!k.ok()) return k.status();
        auto v = Eval(*n.list[i + 1], scope);
        if (!v.ok()) return v.status();
        if (!k->is_string()) return TypeError("dict keys must be strings");
        if (k->has_untrusted()) d.dict().MarkUntrustedKeys();
        d.dict().Set(k->str(), std::move(*v));
      }
      return d;
    }
    default: return absl::InternalError("statement used as an expression");
  }
}

absl::StatusOr<Value> Interpreter::EvalBinary(const Node& n, const ScopePtr& scope) {
  auto a = Eval(*n.a, scope);
  if (!a.ok()) return a.status();
  const std::string& op = n.str;
  if (op == "and") return a->Truthy() ? Eval(*n.b, scope) : *a;
  if (op == "or") return a->Truthy() ? *a : Eval(*n.b, scope);
  auto b = Eval(*n.b, scope);
  if (!b.ok()) return b.status();
  if (op == "~") {
    TextBuilder out;
    out.AppendValue(*a);
    out.AppendValue(*b);
    if (auto st = CheckSize(out.size()); !st.ok()) return st;
    return out.TakeValue();
  }
  if (a->is_undefined()) return TypeError(absl::StrCat("'", Describe(*n.a), "' is undefined"));
  if (b->is_undefined()) return TypeError(absl::StrCat("'", Describe(*n.b), "' is undefined"));
  auto unsupported = [&]() {
    return TypeError(absl::StrCat("unsupported operand type(s) for ", op, ": '", TypeName(*a), "' and '", TypeName(*b), "'"));
  };
  if (op == "+") {
    if (a->is_string() && b->is_string()) {
      if (auto st = CheckSize(a->str().size() + b->str().size()); !st.ok()) return st;
      TextBuilder out;
      if (a->is_safe() || b->is_safe()) {  // markupsafe: the plain side is escaped.
        for (const Value* side : {&*a, &*b}) out.AppendValue(side->is_safe() ? *side : Derived(HtmlEscape(side->str()), {side}));
        Value joined = out.TakeValue();
        return Value::SafeString(joined.str()).WithUntrusted(joined.untrusted());
      }
      out.AppendValue(*a);
      out.AppendValue(*b);
      return out.TakeValue();
    }
    if (a->is_list() && b->is_list()) {
      std::vector<Value> items = a->list();
      items.insert(items.end(), b->list().begin(), b->list().end());
      if (auto st = CheckSize(items.size()); !st.ok()) return st;
      return Value::ListOf(std::move(items));
    }
  }
  if (op == "*" && ((a->is_string() || a->is_list()) && (b->is_int() || b->is_bool()))) {
    const int64_t times = std::max<int64_t>(0, b->int_value());
    const size_t unit = a->is_string() ? a->str().size() : a->list().size();
    if (unit != 0 && times > 0 && static_cast<uint64_t>(times) > limits_.max_output_bytes / unit)
      return CheckSize(limits_.max_output_bytes + 1);
    if (a->is_string()) {
      // By doubling: 'a' * 8000000 is about 46 appends, not 8 million
      // (ranges of untrusted text kept).
      TextBuilder out;
      Value chunk = *a;
      for (int64_t n = times; n > 0; n >>= 1) {
        if (n & 1) out.AppendValue(chunk);
        if (n > 1) {
          TextBuilder twice;
          twice.AppendValue(chunk);
          twice.AppendValue(chunk);
          chunk = twice.TakeValue();
        }
      }
      return out.TakeValue();
    }
    std::vector<Value> items;
    for (int64_t i = 0; i < times; ++i) items.insert(items.end(), a->list().begin(), a->list().end());
    return Value::ListOf(std::move(items));
  }
  if (!a->is_number() || !b->is_number()) return unsupported();
  const bool ints = !a->is_float() && !b->is_float();
  if (ints) {
    const int64_t x = a->int_value(), y = b->int_value();
    int64_t r;
    if (op == "+") {
      if (__builtin_add_overflow(x, y, &r)) return TypeError("integer overflow");
      return Value::Int(r);
    }
    if (op == "-") {
      if (__builtin_sub_overflow(x, y, &r)) return TypeError("integer overflow");
      return Value::Int(r);
    }
    if (op == "*") {
      if (__builtin_mul_overflow(x, y, &r)) return TypeError("integer overflow");
      return Value::Int(r);
    }
    if (op == "//" || op == "%") {
      if (y == 0) return TypeError("integer division or modulo by zero");
      if (x == INT64_MIN && y == -1) return TypeError("integer overflow");
      int64_t q = x / y, m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) {
        --q;
        m += y;
      }
      return Value::Int(op == "//" ? q : m);
    }
    if (op == "**" && y >= 0) {
      int64_t acc = 1;
      for (int64_t i = 0; i < y; ++i) {
        if (__builtin_mul_overflow(acc, x, &acc)) return TypeError("integer overflow");
        if (acc == 0 || acc == 1) break;
      }
      return Value::Int(acc);
    }
  }
  const double x = a->AsDouble(), y = b->AsDouble();
  if (op == "+") return Value::Float(x + y);
  if (op == "-") return Value::Float(x - y);
  if (op == "*") return Value::Float(x * y);
  if (op == "/") {
    if (y == 0) return TypeError("division by zero");
    return Value::Float(x / y);
  }
  if (op == "//") {
    if (y == 0) return TypeError("float floor division by zero");
    return Value::Float(std::floor(x / y));
  }
  if (op == "%") {
    if (y == 0) return TypeError("float modulo");
    double m = std::fmod(x, y);
    if (m != 0 && ((m < 0) != (y < 0))) m += y;
    return Value::Float(m);
  }
  if (op == "**") return Value::Float(std::pow(x, y));
  return unsupported();
}

absl::StatusOr<bool> Interpreter::Less(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (!a.is_float() && !b.is_float()) return a.int_value() < b.int_value();
    return a.AsDouble() < b.AsDouble();
  }
  if (a.is_string() && b.is_string()) return a.str() < b.str();
  if (a.is_list() && b.is_list()) {
    const auto& x = a.list();
    const auto& y = b.list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (Equals(x[i], y[i])) continue;
      return Less(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  return TypeError(absl::StrCat("'<' not supported between instances of '", TypeName(a), "' and '", TypeName(b), "'"));
}

absl::StatusOr<Value> Interpreter::EvalCompare(const Node& n, const ScopePtr& scope) {
  auto left = Eval(*n.a, scope);
  if (!left.ok()) return left.status();
  Value a = std::move(*left);
  for (size_t i = 0; i < n.ops.size(); ++i) {
    auto right = Eval(*n.list[i], scope);
    if (!right.ok()) return right.status();
    const Value& b = *right;
    const std::string& op = n.ops[i];
    absl::StatusOr<bool> r = false;
    if (op == "==") r = Equals(a, b);
    else if (op == "!=") r = !Equals(a, b);
    else if (op == "in") r = Contains(b, a);
    else if (op == "not in") {
      r = Contains(b, a);
      if (r.ok()) r = !*r;
    } else if (op == "<") r = Less(a, b);
    else if (op == ">") r = Less(b, a);
    else if (op == "<=") {
      r = Less(b, a);
      if (r.ok()) r = !*r;
    } else {
      r = Less(a, b);
      if (r.ok()) r = !*r;
    }
    if (!r.ok()) return r.status();
    if (!*r) return Value::Bool(false);
    a = b;
  }
  return Value::Bool(true);
}

}  // namespace triptych::jinja
