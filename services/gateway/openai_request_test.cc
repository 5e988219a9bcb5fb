#include "services/gateway/openai_request.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace triptych::gateway {
namespace {

using ::testing::HasSubstr;

TEST(ParseRequest, ChatWithStringAndTextPartContent) {
  auto r = ParseRequest(Endpoint::kChat, R"({
    "model": "m", "messages": [
      {"role": "developer", "content": "be brief"},
      {"role": "user", "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}]}],
    "max_completion_tokens": 7, "max_tokens": 99, "temperature": 0, "top_p": 0.5, "top_k": 3,
    "min_p": 0.1, "seed": 42, "stop": "END", "presence_penalty": 0.5, "frequency_penalty": -0.5,
    "repetition_penalty": 1.1, "n": 1, "logprobs": true, "top_logprobs": 2, "stream": true,
    "stream_options": {"include_usage": true}, "ignore_eos": true, "user": "u1",
    "sparse_attention_budget": 1024, "some_future_field": {"x": 1}})");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->messages.size(), 2u);
  EXPECT_EQ(r->messages[0].role, "system");
  EXPECT_EQ(r->messages[1].content, "hi there");
  EXPECT_EQ(r->max_tokens, 7);
  EXPECT_EQ(r->sampling.temperature, 0.0f);
  EXPECT_EQ(r->sampling.top_p, 0.5f);
  EXPECT_EQ(r->sampling.top_k, 3);
  EXPECT_FLOAT_EQ(r->sampling.min_p, 0.1f);
  EXPECT_TRUE(r->has_seed);
  EXPECT_EQ(r->sampling.seed, 42u);
  EXPECT_EQ(r->stop, std::vector<std::string>{"END"});
  EXPECT_FLOAT_EQ(r->sampling.repetition_penalty, 1.1f);
  EXPECT_TRUE(r->sampling.logprobs);
  EXPECT_EQ(r->sampling.top_logprobs, 2);
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_TRUE(r->ignore_eos);
  EXPECT_EQ(r->user, "u1");
  EXPECT_EQ(r->sparse_attention_budget, 1024);
  auto dense = ParseRequest(Endpoint::kCompletions,
                            R"({"model": "m", "prompt": "x", "sparse_attention_budget": 0})");
  ASSERT_TRUE(dense.ok());
  EXPECT_EQ(dense->sparse_attention_budget, 0);
  auto unset = ParseRequest(Endpoint::kCompletions, R"({"model": "m", "prompt": "x"})");
  ASSERT_TRUE(unset.ok());
  EXPECT_FALSE(unset->sparse_attention_budget.has_value());
  EXPECT_FALSE(ParseRequest(Endpoint::kCompletions,
                            R"({"model": "m", "prompt": "x", "sparse_attention_budget": -4})")
                   .ok());
}

// An assistant turn's reasoning_content (as a response gave it) is kept
// for the template; on other roles it is ignored.
TEST(ParseRequest, AssistantReasoningContent) {
  auto r = ParseRequest(Endpoint::kChat, R"({"model": "m", "messages": [
      {"role": "user", "content": "q", "reasoning_content": "ignored"},
      {"role": "assistant", "content": "a", "reasoning_content": "thought"},
      {"role": "assistant", "content": "b", "reasoning_content": null}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->messages[0].reasoning, "");
  EXPECT_EQ(r->messages[1].reasoning, "thought");
  EXPECT_EQ(r->messages[2].reasoning, "");
}

TEST(ParseRequest, CompletionPromptForms) {
  auto text = ParseRequest(Endpoint::kCompletions, R"({"model":"m","prompt":"Once"})");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->prompt, "Once");
  EXPECT_FALSE(text->has_prompt_tokens);
  EXPECT_FALSE(text->max_tokens.has_value());
  auto ids = ParseRequest(Endpoint::kCompletions, R"({"model":"m","prompt":[1,2,3],"logprobs":2})");
  ASSERT_TRUE(ids.ok());
  EXPECT_TRUE(ids->has_prompt_tokens);
  EXPECT_EQ(ids->prompt_tokens, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_TRUE(ids->sampling.logprobs);
  EXPECT_EQ(ids->sampling.top_logprobs, 2);
  auto one = ParseRequest(Endpoint::kCompletions, R"({"model":"m","prompt":["Once"]})");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->prompt, "Once");
  auto nested = ParseRequest(Endpoint::kCompletions, R"({"model":"m","prompt":[[5,6]]})");
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(nested->prompt_tokens, (std::vector<int32_t>{5, 6}));
}

struct BadCase {
  const char* name;
  Endpoint endpoint;
  const char* body;
  const char* param;  // expected "param" ("" = none)
};

class ParseRequestErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(ParseRequestErrors, IsInvalidArgumentWithParam) {
  const BadCase& c = GetParam();
  auto r = ParseRequest(c.endpoint, c.body);
  ASSERT_FALSE(r.ok()) << c.body;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParamOf(r.status()), c.param) << r.status();
  const ApiError e = ErrorFromStatus(r.status());
  EXPECT_EQ(e.http_status, 400);
  auto j = nlohmann::json::parse(e.body);
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
  if (*c.param != '\0') EXPECT_EQ(j["error"]["param"], c.param);
  EXPECT_TRUE(j["error"].contains("code"));
}

