#include "runtime/grammar/json_schema.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "runtime/grammar/pattern.h"

namespace triptych::grammar {
namespace {

// ordered_json: properties keep the order the schema declares them in (the
// order the output lists them, as OpenAI's structured outputs do).
using json = nlohmann::ordered_json;
using Symbol = GrammarBuilder::Symbol;

ByteSet Range(int lo, int hi) {
  ByteSet s;
  for (int b = lo; b <= hi; ++b) s.set(b);
  return s;
}

// Compiles one schema document. Not thread-safe; one per compile.
class SchemaCompiler {
 public:
  explicit SchemaCompiler(const json& root) : root_(root) {}

  GrammarBuilder& builder() { return b_; }

  absl::StatusOr<int32_t> Compile(const json& schema, const std::string& path, int depth);
  int32_t AnyValue(int depth);
  int32_t AnyObject(int depth);
  absl::Status CheckSize() const {
    if (b_.size() > kMaxGrammarSymbols) {
      return absl::InvalidArgumentError("the schema is too large to compile");
    }
    return absl::OkStatus();
  }

 private:
  int32_t Literal(std::string_view text) {
    const int32_t r = b_.NewRule();
    std::vector<Symbol> seq;
    b_.AppendLiteral(text, &seq);
    b_.AddAlternative(r, std::move(seq));
    return r;
  }
  int32_t Char();
  int32_t String(int64_t min, int64_t max);
  int32_t Integer();
  int32_t Number();
  absl::StatusOr<int32_t> CompileType(const std::string& type, const json& schema,
                                      const std::string& path, int depth);
  absl::StatusOr<int32_t> CompileObject(const json& schema, const std::string& path, int depth);
  absl::StatusOr<int32_t> CompileArray(const json& schema, const std::string& path, int depth);
  absl::StatusOr<int32_t> CompileStringType(const json& schema, const std::string& path);
  absl::StatusOr<int32_t> Ref(const std::string& ref, const std::string& path, int depth);

