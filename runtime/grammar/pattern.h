#ifndef TRIPTYCH_RUNTIME_GRAMMAR_PATTERN_H_
#define TRIPTYCH_RUNTIME_GRAMMAR_PATTERN_H_

// A subset of ECMAScript regular expressions (JSON Schema "pattern") ->
// grammar rule matching the JSON-escaped content of a string (without the
// quotes) that the pattern matches in full. Supported: literal characters
// (UTF-8), escaped punctuation, \d \D \w \W \s \S \n \r \t, ., classes
// [abc] [a-z] [^...] over ASCII, groups ( ) and (?: ), |, quantifiers * + ?
// {n} {n,} {n,m} (lazy forms too: same language), ^ at the start and $ at
// the end. Negated classes, . and \D \W \S produce printable ASCII only.
// Anything else (backreferences, lookaround, \b, \p{..}, non-ASCII in a
// class) is kInvalidArgument naming it.

#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/grammar/grammar.h"

namespace triptych::grammar {

absl::StatusOr<int32_t> CompilePattern(std::string_view pattern, GrammarBuilder* builder);

}  // namespace triptych::grammar

#endif  // TRIPTYCH_RUNTIME_GRAMMAR_PATTERN_H_