constexpr Endpoint kC = Endpoint::kChat;
constexpr Endpoint kT = Endpoint::kCompletions;
#define MSGS R"("messages":[{"role":"user","content":"x"}])"

INSTANTIATE_TEST_SUITE_P(
    All, ParseRequestErrors,
    ::testing::Values(
        BadCase{"not_json", kC, "{nope", ""}, BadCase{"not_object", kC, "[1]", ""},
        BadCase{"no_model", kC, R"({)" MSGS "}", "model"},
        BadCase{"model_not_string", kC, R"({"model":1,)" MSGS "}", "model"},
        BadCase{"no_messages", kC, R"({"model":"m"})", "messages"},
        BadCase{"reasoning_not_string", kC,
                R"({"model":"m","messages":[{"role":"assistant","content":"a",)"
                R"("reasoning_content":1}]})",
                "messages[0].reasoning_content"},
        BadCase{"empty_messages", kC, R"({"model":"m","messages":[]})", "messages"},
        BadCase{"bad_role", kC, R"({"model":"m","messages":[{"role":"function","content":"x"}]})",
                "messages[0].role"},
        BadCase{"image_part", kC,
                R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]})",
                "messages[0].content"},
        BadCase{"null_content", kC, R"({"model":"m","messages":[{"role":"user"}]})",
                "messages[0].content"},
        BadCase{"n0", kC, R"({"model":"m",)" MSGS R"(,"n":0})", "n"},
        BadCase{"five_stops", kC, R"({"model":"m",)" MSGS R"(,"stop":["a","b","c","d","e"]})",
                "stop"},
        BadCase{"stop_number", kC, R"({"model":"m",)" MSGS R"(,"stop":5})", "stop"},
        BadCase{"temperature_high", kC, R"({"model":"m",)" MSGS R"(,"temperature":3})",
                "temperature"},
        BadCase{"temperature_string", kC, R"({"model":"m",)" MSGS R"(,"temperature":"hot"})",
                "temperature"},
        BadCase{"top_p_zero", kC, R"({"model":"m",)" MSGS R"(,"top_p":0})", "top_p"},
        BadCase{"max_tokens_zero", kC, R"({"model":"m",)" MSGS R"(,"max_tokens":0})",
                "max_tokens"},
        BadCase{"max_tokens_float", kC, R"({"model":"m",)" MSGS R"(,"max_tokens":1.5})",
                "max_tokens"},
        BadCase{"top_logprobs_alone", kC, R"({"model":"m",)" MSGS R"(,"top_logprobs":2})",
                "top_logprobs"},
        BadCase{"top_logprobs_21", kC,
                R"({"model":"m",)" MSGS R"(,"logprobs":true,"top_logprobs":21})",
                "top_logprobs"},
        BadCase{"chat_logprobs_int", kC, R"({"model":"m",)" MSGS R"(,"logprobs":3})",
                "logprobs"},
        BadCase{"stream_string", kC, R"({"model":"m",)" MSGS R"(,"stream":"yes"})", "stream"},
        BadCase{"presence_high", kC, R"({"model":"m",)" MSGS R"(,"presence_penalty":5})",
                "presence_penalty"},
        BadCase{"no_prompt", kT, R"({"model":"m"})", "prompt"},
        BadCase{"batch_prompt", kT, R"({"model":"m","prompt":["a","b"]})", "prompt"},
        // The inner array was indexed before its emptiness was checked:
        // a null dereference (UBSan in openai_request_fuzzer).
        BadCase{"nested_empty_prompt", kT, R"({"model":"m","prompt":[[]]})", "prompt"},
        BadCase{"negative_token", kT, R"({"model":"m","prompt":[1,-2]})", "prompt"},
        BadCase{"echo", kT, R"({"model":"m","prompt":"a","echo":true})", "echo"},
        BadCase{"completion_logprobs_bool", kT, R"({"model":"m","prompt":"a","logprobs":true})",
                "logprobs"},
        BadCase{"best_of", kT, R"({"model":"m","prompt":"a","best_of":3})", "best_of"},
        BadCase{"logit_bias_high", kC, R"({"model":"m",)" MSGS R"(,"logit_bias":{"5":1000}})",
                "logit_bias"},
        BadCase{"logit_bias_key", kC, R"({"model":"m",)" MSGS R"(,"logit_bias":{"a":1}})",
                "logit_bias"},
        BadCase{"logit_bias_negative_key", kT,
                R"({"model":"m","prompt":"a","logit_bias":{"-3":1}})", "logit_bias"},
        BadCase{"logit_bias_string_value", kT,
                R"({"model":"m","prompt":"a","logit_bias":{"3":"1"}})", "logit_bias"},
        BadCase{"logit_bias_array", kT, R"({"model":"m","prompt":"a","logit_bias":[1]})",
                "logit_bias"},
        BadCase{"response_format_type", kC,
                R"({"model":"m",)" MSGS R"(,"response_format":{"type":"xml"}})",
                "response_format.type"},
        BadCase{"response_format_no_schema_object", kC,
                R"({"model":"m",)" MSGS R"(,"response_format":{"type":"json_schema"}})",
                "response_format.json_schema"},
        BadCase{"guided_json", kC, R"({"model":"m",)" MSGS R"(,"guided_json":{}})",
                "guided_json"},
        BadCase{"min_tokens", kT, R"({"model":"m","prompt":"a","min_tokens":5})", "min_tokens"},
        BadCase{"beam", kT, R"({"model":"m","prompt":"a","use_beam_search":true})",
                "use_beam_search"},
        BadCase{"functions", kC,
                R"({"model":"m",)" MSGS R"(,"functions":[{"name":"f"}]})", "functions"},
        BadCase{"tools", kT,
                R"({"model":"m","prompt":"a","tools":[{"type":"function","function":{"name":"f"}}]})",
                "tools"},
        BadCase{"tool_choice", kC, R"({"model":"m",)" MSGS R"(,"tool_choice":"required"})",
                "tool_choice"},
        BadCase{"mirostat", kT, R"({"model":"m","prompt":"a","mirostat":2})", "mirostat"},
        BadCase{"chat_echo", kC, R"({"model":"m",)" MSGS R"(,"echo":true})", "echo"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ParseRequest, LogitBiasAndNeutralUnsupportedFields) {
  auto r = ParseRequest(
      Endpoint::kChat,
      R"({"model":"m","messages":[{"role":"user","content":"x"}],"logit_bias":{"7":-100,)"
      R"("12":2.5},"min_tokens":0,"use_beam_search":false,"skip_special_tokens":true,)"
      R"("modalities":["text"],"response_format":{"type":"text"},"tools":[],)"
      R"("tool_choice":"none"})");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->sampling.logit_bias.size(), 2u);
  EXPECT_EQ(r->sampling.logit_bias[0], std::make_pair(12, 2.5f));  // nlohmann sorts keys
  EXPECT_EQ(r->sampling.logit_bias[1], std::make_pair(7, -100.0f));
  EXPECT_FALSE(r->constraint.active());
}

