#ifndef TRIPTYCH_RUNTIME_TOOL_CALLS_TEXT_UTIL_H_
#define TRIPTYCH_RUNTIME_TOOL_CALLS_TEXT_UTIL_H_

// Small text helpers shared by the tool-call parsers of this folder
// (tool_call_parser.cc, harmony.cc). Internal to runtime/tool_calls.

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <string_view>

namespace triptych::tool_calls::internal {

inline bool IsSpace(char c) {
  return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

inline size_t SkipSpace(std::string_view s, size_t i) {
  while (i < s.size() && IsSpace(s[i])) ++i;
  return i;
}

inline bool AllSpace(std::string_view s) { return SkipSpace(s, 0) == s.size(); }

inline std::string_view Trim(std::string_view s) {
  const size_t b = SkipSpace(s, 0);
  size_t e = s.size();
  while (e > b && IsSpace(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// A function name as the tool definitions allow it (1-64 of a-z A-Z 0-9
// _ - .): what functionary's recipients, v3.1's tags and harmony's
// `to=functions.NAME` must hold.
inline bool IsToolName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
           c == '-' || c == '.';
  });
}

}  // namespace triptych::tool_calls::internal

#endif  // TRIPTYCH_RUNTIME_TOOL_CALLS_TEXT_UTIL_H_
