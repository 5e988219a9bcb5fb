#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/grammar/json_schema.h"
#include "runtime/grammar/matcher.h"
#include "runtime/tool_calls/tool_call_parser.h"
#include "runtime/tool_calls/tool_format.h"

namespace triptych::tool_calls {
namespace {

constexpr char kWeatherParams[] =
    R"({"type":"object","properties":{"location":{"type":"string","maxLength":12},)"
    R"("unit":{"enum":["celsius","fahrenheit"]}},"required":["location"]})";

TEST(DetectToolFormat, Markers) {
  EXPECT_EQ(DetectToolFormat("{{'<|im_start|>'}}<tool_call>"), ToolFormat::kHermes);
  EXPECT_EQ(DetectToolFormat("[INST][TOOL_CALLS]"), ToolFormat::kMistral);
  EXPECT_EQ(DetectToolFormat("<|start_header_id|>ipython<|end_header_id|>"), ToolFormat::kLlama3);
  EXPECT_EQ(DetectToolFormat("<|start_header_id|>user<|end_header_id|>"), ToolFormat::kNone);
  EXPECT_EQ(DetectToolFormat("<|im_start|>user"), ToolFormat::kNone);
  EXPECT_EQ(DetectToolFormat(""), ToolFormat::kNone);
  // functionary shares Llama 3's headers but writes <function=...> / >>>.
  EXPECT_EQ(DetectToolFormat("<|start_header_id|>ipython <function="),
            ToolFormat::kFunctionaryV31);
  EXPECT_EQ(DetectToolFormat("<|start_header_id|>ipython >>>all"), ToolFormat::kFunctionaryV32);
  EXPECT_EQ(DetectToolFormat("<|START_OF_TURN_TOKEN|>Action:"), ToolFormat::kCommandR);
  EXPECT_EQ(DetectToolFormat("<|START_OF_TURN_TOKEN|>Action: <|START_ACTION|>"),
            ToolFormat::kCommandR7B);
  // gpt-oss comes first, whatever else its template mentions.
  EXPECT_EQ(DetectToolFormat("<|start|>assistant<|channel|>final <tool_call>"),
            ToolFormat::kGptOss);
}

// The 18 real templates of the conformance data, each to its family.
TEST(DetectToolFormat, RealTemplates) {
  const std::string dir = "../shared/conformance/chat_templates/templates/";
  struct Case {
    const char* file;
    ToolFormat format;
  };
  const std::vector<Case> cases = {
      {"CohereForAI-c4ai-command-r-plus-tool_use.jinja", ToolFormat::kCommandR},
      {"CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja", ToolFormat::kCommandR7B},
      {"NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", ToolFormat::kHermes},
      {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", ToolFormat::kHermes},
      {"Qwen-Qwen2.5-7B-Instruct.jinja", ToolFormat::kHermes},
      {"Qwen-Qwen3-0.6B.jinja", ToolFormat::kHermes},
      {"deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja", ToolFormat::kDeepSeekR1},
      {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", ToolFormat::kDeepSeekR1},
      {"google-gemma-2-2b-it.jinja", ToolFormat::kNone},
      {"meetkai-functionary-medium-v3.1.jinja", ToolFormat::kFunctionaryV31},
      {"meetkai-functionary-medium-v3.2.jinja", ToolFormat::kFunctionaryV32},
      {"meta-llama-Llama-3.1-8B-Instruct.jinja", ToolFormat::kLlama3},
      {"meta-llama-Llama-3.2-3B-Instruct.jinja", ToolFormat::kLlama3},
      {"meta-llama-Llama-3.3-70B-Instruct.jinja", ToolFormat::kLlama3},
      {"microsoft-Phi-3.5-mini-instruct.jinja", ToolFormat::kNone},
      {"mistralai-Mistral-Nemo-Instruct-2407.jinja", ToolFormat::kMistral},
      {"openai-gpt-oss-120b.jinja", ToolFormat::kGptOss},
      {"unsloth-mistral-Devstral-Small-2507.jinja", ToolFormat::kMistral},
  };
  for (const Case& c : cases) {
    std::ifstream in(dir + c.file);
    if (!in) {
      const char* ci = std::getenv("CI");
      if (ci != nullptr && std::string(ci) == "true") FAIL() << "missing " << dir << c.file;
      GTEST_SKIP() << "missing " << dir << c.file;
    }
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_EQ(DetectToolFormat(text.str()), c.format) << c.file;
  }
}

TEST(ParseToolCalls, Hermes) {
  ParsedOutput p = ParseToolCalls(
      ToolFormat::kHermes,
      "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": "
      "\"Paris\", \"unit\": \"celsius\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", "
      "\"arguments\": {}}\n</tool_call>");
  EXPECT_EQ(p.content, "Let me check.\n");
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[0].name, "get_weather");
  // Key order is the model's; compact JSON.
  EXPECT_EQ(p.calls[0].arguments, R"({"location":"Paris","unit":"celsius"})");
  EXPECT_EQ(p.calls[1].name, "get_time");
  EXPECT_EQ(p.calls[1].arguments, "{}");
}

TEST(ParseToolCalls, HermesEdgeCases) {
  // Unclosed at the end of the output (the model stopped at <|im_end|>).
  ParsedOutput p = ParseToolCalls(ToolFormat::kHermes,
                                  "<tool_call>{\"name\":\"f\",\"arguments\":{\"a\":1}}");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].arguments, R"({"a":1})");
  EXPECT_EQ(p.content, "");
  // Arguments as a JSON string are unwrapped.
  p = ParseToolCalls(ToolFormat::kHermes,
                     "<tool_call>{\"name\":\"f\",\"arguments\":\"{\\\"a\\\": 2}\"}</tool_call>");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].arguments, R"({"a":2})");
  // A block that does not parse stays content; the good one is a call.
  p = ParseToolCalls(ToolFormat::kHermes,
                     "<tool_call>{\"name\": oops}</tool_call> and "
                     "<tool_call>{\"name\":\"g\"}</tool_call>");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].name, "g");
  EXPECT_EQ(p.content, "<tool_call>{\"name\": oops}</tool_call> and ");
  // No name, empty name, not an object: content.
  for (const char* bad : {"<tool_call>{\"arguments\":{}}</tool_call>",
                          "<tool_call>{\"name\":\"\"}</tool_call>", "<tool_call>[1]</tool_call>",
                          "<tool_call>\xff\xfe</tool_call>", "plain text"}) {
    p = ParseToolCalls(ToolFormat::kHermes, bad);
    EXPECT_TRUE(p.calls.empty()) << bad;
    EXPECT_EQ(p.content, bad);
  }
}