  const json& root_;
  GrammarBuilder b_;
  int32_t char_ = -1, integer_ = -1, number_ = -1, any_string_ = -1;
  absl::flat_hash_map<int, int32_t> any_value_, any_object_;
  absl::flat_hash_map<std::string, int32_t> refs_;
};

int32_t SchemaCompiler::Char() {
  if (char_ >= 0) return char_;
  char_ = b_.NewRule();
  ByteSet plain = Range(0x20, 0x7f);
  plain.reset('"');
  plain.reset('\\');
  b_.AddAlternative(char_, {b_.Chars(plain)});
  const Symbol cont = b_.Chars(Range(0x80, 0xbf));
  b_.AddAlternative(char_, {b_.Chars(Range(0xc2, 0xdf)), cont});
  b_.AddAlternative(char_, {b_.Byte(0xe0), b_.Chars(Range(0xa0, 0xbf)), cont});
  ByteSet e1 = Range(0xe1, 0xef);
  e1.reset(0xed);
  b_.AddAlternative(char_, {b_.Chars(e1), cont, cont});
  b_.AddAlternative(char_, {b_.Byte(0xed), b_.Chars(Range(0x80, 0x9f)), cont});
  b_.AddAlternative(char_, {b_.Byte(0xf0), b_.Chars(Range(0x90, 0xbf)), cont, cont});
  b_.AddAlternative(char_, {b_.Chars(Range(0xf1, 0xf3)), cont, cont, cont});
  b_.AddAlternative(char_, {b_.Byte(0xf4), b_.Chars(Range(0x80, 0x8f)), cont, cont});
  // Escapes; \u never a surrogate (D800-DFFF), so one escape = one code point.
  ByteSet simple;
  for (char c : std::string("\"\\/bfnrt")) simple.set(static_cast<uint8_t>(c));
  ByteSet hex = Range('0', '9') | Range('a', 'f') | Range('A', 'F');
  ByteSet not_d = hex;
  not_d.reset('d');
  not_d.reset('D');
  const Symbol bs = b_.Byte('\\');
  b_.AddAlternative(char_, {bs, b_.Chars(simple)});
  b_.AddAlternative(char_, {bs, b_.Byte('u'), b_.Chars(not_d), b_.Chars(hex), b_.Chars(hex),
                            b_.Chars(hex)});
  b_.AddAlternative(char_, {bs, b_.Byte('u'), b_.Chars(Range('d', 'd') | Range('D', 'D')),
                            b_.Chars(Range('0', '7')), b_.Chars(hex), b_.Chars(hex)});
  return char_;
}

int32_t SchemaCompiler::String(int64_t min, int64_t max) {
  if (min == 0 && max < 0 && any_string_ >= 0) return any_string_;
  const int32_t chars = b_.Repeat({GrammarBuilder::Ref(Char())}, {}, min, max);
  const int32_t r = b_.NewRule();
  b_.AddAlternative(r, {b_.Byte('"'), GrammarBuilder::Ref(chars), b_.Byte('"')});
  if (min == 0 && max < 0) any_string_ = r;
  return r;
}

int32_t SchemaCompiler::Integer() {
  if (integer_ >= 0) return integer_;
  const int32_t digits = b_.Repeat({b_.Chars(Range('0', '9'))}, {}, 0, 15);
  const int32_t magnitude = b_.NewRule();
  b_.AddAlternative(magnitude, {b_.Byte('0')});
  b_.AddAlternative(magnitude, {b_.Chars(Range('1', '9')), GrammarBuilder::Ref(digits)});
  integer_ = b_.NewRule();
  b_.AddAlternative(integer_, {b_.Byte('-'), GrammarBuilder::Ref(magnitude)});
  b_.AddAlternative(integer_, {GrammarBuilder::Ref(magnitude)});
  return integer_;
}

int32_t SchemaCompiler::Number() {
  if (number_ >= 0) return number_;
  const Symbol digit = b_.Chars(Range('0', '9'));
  const int32_t frac = b_.NewRule();
  b_.AddAlternative(frac, {b_.Byte('.'), GrammarBuilder::Ref(b_.Repeat({digit}, {}, 1, 15))});
  b_.AddAlternative(frac, {});
  ByteSet e;
  e.set('e');
  e.set('E');
  ByteSet sign;
  sign.set('+');
  sign.set('-');
  const int32_t sign_opt = b_.NewRule();
  b_.AddAlternative(sign_opt, {b_.Chars(sign)});
  b_.AddAlternative(sign_opt, {});
  // At most 2 exponent digits: with 16 integer digits the value stays below
  // 1e116, inside a double's range (parsers such as nlohmann::json and Go's
  // encoding/json reject "5e+672" as out of range).
  const int32_t exp = b_.NewRule();
  b_.AddAlternative(exp, {b_.Chars(e), GrammarBuilder::Ref(sign_opt),
                          GrammarBuilder::Ref(b_.Repeat({digit}, {}, 1, 2))});
  b_.AddAlternative(exp, {});
  number_ = b_.NewRule();
  b_.AddAlternative(number_, {GrammarBuilder::Ref(Integer()), GrammarBuilder::Ref(frac),
                              GrammarBuilder::Ref(exp)});
  return number_;
}

int32_t SchemaCompiler::AnyObject(int depth) {
  if (auto it = any_object_.find(depth); it != any_object_.end()) return it->second;
  const int32_t r = b_.NewRule();
  any_object_[depth] = r;
  const int32_t members =
      b_.Repeat({GrammarBuilder::Ref(String(0, -1)), b_.Byte(':'),
                 GrammarBuilder::Ref(AnyValue(depth - 1))},
                {b_.Byte(',')}, 0, -1);
  b_.AddAlternative(r, {b_.Byte('{'), GrammarBuilder::Ref(members), b_.Byte('}')});
  return r;
}

int32_t SchemaCompiler::AnyValue(int depth) {
  if (auto it = any_value_.find(depth); it != any_value_.end()) return it->second;
  const int32_t r = b_.NewRule();
  any_value_[depth] = r;
  b_.AddAlternative(r, {GrammarBuilder::Ref(String(0, -1))});
  b_.AddAlternative(r, {GrammarBuilder::Ref(Number())});
  b_.AddAlternative(r, {GrammarBuilder::Ref(Literal("true"))});
  b_.AddAlternative(r, {GrammarBuilder::Ref(Literal("false"))});
  b_.AddAlternative(r, {GrammarBuilder::Ref(Literal("null"))});
  if (depth > 0) {
    b_.AddAlternative(r, {GrammarBuilder::Ref(AnyObject(depth))});
    const int32_t items = b_.Repeat({GrammarBuilder::Ref(AnyValue(depth - 1))}, {b_.Byte(',')},
                                    0, -1);
    b_.AddAlternative(r, {b_.Byte('['), GrammarBuilder::Ref(items), b_.Byte(']')});
  }
  return r;
}

absl::StatusOr<int64_t> Count(const json& schema, const char* key, const std::string& path) {
  auto it = schema.find(key);
  if (it == schema.end()) return -1;
  if (!it->is_number_integer() || it->get<int64_t>() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", key, "' at ", path, " must be a non-negative integer"));
  }
  if (it->get<int64_t>() > kMaxCount) {
    return absl::InvalidArgumentError(absl::StrCat("'", key, "' at ", path,
                                                   " is above the supported maximum ",
                                                   kMaxCount));
  }
  return it->get<int64_t>();
}

absl::StatusOr<int32_t> SchemaCompiler::CompileStringType(const json& schema,
                                                          const std::string& path) {
  ASSIGN_OR_RETURN(int64_t min, Count(schema, "minLength", path));
  ASSIGN_OR_RETURN(int64_t max, Count(schema, "maxLength", path));
  if (min < 0) min = 0;
  if (max >= 0 && max < min) {
    return absl::InvalidArgumentError(
        absl::StrCat("maxLength < minLength at ", path, ": no string matches"));
  }
  auto pattern = schema.find("pattern");
  if (pattern == schema.end()) return String(min, max);
  if (!pattern->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("'pattern' at ", path, " must be a string"));
  }
  if (min > 0 || max >= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'pattern' together with minLength/maxLength at ", path, " is not supported"));
  }
  absl::StatusOr<int32_t> content = CompilePattern(pattern->get<std::string>(), &b_);
  if (!content.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(content.status().message(), " (pattern at ", path, ")"));
  }
  const int32_t r = b_.NewRule();
  b_.AddAlternative(r, {b_.Byte('"'), GrammarBuilder::Ref(*content), b_.Byte('"')});
  return r;
}