TEST(ParseRequest, ResponseFormatJson) {
  auto r = ParseRequest(Endpoint::kChat,
                        R"({"model":"m","messages":[{"role":"user","content":"x"}],)"
                        R"("response_format":{"type":"json_schema","json_schema":{"name":"n",)"
                        R"("strict":true,"schema":{"type":"object"}}}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->constraint.kind, grammar::ConstraintKind::kJsonSchema);
  EXPECT_EQ(r->constraint.schema_json, R"({"type":"object"})");
  r = ParseRequest(Endpoint::kCompletions,
                   R"({"model":"m","prompt":"x","response_format":{"type":"json_object"}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->constraint.kind, grammar::ConstraintKind::kJsonObject);
}

// The grammar writes properties in schema order, so the schema keeps the
// order the client sent (nlohmann::json alone would sort the keys).
TEST(ParseRequest, ResponseFormatSchemaKeepsKeyOrder) {
  auto r = ParseRequest(Endpoint::kChat,
                        R"({"model":"m","messages":[{"role":"user","content":"x"}],)"
                        R"("response_format":{"type":"json_schema","json_schema":{"name":"n",)"
                        R"("schema":{"type":"object","properties":{"zeta":{"type":"string"},)"
                        R"("alpha":{"type":"integer"}},"required":["zeta","alpha"]}}}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->constraint.schema_json,
            R"({"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"integer"}},)"
            R"("required":["zeta","alpha"]})");
}