TEST(ParseToolCalls, Llama3) {
  ParsedOutput p = ParseToolCalls(
      ToolFormat::kLlama3, "{\"name\": \"get_weather\", \"parameters\": {\"location\": \"Paris\"}}");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].name, "get_weather");
  EXPECT_EQ(p.calls[0].arguments, R"({"location":"Paris"})");
  EXPECT_EQ(p.content, "");
  // <|python_tag|> and several calls separated by ';'.
  p = ParseToolCalls(ToolFormat::kLlama3,
                     "<|python_tag|>{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", "
                     "\"arguments\": {\"x\": [1, \"}\"]}}");
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[1].name, "b");
  EXPECT_EQ(p.calls[1].arguments, R"({"x":[1,"}"]})");
  // Text first (no tag): content; JSON without a name: content.
  for (const char* text : {"The answer is {\"name\": \"a\"}", "{\"x\": 1}", "{\"name\": \"a\"",
                           "<|python_tag|>brave_search.call(query=\"x\")"}) {
    p = ParseToolCalls(ToolFormat::kLlama3, text);
    EXPECT_TRUE(p.calls.empty()) << text;
    EXPECT_EQ(p.content, text);
  }
}

TEST(ParseToolCalls, Mistral) {
  ParsedOutput p = ParseToolCalls(
      ToolFormat::kMistral,
      "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}, \"id\": "
      "\"abcdefghi\"}, {\"name\": \"t\", \"arguments\": {}}]");
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[0].name, "get_weather");
  EXPECT_EQ(p.calls[0].arguments, R"({"location":"Paris"})");
  EXPECT_EQ(p.calls[1].name, "t");
  // Marker dropped by the detokenizer (a control token): the array alone.
  p = ParseToolCalls(ToolFormat::kMistral, " [{\"name\": \"f\", \"arguments\": {\"a\": 1}}]");
  ASSERT_EQ(p.calls.size(), 1u);
  // Devstral: name[ARGS]{...}, repeated with [TOOL_CALLS].
  p = ParseToolCalls(ToolFormat::kMistral,
                     "Sure.[TOOL_CALLS]get_weather[ARGS]{\"location\": \"Paris\"}[TOOL_CALLS]"
                     "get_time[ARGS]{}");
  EXPECT_EQ(p.content, "Sure.");
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[0].name, "get_weather");
  EXPECT_EQ(p.calls[0].arguments, R"({"location":"Paris"})");
  EXPECT_EQ(p.calls[1].name, "get_time");
  for (const char* text : {"[1, 2]", "[TOOL_CALLS]not json", "hello", "[{\"name\": 3}]"}) {
    p = ParseToolCalls(ToolFormat::kMistral, text);
    EXPECT_TRUE(p.calls.empty()) << text;
    EXPECT_EQ(p.content, text);
  }
}

// DeepSeek R1's markers.
const std::string kDsBegin = "<\uFF5Ctool\u2581calls\u2581begin\uFF5C>";
const std::string kDsEnd = "<\uFF5Ctool\u2581calls\u2581end\uFF5C>";
const std::string kDsCall = "<\uFF5Ctool\u2581call\u2581begin\uFF5C>";
const std::string kDsCallEnd = "<\uFF5Ctool\u2581call\u2581end\uFF5C>";
const std::string kDsSep = "<\uFF5Ctool\u2581sep\uFF5C>";

std::string DsCall(const std::string& name, const std::string& args) {
  return kDsCall + "function" + kDsSep + name + "\n```json\n" + args + "\n```" + kDsCallEnd;
}

TEST(ParseToolCalls, DeepSeekR1) {
  ParsedOutput p = ParseToolCalls(
      ToolFormat::kDeepSeekR1,
      "Let me look.\n" + kDsBegin + DsCall("get_weather", "{\"location\": \"Paris\"}") +
          DsCall("get_time", "{}") + kDsEnd);
  EXPECT_EQ(p.content, "Let me look.\n");
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[0].name, "get_weather");
  EXPECT_EQ(p.calls[0].arguments, R"({"location":"Paris"})");
  EXPECT_EQ(p.calls[1].name, "get_time");
  for (const std::string& text : {std::string("no calls"), kDsBegin + "garbage",
                                  kDsBegin + kDsCall + "function" + kDsSep + "f\n```json\n{bad"}) {
    p = ParseToolCalls(ToolFormat::kDeepSeekR1, text);
    EXPECT_TRUE(p.calls.empty()) << text;
    EXPECT_EQ(p.content, text);
  }
}

TEST(ParseToolCalls, NoneIsContent) {
  ParsedOutput p = ParseToolCalls(ToolFormat::kNone, "<tool_call>{\"name\":\"f\"}</tool_call>");
  EXPECT_TRUE(p.calls.empty());
  EXPECT_EQ(p.content, "<tool_call>{\"name\":\"f\"}</tool_call>");
}

// Streams `text` in pieces of `step` bytes; returns content, reasoning and
// calls (each assembled from its pieces, which must come in order: a call's
// first piece names it and takes the next index). `early_pieces`: per call,
// how many pieces with arguments came before Finish().
ParsedOutput StreamAll(ToolFormat format, const std::string& text, size_t step,
                       std::vector<std::string>* contents = nullptr,
                       std::vector<int>* early_pieces = nullptr) {
  ToolCallStream s(format);
  ParsedOutput out;
  std::vector<int> early;
  auto take = [&](ToolCallStream::Delta d, bool finish) {
    if (contents != nullptr && !d.content.empty())
      contents->push_back(d.content);
    out.content += d.content;
    out.reasoning += d.reasoning;
    for (ToolCallDelta& piece : d.tool_calls) {
      if (!piece.name.empty()) {
        EXPECT_EQ(piece.index, static_cast<int>(out.calls.size())) << text;
        out.calls.push_back({piece.name, ""});
        early.push_back(0);
      }
      if (piece.index < 0 ||
          piece.index >= static_cast<int>(out.calls.size())) {
        ADD_FAILURE() << "piece of an unknown call " << piece.index << ": "
                      << text;
        continue;
      }
      out.calls[piece.index].arguments += piece.arguments;
      if (!finish && !piece.arguments.empty()) ++early[piece.index];
    }
  };
  for (size_t i = 0; i < text.size(); i += step)
    take(s.Push(text.substr(i, step)), false);
  take(s.Finish(), true);
  EXPECT_EQ(s.calls_emitted(), static_cast<int>(out.calls.size())) << text;
  if (early_pieces != nullptr) *early_pieces = early;
  return out;
}

// Arguments go to clients as JSON text: a JSON string holding JSON is
// unwrapped, one that is not JSON makes no call (found by the fuzzer).
TEST(ParseToolCalls, StringArgumentsMustBeJson) {
  ParsedOutput p = ParseToolCalls(ToolFormat::kLlama3,
                                  R"({"name": "f", "parameters": "{\"a\": 1}"})");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].arguments, R"({"a":1})");
  const std::string bad = R"({"name": "f", "parameters": "f"})";
  p = ParseToolCalls(ToolFormat::kLlama3, bad);
  EXPECT_TRUE(p.calls.empty());
  EXPECT_EQ(p.content, bad);
  p = ParseToolCalls(ToolFormat::kHermes, R"(<tool_call>{"name": "f", "arguments": "x"}</tool_call>)");
  EXPECT_TRUE(p.calls.empty());
}