absl::StatusOr<int32_t> SchemaCompiler::CompileArray(const json& schema, const std::string& path,
                                                     int depth) {
  ASSIGN_OR_RETURN(int64_t min, Count(schema, "minItems", path));
  ASSIGN_OR_RETURN(int64_t max, Count(schema, "maxItems", path));
  if (min < 0) min = 0;
  if (max >= 0 && max < min) {
    return absl::InvalidArgumentError(
        absl::StrCat("maxItems < minItems at ", path, ": no array matches"));
  }
  int32_t item;
  auto items = schema.find("items");
  if (items == schema.end()) {
    item = AnyValue(kMaxAnyDepth - 1);
  } else if (items->is_boolean() && !items->get<bool>()) {
    if (min > 0) return absl::InvalidArgumentError(absl::StrCat("no array matches ", path));
    max = 0;
    item = AnyValue(0);
  } else {
    ASSIGN_OR_RETURN(item, Compile(*items, path + "/items", depth + 1));
  }
  const int32_t list = b_.Repeat({GrammarBuilder::Ref(item)}, {b_.Byte(',')}, min, max);
  const int32_t r = b_.NewRule();
  b_.AddAlternative(r, {b_.Byte('['), GrammarBuilder::Ref(list), b_.Byte(']')});
  return r;
}