TEST(ParseRequest, DeeplyNestedJsonDoesNotCrash) {
  std::string body = R"({"model":"m","prompt":)" + std::string(100000, '[') +
                     std::string(100000, ']') + "}";
  auto r = ParseRequest(Endpoint::kCompletions, body);
  EXPECT_FALSE(r.ok());
}

TEST(ParseRequest, InvalidUtf8IsRejectedOrReplacedNotFatal) {
  auto r = ParseRequest(Endpoint::kCompletions, "{\"model\":\"m\",\"prompt\":\"\xff\xfe\"}");
  EXPECT_FALSE(r.ok());  // nlohmann rejects invalid UTF-8 in strings
}

TEST(ErrorFromStatus, MapsCodesByRetryMeaning) {
  EXPECT_EQ(ErrorFromStatus(absl::InvalidArgumentError("x")).http_status, 400);
  EXPECT_EQ(ErrorFromStatus(absl::UnauthenticatedError("x")).http_status, 401);
  EXPECT_EQ(ErrorFromStatus(absl::NotFoundError("x")).http_status, 404);
  EXPECT_EQ(ErrorFromStatus(absl::ResourceExhaustedError("x")).http_status, 429);
  EXPECT_EQ(ErrorFromStatus(absl::UnavailableError("x")).http_status, 503);
  EXPECT_EQ(ErrorFromStatus(absl::DeadlineExceededError("x")).http_status, 504);
  EXPECT_EQ(ErrorFromStatus(absl::InternalError("x")).http_status, 500);
  auto j = nlohmann::json::parse(ErrorFromStatus(absl::UnavailableError("busy")).body);
  EXPECT_EQ(j["error"]["message"], "busy");
  EXPECT_TRUE(j["error"]["param"].is_null());
}

}  // namespace
}  // namespace triptych::gateway