TEST(ParseToolCalls, FunctionaryV31) {
  ParsedOutput p = ParseToolCalls(
      ToolFormat::kFunctionaryV31,
      "Let me look.<function=get_weather>{\"location\": \"Paris\"}</function>"
      "<function=get_time>{}</function>");
  EXPECT_EQ(p.content, "Let me look.");
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[0].name, "get_weather");
  EXPECT_EQ(p.calls[0].arguments, R"({"location":"Paris"})");
  EXPECT_EQ(p.calls[1].name, "get_time");
  EXPECT_EQ(p.calls[1].arguments, "{}");
  // Unclosed at the end still counts when the JSON is whole.
  p = ParseToolCalls(ToolFormat::kFunctionaryV31, "<function=f>{\"a\": 1}");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.content, "");
  // Bad name, bad JSON, non-object: content, nothing dropped.
  for (const char* bad : {"<function=a b>{}</function>", "<function=f>{\"a\": }</function>",
                          "<function=f>[1]</function>", "a <function= tag"}) {
    p = ParseToolCalls(ToolFormat::kFunctionaryV31, bad);
    EXPECT_TRUE(p.calls.empty()) << bad;
    EXPECT_EQ(p.content, bad);
  }
}

TEST(ParseToolCalls, FunctionaryV32) {
  // The generation prompt ends in ">>>": the reply starts with a recipient.
  ParsedOutput p = ParseToolCalls(ToolFormat::kFunctionaryV32, "all\nHello there");
  EXPECT_EQ(p.content, "Hello there");
  EXPECT_TRUE(p.calls.empty());
  p = ParseToolCalls(ToolFormat::kFunctionaryV32,
                     "all\nChecking.>>>get_weather\n{\"location\": \"Rome\"}>>>get_time\n{}");
  EXPECT_EQ(p.content, "Checking.");
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[0].name, "get_weather");
  EXPECT_EQ(p.calls[0].arguments, R"({"location":"Rome"})");
  EXPECT_EQ(p.calls[1].name, "get_time");
  p = ParseToolCalls(ToolFormat::kFunctionaryV32, "get_time\n{\"tz\": \"UTC\"}");
  EXPECT_EQ(p.content, "");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].arguments, R"({"tz":"UTC"})");
  // No recipient line, a body that is not JSON: content as written.
  for (const char* bad : {"Hello", "Hello world\nmore", "f\nnot json", "all\nx>>>g\n[1]"}) {
    p = ParseToolCalls(ToolFormat::kFunctionaryV32, bad);
    EXPECT_TRUE(p.calls.empty()) << bad;
  }
  EXPECT_EQ(ParseToolCalls(ToolFormat::kFunctionaryV32, "f\nnot json").content, "f\nnot json");
  EXPECT_EQ(ParseToolCalls(ToolFormat::kFunctionaryV32, "all\nx>>>g\n[1]").content,
            "x>>>g\n[1]");
}

TEST(ParseToolCalls, CommandR) {
  // Command R+ as its template renders an action list.
  const std::string plus =
      "I will search.\nAction:\n```json\n[\n    {\n        \"tool_name\": \"internet_search\",\n"
      "        \"parameters\": {\n            \"query\": \"weather\"\n        }\n    }\n]```\n";
  ParsedOutput p = ParseToolCalls(ToolFormat::kCommandR, plus);
  EXPECT_EQ(p.content, "I will search.\n");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].name, "internet_search");
  EXPECT_EQ(p.calls[0].arguments, R"({"query":"weather"})");
  // R7B, with and without its (control-token) markers.
  const std::string list =
      R"([{"tool_call_id": "0", "tool_name": "f", "parameters": {"a": 1}}, )"
      R"({"tool_call_id": "1", "tool_name": "g", "parameters": {}}])";
  for (const std::string& text : {"<|START_ACTION|>" + list + "<|END_ACTION|>", list}) {
    p = ParseToolCalls(ToolFormat::kCommandR7B, text);
    EXPECT_EQ(p.content, "") << text;
    ASSERT_EQ(p.calls.size(), 2u) << text;
    EXPECT_EQ(p.calls[0].name, "f");
    EXPECT_EQ(p.calls[0].arguments, R"({"a":1})");
    EXPECT_EQ(p.calls[1].name, "g");
  }
  // directly-answer is no call; malformed lists stay content.
  const std::string direct =
      "Action: ```json\n[{\"tool_name\": \"directly-answer\", \"parameters\": {}}]\n```";
  for (const std::string& text :
       {direct, std::string("Action: [{\"name\": \"f\"}]"), std::string("[1, 2]"),
        std::string("Action: none")}) {
    p = ParseToolCalls(ToolFormat::kCommandR, text);
    EXPECT_TRUE(p.calls.empty()) << text;
    EXPECT_EQ(p.content, text);
  }
}

// gpt-oss (harmony): channels and calls as the model writes them.
constexpr char kHarmonyCall[] =
    "<|channel|>analysis<|message|>Need the weather.<|end|>"
    "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
    "<|message|>{\"location\": \"Paris\"}<|call|>";

TEST(ParseToolCalls, GptOss) {
  ParsedOutput p = ParseToolCalls(ToolFormat::kGptOss, kHarmonyCall);
  EXPECT_EQ(p.content, "");
  EXPECT_EQ(p.reasoning, "Need the weather.");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].name, "get_weather");
  EXPECT_EQ(p.calls[0].arguments, R"({"location":"Paris"})");
  // The engine ends at <|call|> / <|return|> (end-of-generation tokens):
  // the text then stops before them.
  p = ParseToolCalls(ToolFormat::kGptOss,
                     "<|channel|>analysis<|message|>Think.<|end|><|start|>assistant"
                     "<|channel|>final<|message|>It is sunny.");
  EXPECT_EQ(p.content, "It is sunny.");
  EXPECT_EQ(p.reasoning, "Think.");
  EXPECT_TRUE(p.calls.empty());
  // The recipient before the channel (the template's own layout), a
  // preamble in commentary, two calls, the final answer with <|return|>.
  p = ParseToolCalls(ToolFormat::kGptOss,
                     "<|channel|>commentary<|message|>Checking both.<|end|>"
                     "<|start|>assistant to=functions.get_time<|channel|>commentary json"
                     "<|message|>{}<|call|>"
                     "<|start|>assistant<|channel|>commentary to=functions.get_weather"
                     "<|message|> {\"location\": \"Oslo\"} <|call|>");
  EXPECT_EQ(p.content, "Checking both.");
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[0].name, "get_time");
  EXPECT_EQ(p.calls[0].arguments, "{}");
  EXPECT_EQ(p.calls[1].name, "get_weather");
  EXPECT_EQ(p.calls[1].arguments, R"({"location":"Oslo"})");
  p = ParseToolCalls(ToolFormat::kGptOss, "<|channel|>final<|message|>Done.<|return|>");
  EXPECT_EQ(p.content, "Done.");
  // A message with no <|end|> before the next <|start|>.
  p = ParseToolCalls(ToolFormat::kGptOss,
                     "<|channel|>analysis<|message|>a<|start|>assistant<|channel|>final"
                     "<|message|>b");
  EXPECT_EQ(p.reasoning, "a");
  EXPECT_EQ(p.content, "b");
  // Not harmony, or broken: content as written, nothing dropped.
  for (const std::string text :
       {std::string("Plain text without channels."), std::string("a <|message|> b"),
        std::string(300, 'x') + "<|channel|>final<|message|>late header"}) {
    p = ParseToolCalls(ToolFormat::kGptOss, text);
    EXPECT_EQ(p.content, text);
    EXPECT_EQ(p.reasoning, "");
    EXPECT_TRUE(p.calls.empty());
  }
  // A call whose body is not a JSON object stays content; other recipients
  // (built-in tools this server does not run) are content too.
  p = ParseToolCalls(ToolFormat::kGptOss,
                     "<|channel|>commentary to=functions.f <|constrain|>json<|message|>{bad"
                     "<|call|>");
  EXPECT_TRUE(p.calls.empty());
  EXPECT_EQ(p.content, "{bad");
  p = ParseToolCalls(ToolFormat::kGptOss,
                     "<|channel|>analysis to=browser.search<|message|>{\"query\": \"x\"}");
  EXPECT_TRUE(p.calls.empty());
  EXPECT_EQ(p.content, R"({"query": "x"})");
}