absl::StatusOr<int32_t> SchemaCompiler::CompileObject(const json& schema,
                                                      const std::string& path, int depth) {
  auto props = schema.find("properties");
  if (props != schema.end() && !props->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("'properties' at ", path, " must be an object"));
  }
  std::vector<std::string> required;
  if (auto req = schema.find("required"); req != schema.end()) {
    if (!req->is_array()) {
      return absl::InvalidArgumentError(absl::StrCat("'required' at ", path, " must be an array"));
    }
    for (const json& r : *req) {
      if (!r.is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat("'required' at ", path, " must contain strings"));
      }
      if (std::find(required.begin(), required.end(), r.get<std::string>()) == required.end()) {
        required.push_back(r.get<std::string>());
      }
    }
  }
  bool additional = true;
  if (auto ap = schema.find("additionalProperties"); ap != schema.end()) {
    if (ap->is_boolean()) {
      additional = ap->get<bool>();
    } else if (!ap->is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'additionalProperties' at ", path, " must be a boolean or a schema"));
    }
  }
  // (name, value rule, required) in declaration order; required names that
  // are not declared take any value.
  struct Prop {
    std::string name;
    int32_t value;
    bool required;
  };
  std::vector<Prop> list;
  if (props != schema.end()) {
    for (auto it = props->begin(); it != props->end(); ++it) {
      ASSIGN_OR_RETURN(int32_t v, Compile(it.value(), path + "/properties/" + it.key(), depth + 1));
      const bool req =
          std::find(required.begin(), required.end(), it.key()) != required.end();
      list.push_back({it.key(), v, req});
    }
  }
  for (const std::string& name : required) {
    if (props == schema.end() || !props->contains(name)) {
      if (!additional) {
        return absl::InvalidArgumentError(absl::StrCat(
            "property '", name, "' at ", path,
            " is required but not declared while additionalProperties is false"));
      }
      list.push_back({name, AnyValue(kMaxAnyDepth - 1), true});
    }
  }
  if (list.empty() && additional) return AnyObject(kMaxAnyDepth);
  // first[i]: members i.. when none was written yet; rest[i]: after one was.
  const int n = static_cast<int>(list.size());
  std::vector<int32_t> first(n + 1), rest(n + 1);
  first[n] = b_.NewRule();
  b_.AddAlternative(first[n], {});
  rest[n] = first[n];
  for (int i = n - 1; i >= 0; --i) {
    std::vector<Symbol> member;
    b_.AppendLiteral(json(list[i].name).dump(), &member);
    member.push_back(b_.Byte(':'));
    member.push_back(GrammarBuilder::Ref(list[i].value));
    std::vector<Symbol> with_comma = {b_.Byte(',')};
    with_comma.insert(with_comma.end(), member.begin(), member.end());
    with_comma.push_back(GrammarBuilder::Ref(rest[i + 1]));
    member.push_back(GrammarBuilder::Ref(rest[i + 1]));
    rest[i] = b_.NewRule();
    first[i] = b_.NewRule();
    b_.AddAlternative(rest[i], std::move(with_comma));
    b_.AddAlternative(first[i], std::move(member));
    if (!list[i].required) {
      b_.AddAlternative(rest[i], {GrammarBuilder::Ref(rest[i + 1])});
      b_.AddAlternative(first[i], {GrammarBuilder::Ref(first[i + 1])});
    }
  }
  const int32_t r = b_.NewRule();
  b_.AddAlternative(r, {b_.Byte('{'), GrammarBuilder::Ref(first[0]), b_.Byte('}')});
  return r;
}

absl::StatusOr<int32_t> SchemaCompiler::CompileType(const std::string& type, const json& schema,
                                                    const std::string& path, int depth) {
  if (type == "object") return CompileObject(schema, path, depth);
  if (type == "array") return CompileArray(schema, path, depth);
  if (type == "string") return CompileStringType(schema, path);
  if (type == "integer") return Integer();
  if (type == "number") return Number();
  if (type == "boolean") {
    const int32_t r = b_.NewRule();
    b_.AddAlternative(r, {GrammarBuilder::Ref(Literal("true"))});
    b_.AddAlternative(r, {GrammarBuilder::Ref(Literal("false"))});
    return r;
  }
  if (type == "null") return Literal("null");
  return absl::InvalidArgumentError(absl::StrCat("unknown type '", type, "' at ", path));
}

bool TypeMatches(const std::string& type, const json& v) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "integer") {
    return v.is_number_integer() || (v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<int64_t>(v.get<double>())));
  }
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_boolean();
  return type == "null" && v.is_null();
}

