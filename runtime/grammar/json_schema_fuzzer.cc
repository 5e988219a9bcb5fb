// libFuzzer target for the JSON Schema compiler and the grammar matcher
// (built with -DTRIPTYCH_FUZZ=ON and clang; see docs/FUZZING.md).
//
// Input: 1 flag byte, the schema as JSON text, a NUL, raw output bytes, a
// NUL, choice bytes. Flag bit 0 wraps the value in a prefix and suffix (as
// tool calls do); bit 1 compiles json_object instead of the schema.
//   1. CompileJsonSchema / CompileConstraint: a rejection must be
//      kInvalidArgument (a 400 at the gateway).
//   2. The raw bytes go into one matcher at once and into another one byte
//      at a time: both must agree (accepted or not, complete or not).
//   3. A guided walk over a small vocabulary (every single byte plus JSON-ish
//      multi-byte tokens): at each step Mask() must allow exactly the tokens
//      that Advance() accepts (all tokens on the first step, a rotating
//      sixteenth after), and the choice byte picks one of the allowed. When
//      the walk ends on a complete output, the text between prefix and
//      suffix must be valid JSON (the grammar only generates JSON).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"
#include "runtime/grammar/json_schema.h"
#include "runtime/grammar/matcher.h"
#include "runtime/grammar/token_trie.h"

namespace {

using triptych::grammar::Matcher;
using triptych::grammar::TokenTrie;

constexpr std::string_view kPrefix = "<tool_call>";
constexpr std::string_view kSuffix = "</tool_call>";
constexpr int kMaxWalk = 32;

#define Check(ok) CheckAt(ok, __LINE__)
void CheckAt(bool ok, int line) {
  if (!ok) {
    std::fprintf(stderr, "json_schema_fuzzer: check at line %d failed\n", line);
    __builtin_trap();
  }
}

const TokenTrie& Vocabulary() {
  static const TokenTrie* trie = [] {
    std::vector<std::string> v;
    for (int b = 0; b < 256; ++b) v.push_back(std::string(1, static_cast<char>(b)));
    for (const char* t : {"{\"", "\":", "\":\"", "\",\"", "\"}", "},", "}]", "[{", "[]", "{}",
                          "true", "false", "null", "nu", "ll", "0.", "12", "-1", "e+", "E-",
                          "\\n", "\\\"", "\\u00", "\\ud8", "\xc3\xa9", "\xe2\x82\xac",
                          "\xf0\x9f\x98\x80", "\xf0\x9f", "\x98\x80", "name", "value", "<tool",
                          "_call>", "</tool_call>", "\"ok\"", "\"error\"", "abc", " ", ""}) {
      v.push_back(t);
    }
    v.push_back("");  // an empty token (end of generation) never enters the trie
    return new TokenTrie(v);
  }();
  return *trie;
}

// Whether a fresh matcher accepts `before` then `bytes` (a fresh one, not a
// copy of the walking matcher: copies would carry its mask caches).
bool Accepts(const std::shared_ptr<const triptych::grammar::Grammar>& g, std::string_view before,
             std::string_view bytes, bool* state_error) {
  Matcher m(g);
  const bool ok = m.Advance(before) && m.Advance(bytes);
  *state_error = !m.status().ok();
  return ok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto take = [&rest]() {
    const size_t nul = rest.find('\0');
    const std::string_view part = rest.substr(0, nul);
    rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
    return part;
  };
  const std::string_view schema = take();
  const std::string_view raw = take();
  const std::string_view choices = rest;

  triptych::grammar::OutputConstraint c;
  c.kind = (flags & 2) ? triptych::grammar::ConstraintKind::kJsonObject
                       : triptych::grammar::ConstraintKind::kJsonSchema;
  c.schema_json = std::string(schema);
  if (flags & 1) {
    c.prefix = std::string(kPrefix);
    c.suffix = std::string(kSuffix);
  }
  auto grammar = triptych::grammar::CompileConstraint(c);
  if (!grammar.ok()) {
    Check(grammar.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }

  // 2. Whole vs byte by byte.
  {
    Matcher whole(*grammar), bytes(*grammar);
    const bool whole_ok = whole.Advance(raw);
    bool bytes_ok = true;
    for (char ch : raw) {
      if (!bytes.Advance(std::string_view(&ch, 1))) {
        bytes_ok = false;
        break;
      }
    }
    if (whole.status().ok() && bytes.status().ok()) {
      Check(whole_ok == bytes_ok);
      if (whole_ok) {
        Check(whole.IsComplete() == bytes.IsComplete());
        Check(whole.CanContinue() == bytes.CanContinue());
      }
    }
    // A rejected Advance leaves the state as it was.
    if (!whole_ok && whole.status().ok()) {
      Matcher fresh(*grammar);
      Check(whole.IsComplete() == fresh.IsComplete());
      Check(whole.CanContinue() == fresh.CanContinue());
    }
  }

  // 3. Guided walk.
  const TokenTrie& trie = Vocabulary();
  Matcher m(*grammar);
  std::string output;
  std::vector<uint64_t> allowed((trie.vocab_size() + 63) / 64);
  for (size_t step = 0; step < choices.size() && step < kMaxWalk; ++step) {
    if (!m.status().ok()) break;
    std::fill(allowed.begin(), allowed.end(), 0);
    m.Mask(trie, absl::MakeSpan(allowed));
    std::vector<int32_t> ids;
    for (int32_t t = 0; t < trie.vocab_size(); ++t) {
      const bool in_mask = (allowed[t >> 6] >> (t & 63)) & 1;
      if (trie.bytes(t).empty()) {
        Check(!in_mask);
        continue;
      }
      if (in_mask) ids.push_back(t);
      // Every token on the first step, then a rotating sixteenth (speed).
      if (step != 0 && t % 16 != static_cast<int32_t>(step % 16)) continue;
      bool state_error = false;
      const bool accepts = Accepts(*grammar, output, trie.bytes(t), &state_error);
      if (!state_error) Check(in_mask == accepts);
    }
    Check(!ids.empty() || !m.CanContinue() || !m.status().ok());
    if (ids.empty()) break;
    const int32_t pick = ids[static_cast<uint8_t>(choices[step]) % ids.size()];
    Check(m.Advance(trie.bytes(pick)) || !m.status().ok());
    output += trie.bytes(pick);
  }
  if (m.status().ok() && m.IsComplete()) {
    std::string_view body = output;
    if (flags & 1) {
      Check(body.size() >= kPrefix.size() + kSuffix.size() && body.substr(0, kPrefix.size()) == kPrefix &&
            body.substr(body.size() - kSuffix.size()) == kSuffix);
      body = body.substr(kPrefix.size(), body.size() - kPrefix.size() - kSuffix.size());
    }
    if (!nlohmann::json::accept(body)) std::fprintf(stderr, "not JSON: [%.*s]\n", static_cast<int>(body.size()), body.data());
    Check(nlohmann::json::accept(body));
    if (flags & 2) Check(!body.empty() && body.front() == '{');
  }
  return 0;
}