TEST(ToolCallStream, GptOssStreamsChannelsAsTheyCome) {
  ToolCallStream s(ToolFormat::kGptOss);
  ToolCallStream::Delta d = s.Push("<|channel|>anal");
  EXPECT_EQ(d.content, "");
  EXPECT_EQ(d.reasoning, "");
  d = s.Push("ysis<|message|>Think <|e");
  EXPECT_EQ(d.reasoning, "Think ");  // "<|e" may start <|end|>
  d = s.Push("nd|><|start|>assistant<|channel|>final<|message|>Sun");
  EXPECT_EQ(d.reasoning, "");
  EXPECT_EQ(d.content, "Sun");
  d = s.Push("ny <|x");
  EXPECT_EQ(d.content, "ny <|x");  // no end marker starts with "<|x"
  d = s.Finish();
  EXPECT_EQ(d.content, "");
  EXPECT_EQ(s.calls_emitted(), 0);
  // A call comes out when its body ends.
  ToolCallStream c(ToolFormat::kGptOss);
  d = c.Push(
      "<|channel|>commentary to=functions.f "
      "<|constrain|>json<|message|>{\"a\": ");
  ASSERT_EQ(d.tool_calls.size(), 1u);  // the arguments stream as they come
  EXPECT_EQ(d.tool_calls[0].name, "f");
  EXPECT_EQ(d.tool_calls[0].arguments, R"({"a":)");
  d = c.Push("1}");
  ASSERT_EQ(d.tool_calls.size(), 1u);
  EXPECT_EQ(d.tool_calls[0].index, 0);
  EXPECT_EQ(d.tool_calls[0].name, "");
  EXPECT_EQ(d.tool_calls[0].arguments, "1}");
  EXPECT_TRUE(c.Push("<|call|>").tool_calls.empty());
  EXPECT_EQ(c.calls_emitted(), 1);
}

TEST(PreservedTokenTexts, OnlyGptOssKeepsControlTokens) {
  const std::vector<std::string> harmony = PreservedTokenTexts(ToolFormat::kGptOss);
  for (const char* t : {"<|start|>", "<|channel|>", "<|message|>", "<|constrain|>", "<|end|>",
                        "<|call|>", "<|return|>"}) {
    EXPECT_NE(std::find(harmony.begin(), harmony.end(), t), harmony.end()) << t;
  }
  EXPECT_TRUE(PreservedTokenTexts(ToolFormat::kHermes).empty());
  EXPECT_TRUE(PreservedTokenTexts(ToolFormat::kNone).empty());
  EXPECT_TRUE(ParsesWithoutTools(ToolFormat::kGptOss));
  EXPECT_FALSE(ParsesWithoutTools(ToolFormat::kHermes));
}

// A long arguments object: escapes, numbers nlohmann writes differently
// (1.50, 1E2, -0.0), raw UTF-8, nesting.
const char kLongArgs[] =
    R"({"path": "/tmp/notes.txt", "content": "line one\nline two \"quoted\" \u00e9 \ud83d\ude00)"
    R"( \/ caf)"
    "\xc3\xa9"
    R"( \t end", "mode": 420, "ratio": 1.50, "big": 1E2, "neg": -0.0,)"
    R"( "flags": [true, false, null], "nested": {"k": [1, 2, {"x": "y"}]}, "empty": {}})";