const absl::flat_hash_set<std::string>& KnownKeywords() {
  static const auto* k = new absl::flat_hash_set<std::string>{
      "type", "properties", "required", "additionalProperties", "enum", "const", "items",
      "minItems", "maxItems", "anyOf", "$ref", "$defs", "definitions", "minLength",
      "maxLength", "pattern", "title", "description", "default", "examples", "$schema",
      "$id", "$comment", "deprecated", "readOnly", "writeOnly"};
  return *k;
}

absl::StatusOr<int32_t> SchemaCompiler::Ref(const std::string& ref, const std::string& path,
                                            int depth) {
  if (ref.empty() || ref[0] != '#') {
    return absl::InvalidArgumentError(absl::StrCat(
        "$ref '", ref, "' at ", path, " is not supported: only local references (#...)"));
  }
  if (auto it = refs_.find(ref); it != refs_.end()) return it->second;
  const json* target = nullptr;
  try {
    target = &root_.at(json::json_pointer(ref.substr(1)));
  } catch (const json::exception&) {
    return absl::InvalidArgumentError(
        absl::StrCat("$ref '", ref, "' at ", path, " does not resolve in the schema"));
  }
  const int32_t r = b_.NewRule();
  refs_[ref] = r;  // before compiling, so recursion refers back to it
  ASSIGN_OR_RETURN(int32_t body, Compile(*target, ref, depth + 1));
  b_.AddAlternative(r, {GrammarBuilder::Ref(body)});
  return r;
}

absl::StatusOr<int32_t> SchemaCompiler::Compile(const json& schema, const std::string& path,
                                                int depth) {
  RETURN_IF_ERROR(CheckSize());
  if (depth > 64) {
    return absl::InvalidArgumentError(absl::StrCat("the schema nests too deeply at ", path));
  }
  if (schema.is_boolean()) {
    if (schema.get<bool>()) return AnyValue(kMaxAnyDepth);
    return absl::InvalidArgumentError(absl::StrCat("schema false at ", path, " matches nothing"));
  }
  if (!schema.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("the schema at ", path, " is not an object"));
  }
  std::vector<std::string> unknown;
  for (auto it = schema.begin(); it != schema.end(); ++it) {
    if (!KnownKeywords().contains(it.key())) unknown.push_back("'" + it.key() + "'");
  }
  if (!unknown.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported JSON Schema keyword", unknown.size() > 1 ? "s " : " ",
                     absl::StrJoin(unknown, ", "), " at ", path));
  }
  if (auto ref = schema.find("$ref"); ref != schema.end()) {
    if (!ref->is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("$ref at ", path, " must be a string"));
    }
    for (const char* k : {"type", "enum", "const", "anyOf", "properties", "items"}) {
      if (schema.contains(k)) {
        return absl::InvalidArgumentError(
            absl::StrCat("'", k, "' beside $ref at ", path, " is not supported"));
      }
    }
    return Ref(ref->get<std::string>(), path, depth);
  }
  std::vector<std::string> types;
  if (auto t = schema.find("type"); t != schema.end()) {
    if (t->is_string()) {
      types.push_back(t->get<std::string>());
    } else if (t->is_array() && !t->empty()) {
      for (const json& x : *t) {
        if (!x.is_string()) {
          return absl::InvalidArgumentError(absl::StrCat("'type' at ", path, " must be strings"));
        }
        types.push_back(x.get<std::string>());
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("'type' at ", path, " must be a string or a non-empty array"));
    }
  }
  auto type_ok = [&](const json& v) {
    if (types.empty()) return true;
    for (const std::string& t : types) {
      if (TypeMatches(t, v)) return true;
    }
    return false;
  };
  if (auto c = schema.find("const"); c != schema.end()) {
    if (!type_ok(*c)) {
      return absl::InvalidArgumentError(absl::StrCat("'const' at ", path, " does not match 'type'"));
    }
    return Literal(c->dump());
  }
  if (auto e = schema.find("enum"); e != schema.end()) {
    if (!e->is_array()) {
      return absl::InvalidArgumentError(absl::StrCat("'enum' at ", path, " must be an array"));
    }
    const int32_t r = b_.NewRule();
    int kept = 0;
    for (const json& v : *e) {
      if (!type_ok(v)) continue;
      b_.AddAlternative(r, {GrammarBuilder::Ref(Literal(v.dump()))});
      ++kept;
    }
    if (kept == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("'enum' at ", path, " has no value of the allowed type"));
    }
    return r;
  }
  if (auto any = schema.find("anyOf"); any != schema.end()) {
    if (!any->is_array() || any->empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'anyOf' at ", path, " must be a non-empty array"));
    }
    if (!types.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'type' beside 'anyOf' at ", path, " is not supported"));
    }
    const int32_t r = b_.NewRule();
    for (size_t i = 0; i < any->size(); ++i) {
      ASSIGN_OR_RETURN(int32_t alt,
                       Compile((*any)[i], absl::StrCat(path, "/anyOf/", i), depth + 1));
      b_.AddAlternative(r, {GrammarBuilder::Ref(alt)});
    }
    return r;
  }
  if (types.empty()) {
    // Infer from the keywords, as most schema writers mean.
    if (schema.contains("properties") || schema.contains("required") ||
        schema.contains("additionalProperties")) {
      types.push_back("object");
    } else if (schema.contains("items") || schema.contains("minItems") ||
               schema.contains("maxItems")) {
      types.push_back("array");
    } else if (schema.contains("minLength") || schema.contains("maxLength") ||
               schema.contains("pattern")) {
      types.push_back("string");
    } else {
      return AnyValue(kMaxAnyDepth);
    }
  }
  if (types.size() == 1) return CompileType(types[0], schema, path, depth);
  const int32_t r = b_.NewRule();
  for (const std::string& t : types) {
    ASSIGN_OR_RETURN(int32_t alt, CompileType(t, schema, path, depth));
    b_.AddAlternative(r, {GrammarBuilder::Ref(alt)});
  }
  return r;
}

