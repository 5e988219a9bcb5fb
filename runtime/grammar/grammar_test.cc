#include <algorithm>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/grammar/json_schema.h"
#include "runtime/grammar/logit_mask.h"
#include "runtime/grammar/matcher.h"
#include "runtime/grammar/token_trie.h"

namespace triptych::grammar {
namespace {

std::shared_ptr<const Grammar> MustCompile(const std::string& schema) {
  auto g = CompileJsonSchema(schema, "", "");
  EXPECT_TRUE(g.ok()) << schema << ": " << g.status();
  return g.ok() ? *g : nullptr;
}

// True when `text` is a complete output of `g`.
bool Accepts(const std::shared_ptr<const Grammar>& g, const std::string& text) {
  Matcher m(g);
  return m.Advance(text) && m.IsComplete();
}

struct Case {
  const char* schema;
  std::vector<const char*> good;
  std::vector<const char*> bad;
};

TEST(JsonSchema, AcceptsValidAndRejectsInvalid) {
  const std::vector<Case> cases = {
      {R"({"type":"integer"})", {"0", "-12", "1234567890123456"}, {"01", "1.5", "-", "\"1\""}},
      // 5e+672: json_schema_fuzzer (a double overflows past 2 exponent digits).
      {R"({"type":"number"})", {"0", "-1.25", "3e10", "2.5E-3", "1e+99"},
       {".5", "1.", "1e", "5e+672", "1e100"}},
      {R"({"type":"boolean"})", {"true", "false"}, {"True", "1"}},
      {R"({"type":["string","null"],"maxLength":2})", {"null", "\"\"", "\"ab\"", "\"\\n\""},
       {"\"abc\"", "nul"}},
      {R"({"type":"string","minLength":2,"maxLength":3})", {"\"ab\"", "\"é€😀\""},
       {"\"a\"", "\"abcd\""}},
      {R"({"type":"string"})", {"\"\\u00e9\"", "\"\\\\\""}, {"\"\\ud800\"", "\"\x01\"", "\"\xff\""}},
      {R"({"enum":["a",1,null,{"k":[true]}]})", {"\"a\"", "1", "null", "{\"k\":[true]}"},
       {"\"b\"", "2"}},
      {R"({"const":"x"})", {"\"x\""}, {"\"y\""}},
      {R"({"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3})",
       {"[1]", "[1,2,3]"}, {"[]", "[1,2,3,4]", "[1,]"}},
      {R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"}},)"
       R"("required":["b"],"additionalProperties":false})",
       {"{\"b\":\"\"}", "{\"a\":1,\"b\":\"x\"}"}, {"{}", "{\"a\":1}", "{\"b\":\"x\",\"a\":1}"}},
      {R"({"type":"object"})", {"{}", "{\"x\":[1,{\"y\":null}]}"}, {"[]", "{\"x\"}"}},
      {R"({"anyOf":[{"type":"integer"},{"type":"object","properties":{"n":{"const":1}},)"
       R"("required":["n"]}]})",
       {"5", "{\"n\":1}"}, {"{}", "\"5\""}},
      {R"({"$defs":{"node":{"type":"object","properties":{"next":{"anyOf":[{"$ref":"#/$defs/node"},)"
       R"({"type":"null"}]}},"required":["next"]}},"$ref":"#/$defs/node"})",
       {"{\"next\":null}", "{\"next\":{\"next\":null}}"}, {"{}", "{\"next\":{}}"}},
      {R"({"type":"string","pattern":"^[a-z]{2,3}-\\d+(\\.\\d)?$"})", {"\"ab-1\"", "\"xyz-12.5\""},
       {"\"a-1\"", "\"ab-\"", "\"AB-1\""}},
      {R"({"type":"string","pattern":"(cat|dog)s?"})", {"\"cat\"", "\"dogs\""}, {"\"cow\""}},
      {R"({"type":"string","pattern":"a\"b"})", {"\"a\\\"b\""}, {"\"a\"b\""}},
  };
  for (const Case& c : cases) {
    auto g = MustCompile(c.schema);
    ASSERT_NE(g, nullptr);
    for (const char* s : c.good) EXPECT_TRUE(Accepts(g, s)) << c.schema << " should accept " << s;
    for (const char* s : c.bad) EXPECT_FALSE(Accepts(g, s)) << c.schema << " should reject " << s;
  }
}

// Properties come out in the order the schema declares them (found by
// bench/grammar_mask_bench.cc: the schema was read into a sorted map, so
// {"name", "age"} had to be generated as {"age":..,"name":..}).
TEST(JsonSchema, PropertiesKeepDeclarationOrder) {
  auto g = MustCompile(R"({"type":"object","properties":{"name":{"type":"string"},)"
                       R"("age":{"type":"integer"}},"required":["name","age"]})");
  EXPECT_TRUE(Accepts(g, R"({"name":"Ada","age":36})"));
  EXPECT_FALSE(Accepts(g, R"({"age":36,"name":"Ada"})"));
}

TEST(JsonSchema, UnsupportedFeaturesAreNamed) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {R"({"type":"integer","minimum":3})", "'minimum'"},
      {R"({"oneOf":[{"type":"string"}]})", "'oneOf'"},
      {R"({"type":"string","format":"date"})", "'format'"},
      {R"({"$ref":"http://example.com/s.json"})", "only local references"},
      {R"({"$ref":"#/$defs/missing"})", "does not resolve"},
      {R"({"$defs":{"a":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"})", "recurses"},
      {R"({"anyOf":[{"$ref":"#"}]})", "recurses"},
      {R"({"type":"string","pattern":"(a)\\1"})", "unsupported pattern feature"},
      {R"j({"type":"string","pattern":"(?=a)"})j", "lookaround"},
      {R"({"type":"array","maxItems":100000})", "maximum"},
      {R"({"type":"string","minLength":3,"maxLength":2})", "maxLength < minLength"},
      {R"({"enum":[]})", "no value"},
      {R"({"type":"strin"})", "unknown type"},
      {"[1,2]", "not an object"},
      {"{\"type\":", "not valid JSON"},
      {"false", "matches nothing"},
  };
  for (const auto& [schema, needle] : cases) {
    auto g = CompileJsonSchema(schema, "", "");
    ASSERT_FALSE(g.ok()) << schema;
    EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(g.status().message().find(needle), std::string::npos)
        << schema << " -> " << g.status().message();
  }
}

