#ifndef TRIPTYCH_RUNTIME_GRAMMAR_JSON_SCHEMA_H_
#define TRIPTYCH_RUNTIME_GRAMMAR_JSON_SCHEMA_H_

// JSON Schema -> Grammar. The grammar generates compact JSON (no whitespace
// between tokens) and only a subset of the values the schema accepts, every
// one of them valid:
//   - objects: the declared properties in declaration order, required ones
//     always, optional ones optionally; never additional properties (always
//     valid, whatever additionalProperties says); an object schema without
//     properties accepts any object (unless additionalProperties is false).
//   - strings: code points (no \u escapes of surrogates, so length counts
//     match JSON Schema's), minLength/maxLength up to kMaxCount, or a pattern
//     (regex subset: literals, ., classes [..] and [^..] over ASCII, \d \w \s
//     and their negations, groups, |, * + ? {n} {n,} {n,m}; ^ and $ only at
//     the ends). A pattern is matched in full (a full match is also a valid
//     JSON Schema "search" match). Negated classes and . generate ASCII only.
//   - integers up to 16 digits; numbers with up to 16 integer digits,
//     15 fraction digits and a 2-digit exponent (always inside a double's
//     range).
//   - arrays: items, minItems/maxItems up to kMaxCount.
//   - enum / const: the listed values, serialised compactly.
//   - anyOf, type lists, local $ref ("#", "#/$defs/x", any "#/json/pointer")
//     including recursion that consumes input.
//   - values of unconstrained type (true, {}, a missing "items"): any JSON
//     value nested at most kMaxAnyDepth levels.
// Annotations (title, description, default, examples, $schema, $id,
// $comment, deprecated, readOnly, writeOnly) are ignored. Every other
// keyword (oneOf, allOf, not, minimum, format, prefixItems, ...) is
// refused with kInvalidArgument naming it and where it is.

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/grammar/grammar.h"
#include "runtime/grammar/output_constraint.h"

namespace triptych::grammar {

inline constexpr int64_t kMaxCount = 1024;   // minLength, maxItems, {n,m}, ...
inline constexpr int kMaxAnyDepth = 6;       // nesting of unconstrained values
inline constexpr size_t kMaxGrammarSymbols = 1 << 20;
inline constexpr size_t kMaxSchemaBytes = 1 << 20;

// `prefix` + a value valid under `schema_json` + `suffix`. Errors:
// kInvalidArgument (malformed JSON, unsupported features, a schema that
// matches nothing or recurses without output, a grammar past
// kMaxGrammarSymbols).
absl::StatusOr<std::shared_ptr<const Grammar>> CompileJsonSchema(std::string_view schema_json,
                                                                 std::string_view prefix,
                                                                 std::string_view suffix);

// kJsonObject: prefix + any JSON object + suffix; kJsonSchema: as above.
// kNone is an error (nothing to compile).
absl::StatusOr<std::shared_ptr<const Grammar>> CompileConstraint(const OutputConstraint& c);

}  // namespace triptych::grammar

#endif  // TRIPTYCH_RUNTIME_GRAMMAR_JSON_SCHEMA_H_