// Every format's stream against ParseToolCalls, in pieces of 1, 2, 3, 7 and
// all bytes: the same content and reasoning, and the calls assembled from
// their pieces are the whole parse's (names, arguments, order). `extra`:
// calls that began to stream and turned out malformed (the whole parse has
// their text as content); they stay, and the whole parse's calls are the
// others, in order.
TEST(ToolCallStream, MatchesWholeParse) {
  struct Case {
    ToolFormat format;
    std::string text;
    int extra = 0;
  };
  const std::string long_args = kLongArgs;
  const std::vector<Case> cases = {
      {ToolFormat::kHermes,
       "Checking <tool> tags.\n<tool_call>\n{\"name\": \"f\", \"arguments\": "
       "{\"a\": \"<tool_call>\"}}"
       "\n</tool_call>\n<tool_call>{\"name\":\"g\",\"arguments\":{}}</"
       "tool_call> done"},
      {ToolFormat::kHermes, "no calls here, only <tool_ and text"},
      {ToolFormat::kHermes, "<tool_call>{\"name\": broken</tool_call>"},
      {ToolFormat::kLlama3, "  {\"name\": \"f\", \"parameters\": {\"a\": 1}}"},
      {ToolFormat::kLlama3, "Hello {\"name\": \"f\"}"},
      {ToolFormat::kLlama3,
       "Text <|python_tag|>{\"name\": \"f\", \"parameters\": {}}"},
      {ToolFormat::kMistral,
       "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {\"b\": [1]}}]"},
      {ToolFormat::kMistral, "[{\"name\": \"f\", \"arguments\": {}}]"},
      {ToolFormat::kMistral, "[1] is a citation"},
      {ToolFormat::kNone, "anything <tool_call>"},
      {ToolFormat::kDeepSeekR1,
       "Hi " + kDsBegin + DsCall("f", "{\"a\": [1]}") + kDsEnd + " bye"},
      {ToolFormat::kFunctionaryV31,
       "Hm <func <function=f>{\"a\": \"</function>\"}</function> x "
       "<function=g>{}</function>"},
      {ToolFormat::kFunctionaryV31, "<function=f>{bad</function> and text", 1},
      {ToolFormat::kFunctionaryV32,
       "all\nSure, >> checking.>>>f\n{\"a\": 1}>>>g\n{}"},
      {ToolFormat::kFunctionaryV32, "f\n{\"a\": 1}"},
      {ToolFormat::kFunctionaryV32, "all\nonly text"},
      {ToolFormat::kFunctionaryV32,
       "No recipient line at all, a long reply of plain text."},
      {ToolFormat::kFunctionaryV32, "hello world\nf>>>g\n{}"},
      {ToolFormat::kCommandR,
       "Plan: Act.\nAction:\n```json\n[{\"tool_name\": \"f\", \"parameters\": "
       "{}}]\n```"},
      {ToolFormat::kCommandR, "Action: maybe later"},
      // A bare list (found by the fuzzer: the stream did not take it).
      {ToolFormat::kCommandR,
       "\n[{\"x\": \"0\", \"tool_name\": \"f\", \"parameters\": {\"a\": "
       "[2]}}]"},
      {ToolFormat::kCommandR7B,
       "[{\"tool_call_id\": \"0\", \"tool_name\": \"f\", \"parameters\": "
       "{\"x\": [1]}}]"},
      {ToolFormat::kCommandR7B,
       "text <|START_ACTION|>[{\"tool_name\": \"f\"}]<|END_ACTION|>"},
      {ToolFormat::kGptOss, kHarmonyCall},
      {ToolFormat::kGptOss,
       "<|channel|>analysis<|message|>Hm <|en "
       "<|end|><|start|>assistant<|channel|>final"
       "<|message|>Answer <|ret <|return|>"},
      {ToolFormat::kGptOss,
       "<|channel|>commentary<|message|>pre<|end|><|start|>assistant "
       "to=functions.g"
       "<|channel|>commentary json<|message|>{\"x\": "
       "[1]}<|call|><|start|>assistant"
       "<|channel|>commentary to=functions.h "
       "<|constrain|>json<|message|>{bad}<|call|>",
       1},
      {ToolFormat::kGptOss,
       "Plain answer, no channels, long enough to pass a few pieces."},
      {ToolFormat::kGptOss,
       "<|channel|>analysis<|message|>a<|start|>x<|channel|>final<|message|>b"},
      {ToolFormat::kGptOss, std::string(200, 'y') + "<|message|>z"},
      {ToolFormat::kGptOss,
       "<|channel|>final<|message|>ok<|end|>trailing junk"},
      // Arguments streamed (and compacted on the fly) in every format that
      // streams them.
      {ToolFormat::kHermes,
       "Sure.\n<tool_call>\n{\"name\": \"write\", \"arguments\": " + long_args +
           "}\n</tool_call>\n<tool_call>\n{\"name\": \"g\", " +
           "\"arguments\": {\"a\": [1, {}]}}\n</tool_call>"},
      {ToolFormat::kHermes,
       "<tool_call>{\"name\": \"write\", \"arguments\": " + long_args + "}"},
      {ToolFormat::kLlama3,
       "<|python_tag|>{\"name\": \"write\", \"parameters\": " + long_args +
           "}; {\"name\": \"b\", \"parameters\": {\"y\": [1, 2]}}"},
      {ToolFormat::kLlama3,
       "{\"name\": \"write\", \"parameters\": " + long_args + "}"},
      {ToolFormat::kMistral,
       "[TOOL_CALLS][{\"name\": \"write\", \"arguments\": " + long_args +
           ", \"id\": \"abcdefghi\"}, {\"name\": \"t\", \"arguments\": {}}]"},
      {ToolFormat::kMistral,
       "Ok.[TOOL_CALLS]write[ARGS]" + long_args + "[TOOL_CALLS]t[ARGS]{}"},
      {ToolFormat::kFunctionaryV31,
       "Hi.<function=write>" + long_args + "</function>"},
      {ToolFormat::kFunctionaryV32,
       "all\nChecking.>>>write\n" + long_args + ">>>t\n{}>>>all\nDone."},
      {ToolFormat::kFunctionaryV32, "write\n" + long_args},
      {ToolFormat::kFunctionaryV32, "all\nx>>>g\n[1]>>>f\n{\"a\": \"b>c>>d\"}"},
      {ToolFormat::kGptOss,
       "<|channel|>analysis<|message|>Write "
       "it.<|end|><|start|>assistant<|channel|>commentary "
       "to=functions.write <|constrain|>json<|message|>" +
           long_args + "<|call|>"},
      // Calls that cannot stream come out whole: the name after the
      // arguments, arguments as a JSON string or missing, null then
      // "parameters"; and so do the calls after them.
      {ToolFormat::kHermes,
       "<tool_call>{\"arguments\": {\"a\": 1}, \"name\": \"f\"}</tool_call>"
       "<tool_call>{\"name\": \"g\", \"arguments\": \"{\\\"b\\\": "
       "2}\"}</tool_call>"
       "<tool_call>{\"name\": \"h\"}</tool_call>"
       "<tool_call>{\"name\": \"i\", \"arguments\": null, \"parameters\": "
       "{\"c\": 3}}</tool_call>"},
      {ToolFormat::kLlama3,
       "{\"name\": \"a\", \"parameters\": {}}; {\"parameters\": {\"x\": 1}, "
       "\"name\": \"b\"};"
       " {\"name\": \"c\", \"parameters\": {}}"},
      {ToolFormat::kHermes,
       "<tool_call>{\"name\": \"f\", \"parameters\": {\"a\": 1}, "
       "\"arguments\": {\"b\": 2}}"
       "</tool_call>"},
      // Malformed after the call began: the call stays, its text is content.
      {ToolFormat::kHermes,
       "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": tru}}</tool_call>",
       1},
      {ToolFormat::kHermes,
       "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1, \"a\": "
       "2}}</tool_call> "
       "<tool_call>{\"name\": \"g\", \"arguments\": {}}</tool_call>",
       1},
      {ToolFormat::kHermes,
       "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}} "
       "junk</tool_call>",
       1},
      {ToolFormat::kHermes,
       "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": "
       "\"x</tool_call>\"}}</tool_call>",
       1},
      {ToolFormat::kHermes,
       "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": [1, ", 1},
      {ToolFormat::kLlama3,
       "{\"name\": \"f\", \"parameters\": {\"a\": 1}} x; {\"name\": \"g\"}", 0},
      {ToolFormat::kLlama3, "{\"name\": \"f\", \"parameters\": {\"a\": nul}}",
       1},
      {ToolFormat::kMistral,
       "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {}}, {\"name\": \"g\", "
       "\"arguments\": {\"a\": "
       "\"\\q\"}}]",
       2},
      {ToolFormat::kMistral, "[TOOL_CALLS]f[ARGS]{\"a\": \"\\ud83d\"}", 1},
      {ToolFormat::kFunctionaryV31,
       "<function=f>{\"a\": 1, \"a\": 1}</function>", 1},
      {ToolFormat::kGptOss,
       "<|channel|>commentary to=functions.f "
       "<|constrain|>json<|message|>{\"a\": 1} and more",
       1},
      {ToolFormat::kFunctionaryV32, "all\nHm.>>>f\n{\"a\": \"x>>>g\n{}", 1},
      {ToolFormat::kFunctionaryV32, "f\n{\"a\": 1} trailing>>>g\n{}", 1},
  };
  for (const Case& c : cases) {
    const ParsedOutput whole = ParseToolCalls(c.format, c.text);
    std::optional<std::vector<ToolCall>> first;  // the calls of the first step
    for (size_t step : {1, 2, 3, 7, 10000}) {
      const ParsedOutput streamed = StreamAll(c.format, c.text, step);
      const std::string where = c.text + " step " + std::to_string(step);
      EXPECT_EQ(streamed.content, whole.content) << where;
      EXPECT_EQ(streamed.reasoning, whole.reasoning) << where;
      ASSERT_EQ(streamed.calls.size(), whole.calls.size() + c.extra) << where;
      // The whole parse's calls, in order, among the streamed ones.
      size_t j = 0;
      for (const ToolCall& call : streamed.calls) {
        if (j < whole.calls.size() && call == whole.calls[j]) ++j;
      }
      EXPECT_EQ(j, whole.calls.size()) << where;
      if (c.extra == 0) {
        for (size_t i = 0; i < whole.calls.size(); ++i) {
          EXPECT_EQ(streamed.calls[i].name, whole.calls[i].name) << where;
          EXPECT_EQ(streamed.calls[i].arguments, whole.calls[i].arguments)
              << where;
        }
      }
      if (!first.has_value()) first = streamed.calls;
      EXPECT_EQ(streamed.calls, *first) << where;
    }
  }
}

