#ifndef TRIPTYCH_RUNTIME_GRAMMAR_OUTPUT_CONSTRAINT_H_
#define TRIPTYCH_RUNTIME_GRAMMAR_OUTPUT_CONSTRAINT_H_

// What a request asks its output to be, as it travels from the gateway to
// the engine that samples (over the protos in the disaggregated path). A
// plain value type; CompileConstraint() (grammar.h) turns it into a Grammar.

#include <string>

namespace triptych::grammar {

enum class ConstraintKind {
  kNone,        // free text
  kJsonObject,  // any JSON object (response_format json_object)
  kJsonSchema,  // a JSON value valid under schema_json
};

struct OutputConstraint {
  ConstraintKind kind = ConstraintKind::kNone;
  // kJsonSchema: the schema, as JSON text.
  std::string schema_json;
  // Literal text the output must start / end with around the JSON value
  // (e.g. a model family's tool-call tags); empty for response_format.
  std::string prefix;
  std::string suffix;

  bool active() const { return kind != ConstraintKind::kNone; }
};

const char* ConstraintKindName(ConstraintKind kind);

}  // namespace triptych::grammar

#endif  // TRIPTYCH_RUNTIME_GRAMMAR_OUTPUT_CONSTRAINT_H_
