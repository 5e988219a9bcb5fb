#include "tools/loadgen/openai.h"

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace triptych::loadgen {
namespace {

using json = nlohmann::json;

RequestSpec Spec() {
  RequestSpec s;
  s.messages = {{"user", "hello"}, {"assistant", "hi"}, {"user", "again"}};
  s.max_tokens = 7;
  return s;
}

TEST(BuildRequestBody, Chat) {
  ApiOptions o;
  o.model = "m";
  o.ignore_eos = true;
  o.temperature = 0.5;
  o.extra_body = R"({"top_k": 3, "max_tokens": 9})";
  auto body = BuildRequestBody(o, Spec());
  ASSERT_TRUE(body.ok());
  json j = json::parse(*body);
  EXPECT_EQ(j["model"], "m");
  EXPECT_EQ(j["messages"].size(), 3u);
  EXPECT_EQ(j["messages"][1]["role"], "assistant");
  EXPECT_EQ(j["max_tokens"], 9);  // extra body wins
  EXPECT_EQ(j["stream"], true);
  EXPECT_EQ(j["stream_options"]["include_usage"], true);
  EXPECT_EQ(j["ignore_eos"], true);
  EXPECT_EQ(j["temperature"], 0.5);
  EXPECT_EQ(j["top_k"], 3);
  EXPECT_FALSE(j.contains("prompt"));
}

TEST(BuildRequestBody, CompletionsNonStreaming) {
  ApiOptions o;
  o.endpoint = Endpoint::kCompletions;
  o.stream = false;
  auto body = BuildRequestBody(o, Spec());
  ASSERT_TRUE(body.ok());
  json j = json::parse(*body);
  EXPECT_EQ(j["prompt"], "hello\nhi\nagain");
  EXPECT_EQ(j["max_tokens"], 7);
  EXPECT_FALSE(j.contains("stream_options"));
  EXPECT_FALSE(j.contains("ignore_eos"));
  o.extra_body = "[1]";
  EXPECT_FALSE(BuildRequestBody(o, Spec()).ok());
}

TEST(ParseChunk, ChatCompletionsAndUsage) {
  auto c = ParseChunk(
      R"({"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]})");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->text, "Hi");
  EXPECT_FALSE(c->finished);
  c = ParseChunk(R"({"choices":[{"text":" there","finish_reason":"length"}],
                     "usage":{"prompt_tokens":5,"completion_tokens":2}})");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->text, " there");
  EXPECT_TRUE(c->finished);
  EXPECT_EQ(*c->prompt_tokens, 5);
  EXPECT_EQ(*c->completion_tokens, 2);
  c = ParseChunk(R"({"choices":[{"message":{"content":"x",
                     "reasoning_content":"think "}}],"usage":null})");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->text, "think x");
  EXPECT_FALSE(c->completion_tokens.has_value());
  c = ParseChunk(R"({"choices":[{"delta":{"role":"assistant"}}]})");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->text, "");
}

TEST(ParseChunk, ErrorsAndGarbage) {
  auto c = ParseChunk(R"({"error":{"message":"overloaded","code":503}})");
  EXPECT_TRUE(absl::IsAborted(c.status()));
  EXPECT_EQ(c.status().message(), "overloaded");
  EXPECT_TRUE(absl::IsInvalidArgument(ParseChunk("{not json").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ParseChunk("[1]").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ParseChunk("").status()));
  // Odd shapes are tolerated, not fatal.
  EXPECT_TRUE(ParseChunk(R"({"choices":[1,{"delta":5}],"usage":3})").ok());
}

}  // namespace
}  // namespace triptych::loadgen