// A long arguments object goes out in many fragments before the output
// ends, each whole UTF-8 (each becomes a JSON string in a chunk of its
// own), and the call's name goes first.
TEST(ToolCallStream, StreamsArgumentsAsTheyAreGenerated) {
  const std::string long_args = kLongArgs;
  const std::vector<std::pair<ToolFormat, std::string>> cases = {
      {ToolFormat::kHermes,
       "<tool_call>\n{\"name\": \"write\", \"arguments\": " + long_args +
           "}\n</tool_call>"},
      {ToolFormat::kLlama3,
       "{\"name\": \"write\", \"parameters\": " + long_args + "}"},
      {ToolFormat::kMistral,
       "[TOOL_CALLS][{\"name\": \"write\", \"arguments\": " + long_args + "}]"},
      {ToolFormat::kMistral, "[TOOL_CALLS]write[ARGS]" + long_args},
      {ToolFormat::kFunctionaryV31,
       "<function=write>" + long_args + "</function>"},
      {ToolFormat::kFunctionaryV32, "all\nSure.>>>write\n" + long_args},
      {ToolFormat::kGptOss,
       "<|channel|>commentary to=functions.write <|constrain|>json<|message|>" +
           long_args + "<|call|>"},
  };
  for (const auto& [format, text] : cases) {
    const ParsedOutput whole = ParseToolCalls(format, text);
    ASSERT_EQ(whole.calls.size(), 1u) << text;
    for (size_t step : {1, 2, 3, 7}) {
      ToolCallStream s(format);
      std::string args;
      int fragments = 0;
      bool named = false;
      for (size_t i = 0; i < text.size(); i += step) {
        for (const ToolCallDelta& d : s.Push(text.substr(i, step)).tool_calls) {
          EXPECT_EQ(d.index, 0);
          if (!d.name.empty()) {
            EXPECT_FALSE(named);
            named = true;
            EXPECT_EQ(d.name, "write");
          }
          EXPECT_TRUE(named) << "arguments before the name";
          args += d.arguments;
          if (d.arguments.empty()) continue;
          ++fragments;
          EXPECT_NO_THROW(nlohmann::json(d.arguments).dump())
              << "cut UTF-8: " << d.arguments;
        }
      }
      EXPECT_TRUE(s.Finish().tool_calls.empty()) << text << " step " << step;
      EXPECT_EQ(args, whole.calls[0].arguments) << text << " step " << step;
      EXPECT_GT(fragments, 10) << text << " step " << step;
    }
  }
  // The compact form, checked once by hand.
  EXPECT_EQ(ParseToolCalls(ToolFormat::kFunctionaryV31,
                           "<function=w>" + long_args + "</function>")
                .calls.at(0)
                .arguments,
            "{\"path\":\"/tmp/notes.txt\",\"content\":\"line one\\nline two "
            "\\\"quoted\\\" \xc3\xa9 "
            "\xf0\x9f\x98\x80 / caf\xc3\xa9 \\t "
            "end\",\"mode\":420,\"ratio\":1.5,\"big\":100.0,"
            "\"neg\":-0.0,\"flags\":[true,false,null],\"nested\":{\"k\":[1,2,{"
            "\"x\":\"y\"}]},"
            "\"empty\":{}}");
}

// Piece by piece: the name as soon as the arguments start, then the
// arguments as they are decided (a number waits for its end).
TEST(ToolCallStream, HermesPiecesInOrder) {
  ToolCallStream s(ToolFormat::kHermes);
  ToolCallStream::Delta d =
      s.Push("Let me check.\n<tool_call>\n{\"name\": \"get_weather\", ");
  EXPECT_EQ(d.content, "Let me check.\n");
  EXPECT_TRUE(d.tool_calls.empty());
  d = s.Push("\"arguments\": {\"location\": \"Par");
  ASSERT_EQ(d.tool_calls.size(), 1u);
  EXPECT_EQ(d.tool_calls[0].index, 0);
  EXPECT_EQ(d.tool_calls[0].name, "get_weather");
  EXPECT_EQ(d.tool_calls[0].arguments, R"({"location":"Par)");
  d = s.Push("is\", \"days\": 12");
  ASSERT_EQ(d.tool_calls.size(), 1u);
  EXPECT_EQ(d.tool_calls[0].name, "");
  EXPECT_EQ(d.tool_calls[0].arguments, R"(is","days":)");
  d = s.Push("}}\n</tool_");
  ASSERT_EQ(d.tool_calls.size(), 1u);
  EXPECT_EQ(d.tool_calls[0].arguments, "12}");
  d = s.Push(
      "call>\n<tool_call>{\"name\": \"g\", \"arguments\": {}}</tool_call>");
  ASSERT_EQ(d.tool_calls.size(), 1u);
  EXPECT_EQ(d.tool_calls[0].index, 1);
  EXPECT_EQ(d.tool_calls[0].name, "g");
  EXPECT_EQ(d.tool_calls[0].arguments, "{}");
  EXPECT_EQ(s.calls_emitted(), 2);
  d = s.Finish();
  EXPECT_TRUE(d.tool_calls.empty());
  EXPECT_EQ(d.content, "");
}

