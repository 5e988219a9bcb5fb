#ifndef TRIPTYCH_RUNTIME_JINJA_LEXER_H_
#define TRIPTYCH_RUNTIME_JINJA_LEXER_H_

// Tokens of a template source (internal to triptych_jinja).

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/jinja/value.h"

namespace triptych::jinja {

enum class Tok { kText, kVarBegin, kVarEnd, kBlockBegin, kBlockEnd, kName, kInt, kFloat, kString, kOp, kEnd };

struct Token {
  Tok type;
  std::string text;  // text data, name, operator
  Value value;       // literal value of kInt / kFloat / kString
  int line;
};

// Splits `source` into text and tag tokens, applying whitespace control with
// trim_blocks and lstrip_blocks on. Ends with a kEnd token. Errors:
// kInvalidArgument "template syntax error at line N: ...".
absl::StatusOr<std::vector<Token>> Lex(std::string_view source);

}  // namespace triptych::jinja

#endif  // TRIPTYCH_RUNTIME_JINJA_LEXER_H_