TEST(JsonSchema, PrefixAndSuffixAreLiteral) {
  auto g = CompileJsonSchema(R"({"type":"integer"})", "<call>", "</call>");
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(Accepts(*g, "<call>42</call>"));
  EXPECT_FALSE(Accepts(*g, "42"));
  EXPECT_FALSE(Accepts(*g, "<call>42"));
}

TEST(JsonObject, AnyObject) {
  OutputConstraint c;
  c.kind = ConstraintKind::kJsonObject;
  auto g = CompileConstraint(c);
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(Accepts(*g, "{\"a\":{\"b\":[1,2,\"x\"]}}"));
  EXPECT_FALSE(Accepts(*g, "[1]"));
  EXPECT_FALSE(Accepts(*g, "\"x\""));
}

TEST(Matcher, CompleteAndContinue) {
  auto g = MustCompile(R"({"type":"integer"})");
  Matcher m(g);
  EXPECT_FALSE(m.IsComplete());
  ASSERT_TRUE(m.Advance("12"));
  EXPECT_TRUE(m.IsComplete());
  EXPECT_TRUE(m.CanContinue());  // more digits may follow
  EXPECT_FALSE(m.Advance("x"));  // refused, state unchanged
  EXPECT_TRUE(m.IsComplete());
  auto obj = MustCompile(R"({"type":"object","properties":{},"additionalProperties":false})");
  Matcher done(obj);
  ASSERT_TRUE(done.Advance("{}"));
  EXPECT_TRUE(done.IsComplete());
  EXPECT_FALSE(done.CanContinue());
}

// The mask equals a brute-force check of every token on its own.
TEST(Matcher, MaskMatchesBruteForce) {
  std::vector<std::string> vocab = {"",    "{",     "}",    "{\"",  "\"",   "a",   "ab",
                                    "\":", "1",     "12",   ",",    "\"a\"", "}}", ":",
                                    "é",   "\xc3",  "\xa9", "null", "nu",  "\"b", "x"};
  TokenTrie trie(vocab);
  auto g = MustCompile(R"({"type":"object","properties":{"a":{"type":"integer"},)"
                       R"("b":{"type":"string","maxLength":2}},"required":["a"]})");
  Matcher m(g);
  const std::vector<std::string> steps = {"{", "\"", "a", "\":", "1", ",", "\"b", "\":", "\"",
                                          "é"};
  for (const std::string& step : steps) {
    std::vector<uint64_t> bits(1, 0);
    m.Mask(trie, absl::MakeSpan(bits));
    for (size_t t = 0; t < vocab.size(); ++t) {
      bool expect = false;
      if (!vocab[t].empty()) {
        Matcher copy = m;
        expect = copy.Advance(vocab[t]);
      }
      EXPECT_EQ(((bits[0] >> t) & 1) != 0, expect) << "after steps, token '" << vocab[t] << "'";
    }
    ASSERT_TRUE(m.Advance(step)) << step;
  }
}

// The engine sampler's step: forbidden logits become -inf, end of
// generation (id 0 here, outside the trie) only once the output is complete,
// ids past the trie's vocabulary stay forbidden.
TEST(LogitMask, ForbidsWhatTheGrammarRejects) {
  const std::vector<std::string> vocab = {"", "1", "12", "a", "-", "x1"};
  TokenTrie trie(vocab);
  auto g = MustCompile(R"({"type":"integer"})");
  Matcher m(g);
  std::vector<uint64_t> scratch;
  const float kInf = std::numeric_limits<float>::infinity();
  std::vector<float> row(70, 1.0f);  // two mask words
  ASSERT_TRUE(ApplyLogitMask(m, trie, {0}, true, absl::MakeSpan(row), &scratch));
  EXPECT_EQ(row[0], -kInf);  // not complete yet
  EXPECT_EQ(row[1], 1.0f);
  EXPECT_EQ(row[2], 1.0f);
  EXPECT_EQ(row[3], -kInf);
  EXPECT_EQ(row[4], 1.0f);
  EXPECT_EQ(row[5], -kInf);
  for (size_t i = 6; i < row.size(); ++i) EXPECT_EQ(row[i], -kInf) << i;
  ASSERT_TRUE(m.Advance("12"));
  std::fill(row.begin(), row.end(), 1.0f);
  ASSERT_TRUE(ApplyLogitMask(m, trie, {0}, true, absl::MakeSpan(row), &scratch));
  EXPECT_EQ(row[0], 1.0f);  // complete: end of generation allowed
  std::fill(row.begin(), row.end(), 1.0f);
  ASSERT_TRUE(ApplyLogitMask(m, trie, {0}, false, absl::MakeSpan(row), &scratch));
  EXPECT_EQ(row[0], -kInf);  // ignore_eos
  auto done = MustCompile(R"({"const":1})");
  Matcher one(done);
  ASSERT_TRUE(one.Advance("1"));
  std::fill(row.begin(), row.end(), 1.0f);
  EXPECT_FALSE(ApplyLogitMask(one, trie, {}, true, absl::MakeSpan(row), &scratch));
}

}  // namespace
}  // namespace triptych::grammar
