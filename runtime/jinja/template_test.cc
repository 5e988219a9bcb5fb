#include "runtime/jinja/template.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace triptych::jinja {
namespace {

std::string R(std::string_view src, const nlohmann::ordered_json& ctx = nlohmann::ordered_json::object(),
              Limits limits = {}) {
  auto t = Template::Parse(src, limits);
  if (!t.ok()) return "PARSE: " + std::string(t.status().message());
  RenderOptions o;
  o.now = 1721995200;
  auto r = (*t)->Render(Value::FromJson(ctx.is_null() ? nlohmann::ordered_json::object() : ctx), o);
  if (!r.ok()) return "ERR: " + std::string(r.status().message());
  return *r;
}

TEST(Template, ExpressionsFollowPythonSemantics) {
  EXPECT_EQ(R("{{ 1 + 2 * 3 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ 7 % -3 }}|{{ 1 / 2 }}|{{ 2 ** 10 }}"), "7|3|-4|-2|0.5|1024");
  EXPECT_EQ(R("{{ 'a' ~ 1 ~ none }}|{{ [1, 'x', none, true] }}|{{ {'k': 'it\\'s'} }}"),
            "a1None|[1, 'x', None, True]|{'k': \"it's\"}");
  EXPECT_EQ(R("{{ 'abcdef'[1:4] }}{{ 'abc'[::-1] }}{{ [1,2,3][-1] }}{{ 'héllo'[1] }}"), "bcdcba3é");
  EXPECT_EQ(R("{{ 'x' if false }}|{{ 'y' if 1 in [1] else 'n' }}|{{ 'b' in 'abc' and 'z' not in 'abc' }}"), "|y|True");
  EXPECT_EQ(R("{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}{{ 1.0 == 1 }}"), "TrueFalseTrue");
  EXPECT_EQ(R("{{ 1e-05 }} {{ 1e16 }} {{ 2.50 }} {{ 10 / 4 }}"), "1e-05 1e+16 2.5 2.5");
}

TEST(Template, WhitespaceControlMatchesTrimAndLstripBlocks) {
  EXPECT_EQ(R("a\n  {% if true %}\n  b\n  {% endif %}\nc"), "a\n  b\nc");
  EXPECT_EQ(R("a  {%- if true -%}  b  {%- endif %}"), "ab");
  EXPECT_EQ(R("x {{- ' y ' -}} z"), "x y z");
  EXPECT_EQ(R("a\n  {%+ if true %}b{% endif +%}\nc"), "a\n  b\nc");
  EXPECT_EQ(R("{# c #}\nA{{ 'b' }}\n"), "Ab");  // trailing newline dropped
}

TEST(Template, LoopsScopesAndNamespaces) {
  EXPECT_EQ(R("{% for x in [1,2,3] %}{{ loop.index }}{{ loop.first }}{{ loop.last }},{% endfor %}"),
            "1TrueFalse,2FalseFalse,3FalseTrue,");
  EXPECT_EQ(R("{% set n = 0 %}{% for x in [1,2] %}{% set n = n + x %}{% endfor %}{{ n }}"), "0");
  EXPECT_EQ(R("{% set ns = namespace(n=0) %}{% for x in [1,2] %}{% set ns.n = ns.n + x %}{% endfor %}{{ ns.n }}"), "3");
  EXPECT_EQ(R("{% for x in range(10) %}{% if x == 3 %}{% break %}{% endif %}{% if x is odd %}{% continue %}{% endif %}{{ x }}{% endfor %}"), "02");
  EXPECT_EQ(R("{% for x in [] %}a{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(R("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", {{"d", {{"b", 1}, {"a", 2}}}}), "b=1;a=2;");
  EXPECT_EQ(R("{% for x in [1,2,3,4] if x is even %}{{ loop.length }}{{ x }}{% endfor %}"), "2224");
  EXPECT_EQ(R("{% for m in ms %}{{ loop.previtem is defined }}{{ loop.nextitem }}{% endfor %}", {{"ms", {1, 2}}}),
            "False2True");
}

TEST(Template, MacrosCallBlocksAndFilterBlocks) {
  EXPECT_EQ(R("{% macro f(a, b='d') %}[{{ a }}{{ b }}]{% endmacro %}{{ f(1) }}{{ f(1, b=2) }}"), "[1d][12]");
  EXPECT_EQ(R("{% macro w() %}<{{ caller() }}>{% endmacro %}{% call w() %}in{% endcall %}"), "<in>");
  EXPECT_EQ(R("{% filter upper %}abc{% endfilter %}{% set x %}v{{ 1 }}{% endset %}{{ x }}"), "ABCv1");
  EXPECT_EQ(R("{% macro r(n) %}{% if n > 0 %}{{ n }}{{ r(n - 1) }}{% endif %}{% endmacro %}{{ r(3) }}"), "321");
}

TEST(Template, FiltersTestsAndMethods) {
  nlohmann::ordered_json ctx = {{"tools", {{{"type", "a"}, {"n", 1}}, {{"type", "b"}, {"n", 2}}}}};
  EXPECT_EQ(R("{{ tools | selectattr('type', 'equalto', 'b') | map(attribute='n') | list }}", ctx), "[2]");
  EXPECT_EQ(R("{{ tools | rejectattr('type', 'equalto', 'b') | length }}", ctx), "1");
  EXPECT_EQ(R("{{ tools[0] | tojson }}|{{ tools[0] | tojson(indent=2) }}", ctx),
            "{\"type\": \"a\", \"n\": 1}|{\n  \"type\": \"a\",\n  \"n\": 1\n}");
  EXPECT_EQ(R("{{ 'é' | tojson }}{{ 'é' | tojson(ensure_ascii=true) }}{{ {'a': [1]} | tojson(separators=(',', ':')) }}"),
            "\"é\"\"\\u00e9\"{\"a\":[1]}");
  EXPECT_EQ(R("{{ '  a b  ' | trim }}|{{ 'a,b'.split(',') }}|{{ ' a  b '.split() }}|{{ 'xxhixx'.strip('x') }}"),
            "a b|['a', 'b']|['a', 'b']|hi");
  EXPECT_EQ(R("{{ 'Ab'.upper() }}{{ 'Ab'.lower() }}{{ 'hello world' | title }}{{ 'abc'.startswith('a') }}{{ 'abc'.endswith(('x', 'c')) }}"),
            "ABabHello WorldTrueTrue");
  EXPECT_EQ(R("{{ 'a\nb' | indent(2) }}|{{ 'a\nb' | indent(2, first=true) }}"), "a\n  b|  a\n  b");
  EXPECT_EQ(R("{{ x | default('d') }}{{ none | default('d') }}{{ '' | default('d', true) }}"), "dNoned");
  EXPECT_EQ(R("{{ [3, 1, 3, 'A', 'a'] | unique | list }}{{ [1,2] | first }}{{ [1,2] | last }}{{ '42' | int + 1 }}"),
            "[3, 1, 'A']1243");
  EXPECT_EQ(R("{{ x is defined }}{{ none is none }}{{ 's' is string }}{{ {} is mapping }}{{ [] is iterable }}{{ 1 is number }}{{ true is true }}{{ 0 is false }}"),
            "FalseTrueTrueTrueTrueTrueTrueFalse");
  EXPECT_EQ(R("{{ {'a': 1}.get('a') }}{{ {'a': 1}.get('b', 2) }}{{ {'a': 1}.keys() | list }}"), "12['a']");
  EXPECT_EQ(R("{{ ['a', 'b'] | join(', ') }}{{ 'x' | safe + '\"' }}"), "a, bx&#34;");
  EXPECT_EQ(R("{{ strftime_now('%d %b %Y') }}"), "26 Jul 2024");
}

TEST(Template, ErrorsNameTheProblem) {
  EXPECT_EQ(R("{{ raise_exception('System role not supported') }}"), "ERR: raise_exception: System role not supported");
  EXPECT_TRUE(absl::StartsWith(R("{% if x %}"), "PARSE: template syntax error at line 1: missing 'elif'"));
  EXPECT_TRUE(absl::StrContains(R("a\n{{ 1 + }}"), "line 2")) << R("a\n{{ 1 + }}");
  EXPECT_TRUE(absl::StrContains(R("{% frob %}"), "unknown or unsupported tag 'frob'"));
  EXPECT_TRUE(absl::StrContains(R("{{ x.y }}"), "'x' is undefined"));
  EXPECT_TRUE(absl::StrContains(R("{{ 1 + 'a' }}"), "unsupported operand"));
  EXPECT_TRUE(absl::StrContains(R("{{ x | nosuch }}"), "no filter named 'nosuch'"));
  EXPECT_TRUE(absl::StrContains(R("{% break %}"), "outside a loop"));
}

TEST(Template, UntrustedTemplatesAreBounded) {
  Limits small;
  small.max_steps = 10000;
  small.max_output_bytes = 1000;
  EXPECT_TRUE(absl::StrContains(R("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", {}, small), "evaluation steps"));
  EXPECT_TRUE(absl::StrContains(R("{{ 'x' * 100000000000 }}", {}, small), "exceeds 1000 bytes"));
  EXPECT_TRUE(absl::StrContains(R("{% for i in range(5000) %}abcdefgh{% endfor %}", {}, small), "exceeds"));
  EXPECT_TRUE(absl::StrContains(R("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"), "nested deeper"));
  EXPECT_TRUE(absl::StrContains(R("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}", {}, small), "nested too deeply"));
  EXPECT_TRUE(absl::StrContains(R("{{ " + std::string(3000, '[') + std::string(3000, ']') + " }}"), "nested too deeply"));
  EXPECT_TRUE(absl::StrContains(R("{{ range(10000000) }}"), "too large"));
  EXPECT_TRUE(absl::StrContains(R("{{ 9223372036854775807 + 1 }}"), "overflow"));
}

// Found while fuzzing (jinja_fuzzer, docs/FUZZING.md): work that produces
// large values within the size limit, repeated in a loop.
TEST(Template, LargeValuesCostStepsByTheirSize) {
  // 100000 iterations of two 8 MB strings: terabytes of copying before;
  // now about 40 iterations reach max_steps.
  EXPECT_TRUE(absl::StrContains(
      R("{% for i in range(100000) %}{% set y = ('a' * 8000000)|upper %}{% endfor %}"),
      "evaluation steps"));
  // An empty `old` inserts `new` between every character: checked as it grows.
  EXPECT_TRUE(absl::StrContains(R("{{ ('a' * 100000).replace('', 'b' * 100000)|length }}"),
                                "exceeds"));
  // Ordinary sizes are unaffected, and repetition is exact.
  EXPECT_EQ(R("{{ ('ab' * 5) }}|{{ ('x' * 100000)|length }}|{{ 'a'.replace('', '-') }}|{{ '' * 3 }}|{{ 'q' * 0 }}"),
            "ababababab|100000|-a-||");
  EXPECT_EQ(R("{% for m in messages %}{{ m * 3 }}{% endfor %}", {{"messages", {"é", "xy"}}}), "éééxyxyxy");
}

}  // namespace
// A namespace may hold itself; printing it (once or with two self-references,
// whose paths double per level) ends, bounded, instead of recursing forever.
TEST(Template, SelfReferentialNamespacesPrintBounded) {
  const std::string once = R("{% set ns = namespace(a=1) %}{% set ns.x = ns %}{{ ns }}");
  EXPECT_TRUE(once.rfind("<Namespace {'a': 1, 'x': <Namespace {", 0) == 0) << once.substr(0, 80);
  EXPECT_NE(once.find("..."), std::string::npos);
  EXPECT_LT(once.size(), 1u << 16);
  const std::string twice = R(
      "{% set ns = namespace(a=1) %}{% set ns.x = ns %}{% set ns.y = ns %}{{ ns|length }}"
      "{{ ns is defined }}{{ (ns ~ '')|length > 0 }}");
  EXPECT_FALSE(twice.empty());
}

}  // namespace triptych::jinja