// Malformed after the call began: the call stays as streamed and the
// block's text is content (nothing is dropped); the next call still parses.
TEST(ToolCallStream, MalformedAfterStreamingIsContentToo) {
  const std::string text =
      "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": tru}}</tool_call>\n"
      "<tool_call>{\"name\": \"g\", \"arguments\": {\"b\": 1}}</tool_call>";
  const ParsedOutput whole = ParseToolCalls(ToolFormat::kHermes, text);
  ASSERT_EQ(whole.calls.size(), 1u);
  EXPECT_EQ(
      whole.content,
      "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": tru}}</tool_call>");
  const ParsedOutput streamed = StreamAll(ToolFormat::kHermes, text, 5);
  EXPECT_EQ(streamed.content, whole.content);
  ASSERT_EQ(streamed.calls.size(), 2u);
  EXPECT_EQ(streamed.calls[0].name, "f");
  EXPECT_EQ(streamed.calls[0].arguments, R"({"a":tru})");  // as read: not JSON
  EXPECT_EQ(streamed.calls[1], whole.calls[0]);
}

// An object that repeats a key is no JSON for the parsers (nlohmann would
// keep the last value, which a stream has already sent).
TEST(ParseToolCalls, RepeatedKeysAreNotJson) {
  ParsedOutput p = ParseToolCalls(
      ToolFormat::kHermes,
      R"(<tool_call>{"name": "f", "arguments": {"a": 1, "a": 2}}</tool_call>)");
  EXPECT_TRUE(p.calls.empty());
  p = ParseToolCalls(ToolFormat::kLlama3,
                     R"({"name": "f", "name": "g", "parameters": {}})");
  EXPECT_TRUE(p.calls.empty());
  // The same key in different objects is fine.
  p = ParseToolCalls(ToolFormat::kLlama3,
                     R"({"name": "f", "parameters": {"name": {"name": 1}}})");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].arguments, R"({"name":{"name":1}})");
}

TEST(ToolCallStream, StreamsContentAndHoldsMarkerPrefixes) {
  ToolCallStream s(ToolFormat::kHermes);
  EXPECT_EQ(s.Push("Hello wor").content, "Hello wor");
  EXPECT_EQ(s.Push("ld <tool").content, "ld ");  // "<tool" may start <tool_call>
  EXPECT_EQ(s.Push("s> ok").content, "<tools> ok");
  ToolCallStream::Delta d = s.Push("<tool_call>{\"name\":\"f\",\"arguments\":{}}</tool_call>");
  EXPECT_EQ(d.content, "");
  ASSERT_EQ(d.tool_calls.size(), 1u);  // a closed block comes out at once
  EXPECT_EQ(d.tool_calls[0].name, "f");
  EXPECT_EQ(d.tool_calls[0].arguments, "{}");
  EXPECT_EQ(s.calls_emitted(), 1);
  d = s.Finish();
  EXPECT_TRUE(d.tool_calls.empty());
  EXPECT_EQ(d.content, "");
}

// The constraint's accepted text parses back into the call, for each format.
TEST(ToolCallConstraint, AcceptedOutputParses) {
  const std::vector<ToolDef> tools = {{"get_weather", kWeatherParams}, {"get_time", ""}};
  for (ToolFormat format : {ToolFormat::kHermes, ToolFormat::kLlama3, ToolFormat::kMistral}) {
    const char* key = format == ToolFormat::kLlama3 ? "parameters" : "arguments";
    // Named (one tool): literal envelope, then the arguments.
    auto c = ToolCallConstraint(format, tools, std::string("get_weather"));
    ASSERT_TRUE(c.ok()) << c.status();
    auto g = grammar::CompileConstraint(*c);
    ASSERT_TRUE(g.ok()) << g.status();
    const std::string named = c->prefix + R"({"location":"Paris"})" + c->suffix;
    grammar::Matcher m(*g);
    ASSERT_TRUE(m.Advance(named)) << named;
    EXPECT_TRUE(m.IsComplete());
    EXPECT_FALSE(m.CanContinue());
    ParsedOutput p = ParseToolCalls(format, named);
    ASSERT_EQ(p.calls.size(), 1u) << named;
    EXPECT_EQ(p.calls[0].name, "get_weather");
    EXPECT_EQ(p.calls[0].arguments, R"({"location":"Paris"})");
    // A wrong enum value or a missing required property is refused.
    grammar::Matcher bad(*g);
    EXPECT_FALSE(bad.Advance(c->prefix + R"({"unit":"kelvin"})"));
    grammar::Matcher missing(*g);
    EXPECT_FALSE(missing.Advance(c->prefix + "{}" + c->suffix) && missing.IsComplete());

    // Required (either tool): a JSON object naming one of them.
    c = ToolCallConstraint(format, tools, std::nullopt);
    ASSERT_TRUE(c.ok()) << c.status();
    g = grammar::CompileConstraint(*c);
    ASSERT_TRUE(g.ok()) << g.status();
    // The compiler writes properties in the schema's order: name first.
    const std::string body = format == ToolFormat::kLlama3
                                 ? R"({"name":"get_time","parameters":{"x":1}})"
                                 : R"({"name":"get_time","arguments":{"x":1}})";
    const std::string any = c->prefix + body + c->suffix;
    grammar::Matcher m2(*g);
    ASSERT_TRUE(m2.Advance(any)) << any << " key " << key;
    EXPECT_TRUE(m2.IsComplete());
    p = ParseToolCalls(format, any);
    ASSERT_EQ(p.calls.size(), 1u) << any;
    EXPECT_EQ(p.calls[0].name, "get_time");
    EXPECT_EQ(p.calls[0].arguments, R"({"x":1})");
    grammar::Matcher unknown(*g);
    EXPECT_FALSE(unknown.Advance(c->prefix + R"({"name":"nope","arguments":{}})"));
  }
}

TEST(ToolCallConstraint, DeepSeekR1NamedOnly) {
  const std::vector<ToolDef> tools = {{"get_weather", kWeatherParams}, {"get_time", ""}};
  auto c = ToolCallConstraint(ToolFormat::kDeepSeekR1, tools, std::string("get_weather"));
  ASSERT_TRUE(c.ok()) << c.status();
  auto g = grammar::CompileConstraint(*c);
  ASSERT_TRUE(g.ok()) << g.status();
  const std::string text = c->prefix + R"({"location":"Paris","unit":"celsius"})" + c->suffix;
  EXPECT_EQ(text, kDsBegin + DsCall("get_weather", R"({"location":"Paris","unit":"celsius"})") +
                      kDsEnd);
  grammar::Matcher m(*g);
  ASSERT_TRUE(m.Advance(text));
  EXPECT_TRUE(m.IsComplete());
  ParsedOutput p = ParseToolCalls(ToolFormat::kDeepSeekR1, text);
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].arguments, R"({"location":"Paris","unit":"celsius"})");
  // Several tools cannot be chosen among (the name is outside the JSON).
  EXPECT_FALSE(ToolCallConstraint(ToolFormat::kDeepSeekR1, tools, std::nullopt).ok());
  EXPECT_TRUE(ToolCallConstraint(ToolFormat::kDeepSeekR1, {tools[1]}, std::nullopt).ok());
}