absl::StatusOr<std::shared_ptr<const Grammar>> Finish(SchemaCompiler* c, int32_t value,
                                                      std::string_view prefix,
                                                      std::string_view suffix) {
  RETURN_IF_ERROR(c->CheckSize());
  GrammarBuilder& b = c->builder();
  const int32_t root = b.NewRule();
  std::vector<Symbol> seq;
  b.AppendLiteral(prefix, &seq);
  seq.push_back(GrammarBuilder::Ref(value));
  b.AppendLiteral(suffix, &seq);
  b.AddAlternative(root, std::move(seq));
  return b.Build(root);
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Grammar>> CompileJsonSchema(std::string_view schema_json,
                                                                 std::string_view prefix,
                                                                 std::string_view suffix) {
  if (schema_json.size() > kMaxSchemaBytes) {
    return absl::InvalidArgumentError("the schema is too large");
  }
  const json schema = json::parse(schema_json.begin(), schema_json.end(), nullptr,
                                  /*allow_exceptions=*/false);
  if (schema.is_discarded()) return absl::InvalidArgumentError("the schema is not valid JSON");
  SchemaCompiler c(schema);
  try {
    ASSIGN_OR_RETURN(int32_t value, c.Compile(schema, "#", 0));
    return Finish(&c, value, prefix, suffix);
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid schema: ", e.what()));
  }
}

absl::StatusOr<std::shared_ptr<const Grammar>> CompileConstraint(const OutputConstraint& c) {
  switch (c.kind) {
    case ConstraintKind::kNone:
      return absl::InvalidArgumentError("no output constraint to compile");
    case ConstraintKind::kJsonObject: {
      const json empty = json::object();
      SchemaCompiler compiler(empty);
      return Finish(&compiler, compiler.AnyObject(kMaxAnyDepth), c.prefix, c.suffix);
    }
    case ConstraintKind::kJsonSchema:
      return CompileJsonSchema(c.schema_json, c.prefix, c.suffix);
  }
  return absl::InvalidArgumentError("unknown output constraint");
}

}  // namespace triptych::grammar
