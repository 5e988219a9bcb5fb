#include "services/gateway/tool_fields.h"

#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "services/gateway/openai_request.h"

namespace triptych::gateway {
namespace {

constexpr char kTools[] =
    R"("tools":[{"type":"function","function":{"name":"get_weather","description":"d",)"
    R"("parameters":{"type":"object","properties":{"location":{"type":"string"}},)"
    R"("required":["location"]}}},{"type":"function","function":{"name":"get_time"}}])";

std::string Body(const std::string& extra) {
  return std::string(R"({"model":"m","messages":[{"role":"user","content":"x"}],)") + kTools +
         extra + "}";
}

TEST(ToolFields, ToolsAndChoices) {
  auto r = ParseRequest(Endpoint::kChat, Body(""));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->tools.defs.size(), 2u);
  EXPECT_EQ(r->tools.defs[0].name, "get_weather");
  EXPECT_EQ(r->tools.defs[1].parameters_json, "");
  EXPECT_EQ(r->tools.choice, ToolChoice::kAuto);  // the default with tools
  EXPECT_TRUE(r->tools.active());
  EXPECT_FALSE(r->tools.constrained());
  EXPECT_TRUE(r->tools.parallel);
  // Key order as sent (the template prints it with tojson).
  EXPECT_EQ(r->tools.tools_json.substr(0, 40), R"([{"type":"function","function":{"name":")");

  r = ParseRequest(Endpoint::kChat, Body(R"(,"tool_choice":"required","parallel_tool_calls":false)"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tools.choice, ToolChoice::kRequired);
  EXPECT_FALSE(r->tools.parallel);
  r = ParseRequest(Endpoint::kChat,
                   Body(R"(,"tool_choice":{"type":"function","function":{"name":"get_time"}})"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tools.choice, ToolChoice::kNamed);
  EXPECT_EQ(r->tools.choice_name, "get_time");
  r = ParseRequest(Endpoint::kChat, Body(R"(,"tool_choice":"none")"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->tools.active());
  EXPECT_FALSE(r->tools.tools_json.empty());  // still rendered
  // No tools: "none" and "auto" are neutral.
  for (const char* choice : {"none", "auto"}) {
    r = ParseRequest(Endpoint::kChat,
                     std::string(R"({"model":"m","messages":[{"role":"user","content":"x"}],)") +
                         R"("tools":[],"tool_choice":")" + choice + "\"}");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_FALSE(r->tools.active());
  }
}

TEST(ToolFields, MessagesWithToolCallsAndResults) {
  auto r = ParseRequest(
      Endpoint::kChat,
      R"({"model":"m","messages":[{"role":"user","content":"Weather?"},)"
      R"({"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",)"
      R"("function":{"name":"get_weather","arguments":"{\"location\": \"Paris\", \"a\": 1}"}}]},)"
      R"({"role":"tool","tool_call_id":"call_1","name":"get_weather","content":"18C"}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->messages.size(), 3u);
  EXPECT_TRUE(r->messages[1].content_null);
  // Normalised, arguments as sent (ChatMessagesJson converts them).
  EXPECT_EQ(r->messages[1].tool_calls_json,
            R"([{"id":"call_1","type":"function","function":{"name":"get_weather",)"
            R"("arguments":"{\"location\": \"Paris\", \"a\": 1}"}}])");
  EXPECT_EQ(r->messages[2].role, "tool");
  EXPECT_EQ(r->messages[2].tool_call_id, "call_1");
  EXPECT_EQ(r->messages[2].name, "get_weather");
  EXPECT_EQ(r->messages[2].content, "18C");
  EXPECT_EQ(r->tools.choice, ToolChoice::kNone);
}

struct BadTool {
  const char* name;
  std::string body;
  const char* param;
};

class ToolFieldErrors : public ::testing::TestWithParam<BadTool> {};

TEST_P(ToolFieldErrors, AreOpenAi400s) {
  const BadTool& c = GetParam();
  auto r = ParseRequest(Endpoint::kChat, c.body);
  ASSERT_FALSE(r.ok()) << c.body;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParamOf(r.status()), c.param) << r.status();
  const ApiError e = ErrorFromStatus(r.status());
  EXPECT_EQ(e.http_status, 400);
  auto j = nlohmann::json::parse(e.body);
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], c.param);
}

#define USER R"({"model":"m","messages":[{"role":"user","content":"x"}],)"

INSTANTIATE_TEST_SUITE_P(
    All, ToolFieldErrors,
    ::testing::Values(
        BadTool{"unknown_named", Body(R"(,"tool_choice":{"type":"function","function":{"name":"nope"}})"),
                "tool_choice"},
        BadTool{"bad_choice_string", Body(R"(,"tool_choice":"always")"), "tool_choice"},
        BadTool{"bad_choice_object", Body(R"(,"tool_choice":{"type":"function"})"), "tool_choice"},
        BadTool{"required_without_tools", USER R"("tool_choice":"required"})", "tool_choice"},
        BadTool{"tools_not_array", USER R"("tools":{"type":"function"}})", "tools"},
        BadTool{"tool_type", USER R"("tools":[{"type":"retrieval"}]})", "tools[0].type"},
        BadTool{"tool_no_function", USER R"("tools":[{"type":"function"}]})", "tools[0].function"},
        BadTool{"tool_bad_name", USER R"("tools":[{"type":"function","function":{"name":"a b"}}]})",
                "tools[0].function.name"},
        BadTool{"tool_duplicate",
                USER R"("tools":[{"type":"function","function":{"name":"a"}},)"
                     R"({"type":"function","function":{"name":"a"}}]})",
                "tools[1].function.name"},
        BadTool{"tool_params",
                USER R"("tools":[{"type":"function","function":{"name":"a","parameters":[1]}}]})",
                "tools[0].function.parameters"},
        BadTool{"parallel", Body(R"(,"parallel_tool_calls":"yes")"), "parallel_tool_calls"},
        BadTool{"tool_message_no_id",
                R"({"model":"m","messages":[{"role":"tool","content":"x"}]})",
                "messages[0].tool_call_id"},
        BadTool{"arguments_not_json",
                R"({"model":"m","messages":[{"role":"assistant","content":"","tool_calls":[)"
                R"({"id":"c","type":"function","function":{"name":"f","arguments":"{oops"}}]}]})",
                "messages[0].tool_calls[0].function.arguments"},
        BadTool{"tool_calls_on_user",
                R"({"model":"m","messages":[{"role":"user","content":"x","tool_calls":[)"
                R"({"id":"c","function":{"name":"f","arguments":"{}"}}]}]})",
                "messages[0].tool_calls"},
        BadTool{"assistant_null_content_no_calls",
                R"({"model":"m","messages":[{"role":"assistant","content":null}]})",
                "messages[0].content"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace triptych::gateway