// Functionary and Command R: the constraint's text parses back into the
// call; functionary needs a named function when there are several tools.
TEST(ToolCallConstraint, FunctionaryAndCommandR) {
  const std::vector<ToolDef> tools = {{"get_weather", kWeatherParams}, {"get_time", ""}};
  struct Case {
    ToolFormat format;
    std::optional<std::string> only;
    std::string body;  // between prefix and suffix
    std::string name;
    std::string arguments;
  };
  const std::vector<Case> cases = {
      {ToolFormat::kFunctionaryV31, "get_weather", R"({"location":"Paris"})", "get_weather",
       R"({"location":"Paris"})"},
      {ToolFormat::kFunctionaryV32, "get_weather", R"({"location":"Paris"})", "get_weather",
       R"({"location":"Paris"})"},
      {ToolFormat::kCommandR, std::nullopt,
       R"([{"tool_name":"get_time","parameters":{"x":1}}])", "get_time", R"({"x":1})"},
      {ToolFormat::kCommandR, "get_weather",
       R"([{"tool_name":"get_weather","parameters":{"location":"Oslo"}}])", "get_weather",
       R"({"location":"Oslo"})"},
      {ToolFormat::kCommandR7B, std::nullopt,
       R"([{"tool_call_id":"0","tool_name":"get_weather","parameters":{"location":"Oslo"}}])",
       "get_weather", R"({"location":"Oslo"})"},
  };
  for (const Case& k : cases) {
    auto c = ToolCallConstraint(k.format, tools, k.only);
    ASSERT_TRUE(c.ok()) << ToolFormatName(k.format) << c.status();
    auto g = grammar::CompileConstraint(*c);
    ASSERT_TRUE(g.ok()) << ToolFormatName(k.format) << g.status();
    const std::string text = c->prefix + k.body + c->suffix;
    grammar::Matcher m(*g);
    ASSERT_TRUE(m.Advance(text)) << text;
    EXPECT_TRUE(m.IsComplete()) << text;
    const ParsedOutput p = ParseToolCalls(k.format, text);
    ASSERT_EQ(p.calls.size(), 1u) << text;
    EXPECT_EQ(p.calls[0].name, k.name);
    EXPECT_EQ(p.calls[0].arguments, k.arguments);
    EXPECT_EQ(p.content, "") << text;
    // A second action, or an undeclared tool, is refused.
    if (k.format == ToolFormat::kCommandR || k.format == ToolFormat::kCommandR7B) {
      grammar::Matcher two(*g);
      EXPECT_FALSE(two.Advance(c->prefix + k.body.substr(0, k.body.size() - 1) + ",{"));
      grammar::Matcher unknown(*g);
      EXPECT_FALSE(unknown.Advance(c->prefix + (k.format == ToolFormat::kCommandR7B
                                                    ? R"([{"tool_call_id":"0","tool_name":"nope")"
                                                    : R"([{"tool_name":"nope")")));
    }
  }
  EXPECT_EQ(ToolCallConstraint(ToolFormat::kFunctionaryV31, tools, std::string("get_time"))->prefix,
            "<function=get_time>");
  EXPECT_EQ(ToolCallConstraint(ToolFormat::kFunctionaryV32, tools, std::string("get_time"))->prefix,
            "get_time\n");
  EXPECT_FALSE(ToolCallConstraint(ToolFormat::kFunctionaryV31, tools, std::nullopt).ok());
  EXPECT_FALSE(ToolCallConstraint(ToolFormat::kFunctionaryV32, tools, std::nullopt).ok());
  EXPECT_TRUE(ToolCallConstraint(ToolFormat::kFunctionaryV32, {tools[1]}, std::nullopt).ok());
}

// gpt-oss: the header goes into the prompt (its markers are control
// tokens, which the mask never offers); the output is the arguments, and
// the header followed by them parses into the call.
TEST(ToolCallConstraint, GptOssHeaderInThePrompt) {
  const std::vector<ToolDef> tools = {{"get_weather", kWeatherParams}, {"get_time", ""}};
  const std::optional<std::string> named = "get_weather";
  auto c = ToolCallConstraint(ToolFormat::kGptOss, tools, named);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->prefix, "");
  EXPECT_EQ(c->suffix, "");
  const std::string header = ConstrainedCallHeader(ToolFormat::kGptOss, tools, named);
  EXPECT_EQ(header, "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>");
  auto g = grammar::CompileConstraint(*c);
  ASSERT_TRUE(g.ok()) << g.status();
  const std::string args = R"({"location":"Paris"})";
  grammar::Matcher m(*g);
  ASSERT_TRUE(m.Advance(args));
  EXPECT_TRUE(m.IsComplete());
  grammar::Matcher bad(*g);
  EXPECT_FALSE(bad.Advance(R"({"unit":"kelvin"})"));
  const ParsedOutput p = ParseToolCalls(ToolFormat::kGptOss, header + args);
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].name, "get_weather");
  EXPECT_EQ(p.calls[0].arguments, args);
  EXPECT_EQ(p.content, "");
  // Streamed: the header is the stream's first piece.
  const ParsedOutput streamed =
      StreamAll(ToolFormat::kGptOss, header + args, header.size());
  ASSERT_EQ(streamed.calls.size(), 1u);
  EXPECT_EQ(streamed.calls[0].arguments, args);
  // The name is outside the JSON: "required" needs one possible tool.
  EXPECT_FALSE(ToolCallConstraint(ToolFormat::kGptOss, tools, std::nullopt).ok());
  EXPECT_TRUE(ToolCallConstraint(ToolFormat::kGptOss, {tools[1]}, std::nullopt).ok());
  EXPECT_EQ(ConstrainedCallHeader(ToolFormat::kGptOss, {tools[1]}, std::nullopt),
            "<|channel|>commentary to=functions.get_time <|constrain|>json<|message|>");
  EXPECT_EQ(ConstrainedCallHeader(ToolFormat::kHermes, tools, named), "");
}

TEST(ToolCallConstraint, Errors) {
  const std::vector<ToolDef> tools = {{"f", ""}};
  EXPECT_FALSE(ToolCallConstraint(ToolFormat::kNone, tools, std::nullopt).ok());
  EXPECT_FALSE(ToolCallConstraint(ToolFormat::kHermes, {}, std::nullopt).ok());
  EXPECT_FALSE(ToolCallConstraint(ToolFormat::kHermes, tools, std::string("g")).ok());
  // Names are JSON-escaped into the literal envelope.
  const std::vector<ToolDef> quoted = {{"a\"b", ""}};
  auto c = ToolCallConstraint(ToolFormat::kLlama3, quoted, std::nullopt);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->prefix, "{\"name\": \"a\\\"b\", \"parameters\": ");
}

}  // namespace
}  // namespace triptych::tool_calls
