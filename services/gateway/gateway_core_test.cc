// The OpenAI API through the real HTTP server, over a scripted backend.

#include "services/gateway/gateway_core.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "common/http/testing/test_client.h"
#include "common/testing/conformance.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "services/gateway/gateway_server.h"
#include "services/gateway/testing/fake_backend.h"
#include "tools/gen_model/gen_model.h"

namespace triptych::gateway {
namespace {

using http::testing::ClientResponse;
using http::testing::HttpRequest;
using nlohmann::json;
using testing::FakeBackend;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kWait = absl::Seconds(30);

// Splits an SSE body into its data payloads.
std::vector<std::string> SseData(const std::string& body) {
  std::vector<std::string> out;
  for (absl::string_view event : absl::StrSplit(body, "\n\n", absl::SkipEmpty())) {
    EXPECT_TRUE(absl::StartsWith(event, "data: ")) << event;
    out.emplace_back(event.substr(6));
  }
  return out;
}

class GatewayTest : public ::testing::Test {
 protected:
  void StartGateway(CoreOptions core = {}, int64_t max_body = 1 << 20,
                    const ModelInfoOptions& model_options = {}) {
    const std::string dir = triptych::testing::ConformanceDir();
    ASSERT_FALSE(dir.empty());
    auto info = ModelInfo::Load(model_path_.empty() ? dir + "/models/stories260K.gguf"
                                                    : model_path_,
                                model_options);
    ASSERT_TRUE(info.ok()) << info.status();
    info_ = info->get();
    auto backend = std::make_unique<FakeBackend>();
    backend_ = backend.get();
    GatewayOptions options;
    core.served_model_name = "stories";
    options.core = core;
    options.http.max_body_bytes = max_body;
    auto server = GatewayServer::Create(options, std::move(info).value(), std::move(backend));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
    ASSERT_TRUE(server_->Start().ok());
  }

  ClientResponse Post(const std::string& path, const std::string& body,
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
    headers.emplace_back("Content-Type", "application/json");
    auto r = HttpRequest(server_->port(), "POST", path, body, headers);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : ClientResponse();
  }

  // Expects an OpenAI error body with `status` and, when given, `param`.
  static void ExpectError(const ClientResponse& r, int status, const std::string& param = "") {
    EXPECT_EQ(r.status, status) << r.body;
    json j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.body;
    ASSERT_TRUE(j.contains("error"));
    EXPECT_TRUE(j["error"]["message"].is_string());
    EXPECT_TRUE(j["error"]["type"].is_string());
    EXPECT_TRUE(j["error"].contains("param"));
    EXPECT_TRUE(j["error"].contains("code"));
    if (!param.empty()) EXPECT_EQ(j["error"]["param"], param) << r.body;
  }

  void TearDown() override { server_.reset(); }

  std::string model_path_;  // "" = stories260K
  const ModelInfo* info_ = nullptr;
  FakeBackend* backend_ = nullptr;
  std::unique_ptr<GatewayServer> server_;
};

TEST_F(GatewayTest, ChatCompletionShapeAndBackendRequest) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartGateway();
  backend_->SetScript(FakeBackend::TextEvents({"Hello", " world"}, FinishReason::kStop, 12, 4));
  ClientResponse r = Post("/v1/chat/completions", R"({"model":"stories","max_tokens":20,
      "temperature":0,"seed":7,"stop":["X"],"messages":[{"role":"user","content":"Hi"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("content-type").value_or(""), "application/json");
  json j = json::parse(r.body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_TRUE(absl::StartsWith(j["id"].get<std::string>(), "chatcmpl-"));
  EXPECT_EQ(j["model"], "stories");
  EXPECT_TRUE(j["created"].is_number_integer());
  ASSERT_EQ(j["choices"].size(), 1u);
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Hello world");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(j["usage"]["prompt_tokens"], 12);
  EXPECT_EQ(j["usage"]["completion_tokens"], 2);
  EXPECT_EQ(j["usage"]["total_tokens"], 14);
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 4);

  auto requests = backend_->requests();
  ASSERT_EQ(requests.size(), 1u);
  const BackendRequest& b = requests[0];
  EXPECT_EQ(b.prompt, *info_->EncodeChat({{"user", "Hi"}}));
  EXPECT_EQ(b.max_tokens, 20);
  EXPECT_EQ(b.sampling.temperature, 0.0f);
  EXPECT_EQ(b.sampling.seed, 7u);
  EXPECT_THAT(b.stop, ::testing::Contains("X"));
}

TEST_F(GatewayTest, RaisingChatTemplateIsA400AndTheGatewayKeepsServing) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  ModelInfoOptions mo;
  mo.chat_template =
      "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
      "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}";
  StartGateway({}, 1 << 20, mo);
  ClientResponse bad = Post("/v1/chat/completions", R"({"model":"stories","max_tokens":4,
      "messages":[{"role":"system","content":"s"},{"role":"user","content":"Hi"}]})");
  ExpectError(bad, 400, "messages");
  EXPECT_TRUE(absl::StrContains(bad.body, "System role not supported")) << bad.body;
  backend_->SetScript(FakeBackend::TextEvents({"ok"}, FinishReason::kStop, 3, 0));
  ClientResponse good = Post("/v1/chat/completions", R"({"model":"stories","max_tokens":4,
      "messages":[{"role":"user","content":"Hi"}]})");
  EXPECT_EQ(good.status, 200) << good.body;
}

TEST_F(GatewayTest, CompletionWithLengthFinishAndDefaultMaxTokens) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartGateway();
  backend_->SetScript(FakeBackend::TextEvents({"a", "b"}, FinishReason::kLength, 5));
  ClientResponse r = Post("/v1/completions", R"({"model":"stories","prompt":"Once upon"})");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_TRUE(absl::StartsWith(j["id"].get<std::string>(), "cmpl-"));
  EXPECT_EQ(j["choices"][0]["text"], "ab");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  const BackendRequest b = backend_->requests()[0];
  EXPECT_EQ(b.prompt, info_->EncodePrompt("Once upon"));
  EXPECT_EQ(b.max_tokens, info_->context_length() - static_cast<int64_t>(b.prompt.size()));
}

TEST_F(GatewayTest, LogprobsInBothShapes) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartGateway();
  backend_->SetScript(FakeBackend::TextEvents({"x"}, FinishReason::kStop, 3));
  ClientResponse chat = Post("/v1/chat/completions", R"({"model":"stories","logprobs":true,
      "top_logprobs":2,"messages":[{"role":"user","content":"Hi"}]})");
  ASSERT_EQ(chat.status, 200) << chat.body;
  json c = json::parse(chat.body)["choices"][0]["logprobs"];
  ASSERT_EQ(c["content"].size(), 1u);
  const json& first = c["content"][0];
  EXPECT_EQ(first["token"], info_->tokenizer().TokenToPiece(100));
  EXPECT_FLOAT_EQ(first["logprob"].get<float>(), -0.5f);
  EXPECT_TRUE(first["bytes"].is_array());
  ASSERT_EQ(first["top_logprobs"].size(), 2u);
  EXPECT_TRUE(first["top_logprobs"][1].contains("bytes"));

  ClientResponse comp =
      Post("/v1/completions", R"({"model":"stories","prompt":"Hi","logprobs":2})");
  ASSERT_EQ(comp.status, 200) << comp.body;
  json l = json::parse(comp.body)["choices"][0]["logprobs"];
  EXPECT_EQ(l["tokens"].size(), 1u);
  EXPECT_EQ(l["token_logprobs"].size(), 1u);
  EXPECT_EQ(l["top_logprobs"][0].size(), 2u);
  EXPECT_EQ(l["text_offset"][0], 0);
}

TEST_F(GatewayTest, ChatStreamFramingWithUsage) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartGateway();
  backend_->SetScript(FakeBackend::TextEvents({"Hel", "lo"}, FinishReason::kStop, 9));
  ClientResponse r = Post("/v1/chat/completions", R"({"model":"stories","stream":true,
      "stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}]})");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("content-type").value_or(""), "text/event-stream");
  std::vector<std::string> data = SseData(r.body);
  ASSERT_GE(data.size(), 5u) << r.body;
  EXPECT_EQ(data.back(), "[DONE]");
  std::string text;
  std::string id;
  int finishes = 0;
  for (size_t i = 0; i + 2 < data.size(); ++i) {
    json j = json::parse(data[i]);
    EXPECT_EQ(j["object"], "chat.completion.chunk");
    if (id.empty()) id = j["id"];
    EXPECT_EQ(j["id"], id);
    EXPECT_TRUE(j.contains("usage") && j["usage"].is_null());
    const json& choice = j["choices"][0];
    if (i == 0) EXPECT_EQ(choice["delta"]["role"], "assistant");
    if (choice["delta"].contains("content")) text += choice["delta"]["content"].get<std::string>();
    if (!choice["finish_reason"].is_null()) {
      ++finishes;
      EXPECT_EQ(choice["finish_reason"], "stop");
    }
  }
  EXPECT_EQ(text, "Hello");
  EXPECT_EQ(finishes, 1);
  json usage = json::parse(data[data.size() - 2]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["prompt_tokens"], 9);
  EXPECT_EQ(usage["usage"]["completion_tokens"], 2);
}

TEST_F(GatewayTest, CompletionStreamFraming) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartGateway();
  backend_->SetScript(FakeBackend::TextEvents({"a", "b", "c"}, FinishReason::kLength, 2));
  ClientResponse r =
      Post("/v1/completions", R"({"model":"stories","prompt":"x","stream":true})");
  ASSERT_EQ(r.status, 200);
  std::vector<std::string> data = SseData(r.body);
  ASSERT_EQ(data.size(), 4u) << r.body;
  EXPECT_EQ(data[3], "[DONE]");
  std::string text;
  for (int i = 0; i < 3; ++i) {
    json j = json::parse(data[i]);
    EXPECT_EQ(j["object"], "text_completion");
    EXPECT_FALSE(j.contains("usage"));
    text += j["choices"][0]["text"].get<std::string>();
    EXPECT_EQ(j["choices"][0]["finish_reason"].is_null(), i < 2);
  }
  EXPECT_EQ(text, "abc");
  EXPECT_EQ(json::parse(data[2])["choices"][0]["finish_reason"], "length");
}

TEST_F(GatewayTest, ValidationErrorsAreOpenAiShaped) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartGateway({}, /*max_body=*/4096);
  ExpectError(Post("/v1/chat/completions", "{not json"), 400);
  ExpectError(Post("/v1/chat/completions",
                   R"({"model":"stories","n":9,"messages":[{"role":"user","content":"x"}]})"),
              400, "n");
  ExpectError(Post("/v1/chat/completions",
                   R"({"model":"gpt-4","messages":[{"role":"user","content":"x"}]})"),
              404, "model");
  ExpectError(Post("/v1/completions", R"({"model":"stories","prompt":"x","max_tokens":100000})"),
              400, "max_tokens");
  ExpectError(Post("/v1/completions", R"({"model":"stories","prompt":[1,99999999]})"), 400,
              "prompt");
  ExpectError(Post("/v1/completions", R"({"model":"stories","prompt":")" +
                                          std::string(8192, 'a') + "\"}"),
              413);
  ExpectError(Post("/v1/completions",
                   R"({"model":"stories","prompt":"x","logit_bias":{"99999":1}})"),
              400, "logit_bias");
  ExpectError(Post("/v1/completions", R"({"model":"stories","prompt":"x","logit_bias":{"5":1000}})"),
              400, "logit_bias");
  ExpectError(Post("/v1/chat/completions",
                   R"({"model":"stories","messages":[{"role":"user","content":"x"}],)"
                   R"("response_format":{"type":"json_schema","json_schema":{"name":"s",)"
                   R"("schema":{"type":"integer","minimum":1}}}})"),
              400, "response_format");
  EXPECT_TRUE(backend_->requests().empty());
  // The service keeps serving after bad input, and a valid bias reaches the backend.
  backend_->SetScript(FakeBackend::TextEvents({"a"}, FinishReason::kLength, 1));
  ClientResponse ok = Post("/v1/completions",
                           R"({"model":"stories","prompt":"x","logit_bias":{"5":-100}})");
  ASSERT_EQ(ok.status, 200) << ok.body;
  ASSERT_EQ(backend_->requests().size(), 1u);
  EXPECT_EQ(backend_->requests()[0].sampling.logit_bias,
            (std::vector<std::pair<int32_t, float>>{{5, -100.0f}}));
  // A supported schema reaches the backend as the request's constraint.
  backend_->SetScript(FakeBackend::TextEvents({"1"}, FinishReason::kStop, 1));
  ok = Post("/v1/chat/completions",
            R"({"model":"stories","messages":[{"role":"user","content":"x"}],)"
            R"("response_format":{"type":"json_schema","json_schema":{"name":"s",)"
            R"("schema":{"type":"integer"}}}})");
  ASSERT_EQ(ok.status, 200) << ok.body;
  ASSERT_EQ(backend_->requests().size(), 2u);
  EXPECT_EQ(backend_->requests()[1].constraint.kind, grammar::ConstraintKind::kJsonSchema);
  EXPECT_EQ(backend_->requests()[1].constraint.schema_json, R"({"type":"integer"})");
}

TEST_F(GatewayTest, PromptLongerThanContextIs400) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartGateway();
  std::string ids = "1";
  for (int64_t i = 0; i < info_->context_length(); ++i) ids += ",5";
  ExpectError(Post("/v1/completions", R"({"model":"stories","prompt":[)" + ids + "]}"), 400,
              "prompt");
}

TEST_F(GatewayTest, ApiKeys) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  CoreOptions core;
  core.api_keys = {"k1", "k2"};
  StartGateway(core);
  backend_->SetScript(FakeBackend::TextEvents({"a"}, FinishReason::kStop, 1));
  const std::string body = R"({"model":"stories","prompt":"x"})";
  ExpectError(Post("/v1/completions", body), 401);
  ExpectError(Post("/v1/completions", body, {{"Authorization", "Bearer nope"}}), 401);
  EXPECT_EQ(Post("/v1/completions", body, {{"Authorization", "Bearer k2"}}).status, 200);
  EXPECT_EQ(HttpRequest(server_->port(), "GET", "/v1/models")->status, 401);
  EXPECT_EQ(HttpRequest(server_->port(), "GET", "/health")->status, 200);  // probes stay open
}

// Per-key token budget: k1 may use 100 tokens per minute, k2 is unlimited;
// finished requests refund the completion tokens they did not use.
TEST_F(GatewayTest, PerKeyTokenLimitsAre429) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  CoreOptions core;
  core.api_keys = {"k1", "k2"};
  core.key_limits["k1"] = {/*max_concurrency=*/0, /*tokens_per_minute=*/100};
  StartGateway(core);
  backend_->SetScript(FakeBackend::TextEvents({"a"}, FinishReason::kStop, 1));
  const std::string body = R"({"model":"stories","prompt":"Once","max_tokens":60})";
  const std::pair<std::string, std::string> k1{"Authorization", "Bearer k1"};
  // Prompt (BOS + "Once") + 60: fits; it generates 1 token, so 59 come back.
  ASSERT_EQ(Post("/v1/completions", body, {k1}).status, 200);
  ASSERT_EQ(Post("/v1/completions", body, {k1}).status, 200);
  // The budget now holds about 100 - 2 * (prompt + 1): a request that fits
  // a minute (prompt + 95) but not what is left waits.
  ClientResponse wait =
      Post("/v1/completions", R"({"model":"stories","prompt":"Once","max_tokens":95})", {k1});
  ExpectError(wait, 429);
  EXPECT_THAT(wait.body, HasSubstr("Rate limit reached"));
  ClientResponse too_big =
      Post("/v1/completions", R"({"model":"stories","prompt":"Once","max_tokens":120})", {k1});
  ExpectError(too_big, 429);
  EXPECT_THAT(too_big.body, HasSubstr("tokens per minute"));
  // Other keys are not affected.
  EXPECT_EQ(Post("/v1/completions", R"({"model":"stories","prompt":"Once","max_tokens":120})",
                 {{"Authorization", "Bearer k2"}})
                .status,
            200);
}

TEST_F(GatewayTest, BackendErrorsMapToStatusCodes) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartGateway();
  struct Case {
    absl::Status error;
    int http;
  };
  for (const Case& c : {Case{absl::InvalidArgumentError("bad"), 400},
                        Case{absl::ResourceExhaustedError("full"), 429},
                        Case{absl::UnavailableError("no nodes"), 503},
                        Case{absl::DeadlineExceededError("slow"), 504},
                        Case{absl::InternalError("bug"), 500}}) {
    BackendEvent e;
    e.finish = FinishReason::kError;
    e.error = c.error;
    backend_->SetScript({e});
    ExpectError(Post("/v1/completions", R"({"model":"stories","prompt":"x"})"), c.http);
    // Streams that fail before their first token still get a real status.
    ExpectError(Post("/v1/completions", R"({"model":"stories","prompt":"x","stream":true})"),
                c.http);
  }
}

TEST_F(GatewayTest, ErrorMidStreamIsAnSseErrorEvent) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartGateway();
  auto events = FakeBackend::TextEvents({"a"}, FinishReason::kNone, 1);
  BackendEvent error;
  error.finish = FinishReason::kError;
  error.error = absl::UnavailableError("decode node lost");
  events.push_back(error);
  backend_->SetScript(events);
  ClientResponse r =
      Post("/v1/completions", R"({"model":"stories","prompt":"x","stream":true})");
  ASSERT_EQ(r.status, 200);
  std::vector<std::string> data = SseData(r.body);
  ASSERT_EQ(data.size(), 3u) << r.body;
  EXPECT_THAT(data[1], HasSubstr("decode node lost"));
  EXPECT_EQ(data[2], "[DONE]");
}

TEST_F(GatewayTest, ClientDisconnectCancelsTheGeneration) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartGateway();
  backend_->SetScript(FakeBackend::TextEvents({"a", "b", "c"}, FinishReason::kStop, 1),
                      /*hold_after=*/1);
  auto conn = http::testing::TestConnection::Connect(server_->port());
  ASSERT_TRUE(conn.ok());
  ASSERT_TRUE((*conn)
                  ->Send("POST", "/v1/chat/completions",
                         R"({"model":"stories","stream":true,"messages":[{"role":"user","content":"x"}]})")
                  .ok());
  ASSERT_TRUE((*conn)->ReadHeader().ok());
  auto piece = (*conn)->ReadBodySome();  // the first chunk arrived
  ASSERT_TRUE(piece.ok());
  (*conn)->Close();
  ASSERT_TRUE(backend_->WaitForFinished(1, kWait));
  EXPECT_EQ(backend_->cancels(), 1);
  // The same happens for a non-streaming request that is still waiting.
  ASSERT_TRUE((*(conn = http::testing::TestConnection::Connect(server_->port())))
                  ->Send("POST", "/v1/completions", R"({"model":"stories","prompt":"x"})")
                  .ok());
  ASSERT_TRUE(backend_->WaitForRequests(2, kWait));
  (*conn)->Close();
  ASSERT_TRUE(backend_->WaitForFinished(2, kWait));
  EXPECT_EQ(backend_->cancels(), 2);
  EXPECT_EQ(server_->core()->in_flight(), 0);
}

TEST_F(GatewayTest, ModelsMetricsAndHealth) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartGateway();
  backend_->SetScript(FakeBackend::TextEvents({"a", "b"}, FinishReason::kStop, 3));
  ASSERT_EQ(Post("/v1/completions", R"({"model":"stories","prompt":"x"})").status, 200);
  auto models = HttpRequest(server_->port(), "GET", "/v1/models");
  ASSERT_TRUE(models.ok());
  json m = json::parse(models->body);
  EXPECT_EQ(m["object"], "list");
  EXPECT_EQ(m["data"][0]["id"], "stories");
  EXPECT_EQ(m["data"][0]["object"], "model");
  EXPECT_EQ(HttpRequest(server_->port(), "GET", "/v1/models/stories")->status, 200);
  EXPECT_EQ(HttpRequest(server_->port(), "GET", "/v1/models/other")->status, 404);
  auto metrics = HttpRequest(server_->port(), "GET", "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_THAT(metrics->body, HasSubstr("triptych_gateway_requests_total{endpoint=\"/v1/completions\",status=\"200\"} 1"));
  EXPECT_THAT(metrics->body, HasSubstr("triptych_gateway_time_to_first_token_seconds_count 1"));
  EXPECT_THAT(metrics->body, HasSubstr("triptych_gateway_completion_tokens_total 2"));
  EXPECT_THAT(metrics->body, HasSubstr("triptych_gateway_requests_in_flight 0"));
  EXPECT_EQ(HttpRequest(server_->port(), "GET", "/ready")->status, 200);
}

// Tool calling with Qwen 2.5's template (Hermes <tool_call> format).
class ToolCallingTest : public GatewayTest {
 protected:
  ~ToolCallingTest() override {
    std::error_code ec;  // unlinking a mapped file is safe on Linux
    if (!tool_model_.empty()) std::filesystem::remove(tool_model_, ec);
  }
  void StartWithTemplate(const std::string& dir, const std::string& name) {
    std::ifstream in(dir + "/chat_templates/templates/" + name);
    ASSERT_TRUE(in) << name;
    std::stringstream text;
    text << in.rdbuf();
    // A random model with an 8k context (the template's system prompt
    // alone outgrows stories260K's 128 tokens); the backend is scripted.
    tools::GenModelOptions o;
    // Per process: ctest runs these cases in parallel processes, and a file
    // rewritten under another one's mmap crashes it.
    o.out = (std::filesystem::temp_directory_path() /
             ("gateway_tool_calling_" + std::to_string(getpid()) + ".gguf"))
                .string();
    o.dim = 32;
    o.layers = 1;
    o.heads = 2;
    o.kv_heads = 1;
    o.ffn = 64;
    o.ctx = 8192;  // Command R7B's system prompt is 5k tokens here
    o.num_threads = 1;
    ASSERT_TRUE(tools::WriteRandomLlama(o).ok());
    model_path_ = o.out;
    tool_model_ = o.out;
    ModelInfoOptions mo;
    mo.chat_template = text.str();
    StartGateway({}, 1 << 20, mo);
  }
  std::string tool_model_;
  static constexpr char kTools[] =
      R"("tools":[{"type":"function","function":{"name":"get_weather","description":"Weather.",)"
      R"("parameters":{"type":"object","properties":{"location":{"type":"string"}},)"
      R"("required":["location"]}}},{"type":"function","function":{"name":"get_time",)"
      R"("description":"Time."}}])";
  static std::string Chat(const std::string& extra) {
    return std::string(R"({"model":"stories","max_tokens":64,)") +
           R"("messages":[{"role":"user","content":"Weather in Paris?"}],)" + kTools + extra + "}";
  }
  // A chat stream with tool calls, gathered per choice index.
  struct Streamed {
    std::map<int, std::string> content, finish, reasoning;
    std::map<int, std::vector<json>> calls;        // accumulated per call
    std::map<int, std::vector<json>> call_chunks;  // delta.tool_calls entries
    std::vector<std::string> content_deltas;  // every content piece, in order
  };
  static Streamed GatherStream(const std::string& body) {
    Streamed out;
    const std::vector<std::string> data = SseData(body);
    EXPECT_FALSE(data.empty() || data.back() != "[DONE]") << body;
    for (size_t i = 0; i + 1 < data.size(); ++i) {
      const json c = json::parse(data[i]);
      if (c["choices"].empty()) continue;  // the usage chunk
      const int index = c["choices"][0]["index"];
      const json& delta = c["choices"][0]["delta"];
      if (delta.contains("content") && delta["content"].is_string()) {
        out.content[index] += delta["content"].get<std::string>();
        out.content_deltas.push_back(delta["content"]);
      }
      if (delta.contains("reasoning_content")) {
        out.reasoning[index] += delta["reasoning_content"].get<std::string>();
      }
      if (delta.contains("tool_calls")) {
        // Accumulated by the call's index, as the openai SDKs do.
        for (const json& t : delta["tool_calls"]) {
          out.call_chunks[index].push_back(t);
          std::vector<json>& calls = out.calls[index];
          const size_t i = t.value("index", -1);
          if (i == calls.size()) {
            calls.push_back({{"index", i},
                             {"function", {{"name", ""}, {"arguments", ""}}}});
          }
          if (i >= calls.size()) {
            ADD_FAILURE() << "tool call index out of order: " << t;
            continue;
          }
          json& call = calls[i];
          if (t.contains("id")) call["id"] = t["id"];
          if (t.contains("type")) call["type"] = t["type"];
          const json& f = t.value("function", json::object());
          if (f.contains("name")) call["function"]["name"] = f["name"];
          if (f.contains("arguments")) {
            call["function"]["arguments"] =
                call["function"]["arguments"].get<std::string>() +
                f["arguments"].get<std::string>();
          }
        }
      }
      if (!c["choices"][0]["finish_reason"].is_null()) {
        out.finish[index] = c["choices"][0]["finish_reason"];
      }
    }
    return out;
  }
  // A follow-up chat: the assistant's get_weather call and its tool result.
  static std::string FollowUp(const std::string& tools) {
    return std::string(R"({"model":"stories",)") +
           R"("max_tokens":8,"messages":[{"role":"user","content":"Weather in Paris?"},)"
           R"({"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",)"
           R"("function":{"name":"get_weather","arguments":"{\"location\": \"Paris\"}"}}]},)"
           R"({"role":"tool","tool_call_id":"call_1","content":"18C, sunny"}],)" + tools + "}";
  }
  static std::vector<BackendEvent> CallScript() {
    return FakeBackend::TextEvents({"I'll check.\n<tool", "_call>\n{\"name\": \"get_weather\", ",
                                    "\"arguments\": {\"location\": \"Paris\"}}\n</tool_call>"},
                                   FinishReason::kStop, 40);
  }
};

TEST_F(ToolCallingTest, AutoParsesHermesCallsAndRendersTools) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartWithTemplate(dir, "Qwen-Qwen2.5-7B-Instruct.jinja");
  backend_->SetScript(CallScript());
  ClientResponse r = Post("/v1/chat/completions", Chat(""));
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  const json& choice = j["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_EQ(choice["message"]["content"], "I'll check.\n");
  ASSERT_EQ(choice["message"]["tool_calls"].size(), 1u);
  const json& call = choice["message"]["tool_calls"][0];
  EXPECT_TRUE(absl::StartsWith(call["id"].get<std::string>(), "call_")) << call;
  EXPECT_EQ(call["type"], "function");
  EXPECT_EQ(call["function"]["name"], "get_weather");
  EXPECT_EQ(call["function"]["arguments"], R"({"location":"Paris"})");
  // The tools reached the template; auto does not constrain.
  const BackendRequest b = backend_->requests().at(0);
  const std::string prompt = info_->tokenizer().Decode(b.prompt);
  EXPECT_THAT(prompt, HasSubstr("<tools>\n{\"type\": \"function\", \"function\": {\"name\": "
                                "\"get_weather\""));
  EXPECT_FALSE(b.constraint.active());
  // Plain text stays content with finish_reason stop.
  backend_->SetScript(FakeBackend::TextEvents({"It is sunny."}, FinishReason::kStop, 40));
  r = Post("/v1/chat/completions", Chat(""));
  j = json::parse(r.body);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "It is sunny.");
  EXPECT_FALSE(j["choices"][0]["message"].contains("tool_calls"));
  // tool_choice none: the same call text is content.
  backend_->SetScript(CallScript());
  r = Post("/v1/chat/completions", Chat(R"(,"tool_choice":"none")"));
  j = json::parse(r.body);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_FALSE(j["choices"][0]["message"].contains("tool_calls"));
}

TEST_F(ToolCallingTest, StreamSendsContentThenToolCallDeltas) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartWithTemplate(dir, "Qwen-Qwen2.5-7B-Instruct.jinja");
  backend_->SetScript(CallScript());
  ClientResponse r = Post("/v1/chat/completions", Chat(R"(,"stream":true)"));
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_GE(SseData(r.body).size(), 4u);
  Streamed st = GatherStream(r.body);
  // Text that may start a marker is never sent as content.
  for (const std::string& d : st.content_deltas) EXPECT_FALSE(absl::StrContains(d, "<tool")) << d;
  EXPECT_EQ(st.content[0], "I'll check.\n");
  const std::vector<json>& calls = st.calls[0];
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0]["index"], 0);
  EXPECT_TRUE(absl::StartsWith(calls[0]["id"].get<std::string>(), "call_"));
  EXPECT_EQ(calls[0]["type"], "function");
  EXPECT_EQ(calls[0]["function"]["name"], "get_weather");
  EXPECT_EQ(calls[0]["function"]["arguments"], R"({"location":"Paris"})");
  EXPECT_EQ(st.finish[0], "tool_calls");
}

TEST_F(ToolCallingTest, RequiredAndNamedConstrainTheOutput) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartWithTemplate(dir, "Qwen-Qwen2.5-7B-Instruct.jinja");
  backend_->SetScript(CallScript());
  ASSERT_EQ(Post("/v1/chat/completions", Chat(R"(,"tool_choice":"required")")).status, 200);
  ASSERT_EQ(Post("/v1/chat/completions",
                 Chat(R"(,"tool_choice":{"type":"function","function":{"name":"get_weather"}})"))
                .status,
            200);
  auto requests = backend_->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].constraint.kind, grammar::ConstraintKind::kJsonSchema);
  EXPECT_EQ(requests[0].constraint.prefix, "<tool_call>\n");
  EXPECT_EQ(requests[0].constraint.suffix, "\n</tool_call>");
  EXPECT_THAT(requests[0].constraint.schema_json, HasSubstr("anyOf"));
  EXPECT_EQ(requests[1].constraint.prefix,
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": ");
  EXPECT_EQ(requests[1].constraint.suffix, "}\n</tool_call>");
}

// n > 1 with tools: each choice is parsed on its own, whole and streamed
// (interleaved events of two choices; one calls, one answers).
TEST_F(ToolCallingTest, EveryChoiceParsesItsOwnCalls) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartWithTemplate(dir, "Qwen-Qwen2.5-7B-Instruct.jinja");
  auto piece = [](int index, std::string text, FinishReason finish = FinishReason::kNone) {
    BackendEvent e;
    e.index = index;
    e.tokens = {100 + index};
    e.text = std::move(text);
    e.finish = finish;
    if (finish != FinishReason::kNone) e.usage = {40, 3, 0};
    return e;
  };
  const std::vector<BackendEvent> script = {
      piece(0, "<tool_call>\n{\"name\": \"get_weather\", "), piece(1, "Sunny"),
      piece(0, "\"arguments\": {\"location\": \"Paris\"}}"), piece(1, " today.", FinishReason::kStop),
      piece(0, "\n</tool_call>", FinishReason::kStop)};
  backend_->SetScript(script);
  ClientResponse r = Post("/v1/chat/completions", Chat(R"(,"n":2)"));
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  ASSERT_EQ(j["choices"].size(), 2u);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(j["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            R"({"location":"Paris"})");
  EXPECT_EQ(j["choices"][1]["finish_reason"], "stop");
  EXPECT_EQ(j["choices"][1]["message"]["content"], "Sunny today.");
  EXPECT_FALSE(j["choices"][1]["message"].contains("tool_calls"));

  backend_->SetScript(script);
  r = Post("/v1/chat/completions", Chat(R"(,"n":2,"stream":true)"));
  ASSERT_EQ(r.status, 200) << r.body;
  Streamed st = GatherStream(r.body);
  std::map<int, std::string>& content = st.content;
  std::map<int, std::string>& finish = st.finish;
  std::map<int, std::vector<json>>& calls = st.calls;
  EXPECT_EQ(content, (std::map<int, std::string>{{0, ""}, {1, "Sunny today."}}));
  ASSERT_EQ(calls[0].size(), 1u);
  EXPECT_EQ(calls[0][0]["index"], 0);  // the call's index within its choice
  EXPECT_EQ(calls[0][0]["function"]["name"], "get_weather");
  EXPECT_TRUE(calls[1].empty());
  EXPECT_EQ(finish, (std::map<int, std::string>{{0, "tool_calls"}, {1, "stop"}}));
  // required with n = 2: every choice is constrained (the engine copies the
  // matcher into each forked choice).
  backend_->SetScript(script);
  ASSERT_EQ(Post("/v1/chat/completions", Chat(R"(,"n":2,"tool_choice":"required")")).status, 200);
  EXPECT_EQ(backend_->requests().back().n, 2);
  EXPECT_TRUE(backend_->requests().back().constraint.active());
}

// OpenAI's streamed call shape, for every choice of n = 2: a call's first
// chunk has index, id, type and name with empty arguments, the next ones
// only index and argument fragments, as the model writes them.
TEST_F(ToolCallingTest, StreamsArgumentFragmentsPerChoice) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartWithTemplate(dir, "Qwen-Qwen2.5-7B-Instruct.jinja");
  auto piece = [](int index, std::string text,
                  FinishReason finish = FinishReason::kNone) {
    BackendEvent e;
    e.index = index;
    e.tokens = {100 + index};
    e.text = std::move(text);
    e.finish = finish;
    if (finish != FinishReason::kNone) e.usage = {40, 6, 0};
    return e;
  };
  backend_->SetScript({
      piece(0,
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
            "{\"location\": \"Pa"),
      piece(
          1,
          "Let me see.<tool_call>\n{\"name\": \"get_time\", \"arguments\": {"),
      piece(0, "ris\", \"unit\": \"cel"),
      piece(1,
            "\"tz\": \"UTC\"}}\n</tool_call>\n<tool_call>{\"name\": "
            "\"get_weather\", "),
      piece(0, "sius\"}}\n</tool_call>", FinishReason::kStop),
      piece(1, "\"arguments\": {\"location\": \"Oslo\"}}</tool_call>",
            FinishReason::kStop),
  });
  ClientResponse r =
      Post("/v1/chat/completions", Chat(R"(,"n":2,"stream":true)"));
  ASSERT_EQ(r.status, 200) << r.body;
  Streamed st = GatherStream(r.body);
  EXPECT_EQ(st.finish,
            (std::map<int, std::string>{{0, "tool_calls"}, {1, "tool_calls"}}));
  EXPECT_EQ(st.content[0], "");
  EXPECT_EQ(st.content[1], "Let me see.");
  // What the client assembles.
  ASSERT_EQ(st.calls[0].size(), 1u);
  EXPECT_EQ(st.calls[0][0]["function"]["name"], "get_weather");
  EXPECT_EQ(st.calls[0][0]["function"]["arguments"],
            R"({"location":"Paris","unit":"celsius"})");
  ASSERT_EQ(st.calls[1].size(), 2u);
  EXPECT_EQ(st.calls[1][0]["function"]["name"], "get_time");
  EXPECT_EQ(st.calls[1][0]["function"]["arguments"], R"({"tz":"UTC"})");
  EXPECT_EQ(st.calls[1][1]["function"]["name"], "get_weather");
  EXPECT_EQ(st.calls[1][1]["function"]["arguments"], R"({"location":"Oslo"})");
  EXPECT_NE(st.calls[1][0]["id"], st.calls[1][1]["id"]);
  // The chunks: choice 0's arguments in the three pieces the model wrote.
  const std::vector<json>& c0 = st.call_chunks[0];
  ASSERT_EQ(c0.size(), 4u) << json(c0);
  EXPECT_EQ(c0[0]["index"], 0);
  EXPECT_TRUE(absl::StartsWith(c0[0]["id"].get<std::string>(), "call_"))
      << c0[0];
  EXPECT_EQ(c0[0]["type"], "function");
  EXPECT_EQ(c0[0]["function"],
            json({{"name", "get_weather"}, {"arguments", ""}}));
  EXPECT_EQ(c0[1], json({{"index", 0},
                         {"function", {{"arguments", R"({"location":"Pa)"}}}}));
  EXPECT_EQ(c0[2],
            json({{"index", 0},
                  {"function", {{"arguments", R"(ris","unit":"cel)"}}}}));
  EXPECT_EQ(c0[3],
            json({{"index", 0}, {"function", {{"arguments", R"(sius"})"}}}}));
  // Choice 1: two calls, each opened by its own first chunk.
  int firsts = 0;
  for (const json& c : st.call_chunks[1]) {
    if (c.contains("id")) {
      ++firsts;
      EXPECT_EQ(c["type"], "function");
      EXPECT_EQ(c["function"]["arguments"], "");
    } else {
      EXPECT_EQ(c.size(), 2u) << c;  // index and function
      EXPECT_FALSE(c["function"].contains("name")) << c;
    }
  }
  EXPECT_EQ(firsts, 2);
  // Non-streaming, the same calls.
  backend_->SetScript(
      {piece(0,
             "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
             "{\"location\": \"Paris\"}}\n</tool_call>",
             FinishReason::kStop)});
  r = Post("/v1/chat/completions", Chat(""));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["choices"][0]["message"]["tool_calls"][0]
                               ["function"]["arguments"],
            R"({"location":"Paris"})");
}

// parallel_tool_calls false: only the first call's chunks go out.
TEST_F(ToolCallingTest, StreamWithoutParallelCallsSendsTheFirst) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartWithTemplate(dir, "Qwen-Qwen2.5-7B-Instruct.jinja");
  backend_->SetScript(FakeBackend::TextEvents(
      {"<tool_call>{\"name\": \"get_time\", \"arguments\": {\"tz\": ",
       "\"UTC\"}}</tool_call>",
       "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"location\": ",
       "\"Oslo\"}}</tool_call>"},
      FinishReason::kStop, 40));
  ClientResponse r =
      Post("/v1/chat/completions",
           Chat(R"(,"stream":true,"parallel_tool_calls":false)"));
  ASSERT_EQ(r.status, 200) << r.body;
  Streamed st = GatherStream(r.body);
  ASSERT_EQ(st.calls[0].size(), 1u);
  EXPECT_EQ(st.calls[0][0]["function"]["name"], "get_time");
  EXPECT_EQ(st.calls[0][0]["function"]["arguments"], R"({"tz":"UTC"})");
  for (const json& c : st.call_chunks[0]) EXPECT_EQ(c["index"], 0) << c;
  EXPECT_EQ(st.finish[0], "tool_calls");
}

TEST_F(ToolCallingTest, FollowUpWithToolResultsRenders) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartWithTemplate(dir, "Qwen-Qwen2.5-7B-Instruct.jinja");
  backend_->SetScript(FakeBackend::TextEvents({"Sunny, 18C."}, FinishReason::kStop, 40));
  ClientResponse r = Post("/v1/chat/completions", FollowUp(kTools));
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string prompt = info_->tokenizer().Decode(backend_->requests().at(0).prompt);
  EXPECT_THAT(prompt, HasSubstr("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
                                "{\"location\": \"Paris\"}}\n</tool_call>"));
  EXPECT_THAT(prompt, HasSubstr("<tool_response>\n18C, sunny\n</tool_response>"));
}

TEST_F(ToolCallingTest, UnsupportedCombinationsAre400s) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartWithTemplate(dir, "Qwen-Qwen2.5-7B-Instruct.jinja");
  ExpectError(Post("/v1/chat/completions",
                   Chat(R"(,"tool_choice":"required","response_format":{"type":"json_object"})")),
              400, "response_format");
  ExpectError(Post("/v1/chat/completions",
                   Chat(R"(,"tool_choice":{"type":"function","function":{"name":"nope"}})")),
              400, "tool_choice");
  // A parameters keyword the grammar cannot enforce: a 400 only when it must.
  const std::string tools =
      R"({"model":"stories","max_tokens":4,"messages":[{"role":"user","content":"x"}],)"
      R"("tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object",)"
      R"("properties":{"d":{"type":"string","format":"date"}}}}}])";
  ExpectError(Post("/v1/chat/completions", tools + R"(,"tool_choice":"required"})"), 400, "tools");
  backend_->SetScript(FakeBackend::TextEvents({"ok"}, FinishReason::kStop, 3));
  EXPECT_EQ(Post("/v1/chat/completions", tools + "}").status, 200);
}

// functionary v3.1 / v3.2 and Command R+ / R7B: a reply in the template's
// own format parses into the call (whole and streamed), the constraint
// takes the template's layout, and the follow-up renders the call back.
struct FormatCase {
  const char* file;
  std::vector<std::string> reply;  // scripted model output, in pieces
  const char* content;             // parsed content ("" = null)
  const char* named_prefix;        // constraint prefix for get_weather
  const char* rendered;            // the call as the follow-up renders it
};

class ToolFormatsTest : public ToolCallingTest,
                        public ::testing::WithParamInterface<FormatCase> {
 protected:
  // Every field the Command R templates print is given (they raise on an
  // undefined parameter description or parameters object, as in jinja2).
  static constexpr char kFullTools[] =
      R"("tools":[{"type":"function","function":{"name":"get_weather","description":"Weather.",)"
      R"("parameters":{"type":"object","properties":{"location":{"type":"string",)"
      R"("description":"City."}},"required":["location"]}}},{"type":"function","function":{)"
      R"("name":"get_time","description":"Time.","parameters":{"type":"object",)"
      R"("properties":{}}}}])";
  static std::string FullChat(const std::string& extra) {
    return std::string(R"({"model":"stories","max_tokens":64,)") +
           R"("messages":[{"role":"user","content":"Weather in Paris?"}],)" + kFullTools + extra +
           "}";
  }
};

TEST_P(ToolFormatsTest, ParsesConstrainsAndRendersBack) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  const FormatCase& k = GetParam();
  StartWithTemplate(dir, k.file);
  for (bool stream : {false, true}) {
    backend_->SetScript(FakeBackend::TextEvents(k.reply, FinishReason::kStop, 40));
    ClientResponse r =
        Post("/v1/chat/completions", FullChat(stream ? R"(,"stream":true)" : ""));
    ASSERT_EQ(r.status, 200) << r.body;
    std::string content;
    std::vector<json> calls;
    std::string finish;
    if (stream) {
      Streamed st = GatherStream(r.body);
      content = st.content[0];
      calls = st.calls[0];
      finish = st.finish[0];
    } else {
      json j = json::parse(r.body);
      const json& m = j["choices"][0]["message"];
      if (m["content"].is_string()) content = m["content"];
      if (m.contains("tool_calls")) calls = m["tool_calls"].get<std::vector<json>>();
      finish = j["choices"][0]["finish_reason"];
    }
    EXPECT_EQ(content, k.content) << k.file << " stream " << stream;
    ASSERT_EQ(calls.size(), 1u) << k.file << " stream " << stream << r.body;
    EXPECT_EQ(calls[0]["function"]["name"], "get_weather");
    EXPECT_EQ(calls[0]["function"]["arguments"], R"({"location":"Paris"})");
    EXPECT_EQ(finish, "tool_calls");
  }
  backend_->SetScript(FakeBackend::TextEvents({"x"}, FinishReason::kStop, 3));
  ASSERT_EQ(Post("/v1/chat/completions",
                 FullChat(R"(,"tool_choice":{"type":"function","function":{"name":"get_weather"}})"))
                .status,
            200);
  EXPECT_EQ(backend_->requests().back().constraint.prefix, k.named_prefix);
  ClientResponse r = Post("/v1/chat/completions", FollowUp(kFullTools));
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string prompt = info_->tokenizer().Decode(backend_->requests().back().prompt);
  EXPECT_THAT(prompt, HasSubstr(k.rendered));
  EXPECT_THAT(prompt, HasSubstr("18C, sunny"));
}

INSTANTIATE_TEST_SUITE_P(
    Families, ToolFormatsTest,
    ::testing::Values(
        FormatCase{"meetkai-functionary-medium-v3.1.jinja",
                   {"Checking.<func", "tion=get_weather>{\"location\": ", "\"Paris\"}</function>"},
                   "Checking.", "<function=get_weather>",
                   "<function=get_weather>{\"location\": \"Paris\"}</function>"},
        FormatCase{"meetkai-functionary-medium-v3.2.jinja",
                   {"al", "l\nChecking.>", ">>get_weather\n{\"location\": \"Paris\"}"},
                   "Checking.", "get_weather\n", ">>>get_weather\n{\"location\": \"Paris\"}"},
        FormatCase{"CohereForAI-c4ai-command-r-plus-tool_use.jinja",
                   {"Action:\n```json\n[{\"tool_name\": \"get_weather\", ",
                    "\"parameters\": {\"location\": \"Paris\"}}]\n```"},
                   "", "Action:\n```json\n",
                   "Action:\n```json\n[\n    {\n        \"tool_name\": \"get_weather\",\n"},
        FormatCase{"CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja",
                   {"[{\"tool_call_id\": \"0\", \"tool_name\": \"get_weather\", ",
                    "\"parameters\": {\"location\": \"Paris\"}}]"},
                   "", "",
                   "\"tool_name\": \"get_weather\", \"parameters\": {\"location\": \"Paris\"}}"}),
    [](const auto& info) {
      const std::string f = info.param.file;
      if (f.find("v3.1") != std::string::npos) return std::string("FunctionaryV31");
      if (f.find("v3.2") != std::string::npos) return std::string("FunctionaryV32");
      if (f.find("r7b") != std::string::npos) return std::string("CommandR7B");
      return std::string("CommandRPlus");
    });

// gpt-oss (harmony): the channel markers reach the gateway as text (the
// decoder keeps them: preserved tokens); a call parses whole and streamed
// with its analysis as reasoning_content, a plain answer is the final
// channel, a named function puts the call's header into the prompt, and
// the follow-up renders the call and result as the template writes them.
TEST_F(ToolCallingTest, GptOssChannelsCallsAndFollowUp) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartWithTemplate(dir, "openai-gpt-oss-120b.jinja");
  ASSERT_EQ(info_->tool_format(), tool_calls::ToolFormat::kGptOss);
  // The engine stops at <|call|> / <|return|> (end-of-generation tokens),
  // so the text ends before them.
  const std::vector<std::string> call = {
      "<|channel|>analysis<|message|>Need the ",
      "weather.<|end|><|start|>assistant<|channel|>commentary "
      "to=functions.get_weather "
      "<|constrain|>json<|message|>{\"location\": ",
      "\"Paris\"}"};
  const std::vector<std::string> answer = {
      "<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|chan",
      "nel|>final<|message|>It is ", "sunny."};
  struct Reply {
    std::string content, reasoning, finish;
    std::vector<json> calls;
  };
  auto ask = [&](const std::vector<std::string>& script,
                 const std::string& body, bool stream) {
    backend_->SetScript(
        FakeBackend::TextEvents(script, FinishReason::kStop, 40));
    std::string b = body;
    if (stream) b.insert(b.size() - 1, R"(,"stream":true)");
    ClientResponse r = Post("/v1/chat/completions", b);
    EXPECT_EQ(r.status, 200) << r.body;
    Reply out;
    if (r.status != 200) return out;
    if (stream) {
      Streamed st = GatherStream(r.body);
      out = {st.content[0], st.reasoning[0], st.finish[0], st.calls[0]};
    } else {
      const json j = json::parse(r.body);
      const json& m = j["choices"][0]["message"];
      if (m["content"].is_string()) out.content = m["content"];
      EXPECT_TRUE(m.contains("reasoning_content")) << r.body;
      if (m["reasoning_content"].is_string())
        out.reasoning = m["reasoning_content"];
      if (m.contains("tool_calls"))
        out.calls = m["tool_calls"].get<std::vector<json>>();
      out.finish = j["choices"][0]["finish_reason"];
    }
    return out;
  };
  const std::string plain =
      R"({"model":"stories","max_tokens":64,"messages":[{"role":"user","content":"Hi"}]})";
  for (bool stream : {false, true}) {
    Reply r = ask(call, Chat(""), stream);
    EXPECT_EQ(r.content, "") << stream;
    EXPECT_EQ(r.reasoning, "Need the weather.") << stream;
    EXPECT_EQ(r.finish, "tool_calls") << stream;
    ASSERT_EQ(r.calls.size(), 1u) << stream;
    EXPECT_EQ(r.calls[0]["function"]["name"], "get_weather");
    EXPECT_EQ(r.calls[0]["function"]["arguments"], R"({"location":"Paris"})");
    // Plain chat, no tools: the answer is the final channel only.
    r = ask(answer, plain, stream);
    EXPECT_EQ(r.content, "It is sunny.") << stream;
    EXPECT_EQ(r.reasoning, "Think.") << stream;
    EXPECT_EQ(r.finish, "stop") << stream;
    EXPECT_TRUE(r.calls.empty());
    // Cut off (max_tokens) inside the analysis channel, on a tail that may
    // have started an end marker: it is reasoning all the same.
    r = ask({"<|channel|>analysis<|message|>Still ", "thinking <|"}, plain,
            stream);
    EXPECT_EQ(r.reasoning, "Still thinking <|") << stream;
    EXPECT_EQ(r.content, "") << stream;
    // tool_choice "none": a call the model writes anyway is not returned.
    r = ask(call, Chat(R"(,"tool_choice":"none")"), stream);
    EXPECT_TRUE(r.calls.empty()) << stream;
    EXPECT_EQ(r.finish, "stop") << stream;
    EXPECT_EQ(r.reasoning, "Need the weather.") << stream;
  }
  EXPECT_EQ(backend_->requests().back().preserved_tokens,
            info_->preserved_tokens());

  // Named function: the header ends the prompt, the output is the
  // arguments under the schema (no literal envelope).
  const std::string named = Chat(
      R"(,"tool_choice":{"type":"function","function":{"name":"get_weather"}})");
  for (bool stream : {false, true}) {
    Reply r = ask({"{\"location\": ", "\"Paris\"}"}, named, stream);
    EXPECT_EQ(r.finish, "tool_calls") << stream;
    ASSERT_EQ(r.calls.size(), 1u) << stream;
    EXPECT_EQ(r.calls[0]["function"]["name"], "get_weather");
    EXPECT_EQ(r.calls[0]["function"]["arguments"], R"({"location":"Paris"})");
    EXPECT_EQ(r.reasoning, "");
  }
  const BackendRequest req = backend_->requests().back();
  EXPECT_EQ(req.constraint.kind, grammar::ConstraintKind::kJsonSchema);
  EXPECT_EQ(req.constraint.prefix, "");
  EXPECT_THAT(req.constraint.schema_json, HasSubstr("location"));
  EXPECT_TRUE(absl::EndsWith(
      info_->tokenizer().Decode(req.prompt),
      "<|start|>assistant<|channel|>commentary to=functions.get_weather "
      "<|constrain|>json<|message|>"));
  // "required" with two tools: the name is in the header, outside the JSON.
  ExpectError(
      Post("/v1/chat/completions", Chat(R"(,"tool_choice":"required")")), 400,
      "tool_choice");

  backend_->SetScript(FakeBackend::TextEvents({"<|channel|>final<|message|>ok"},
                                              FinishReason::kStop, 3));
  ClientResponse r = Post("/v1/chat/completions", FollowUp(kTools));
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string prompt =
      info_->tokenizer().Decode(backend_->requests().back().prompt);
  EXPECT_THAT(
      prompt,
      HasSubstr(
          "<|start|>assistant to=functions.get_weather<|channel|>commentary "
          "json<|message|>{\"location\": \"Paris\"}<|call|>"));
  EXPECT_THAT(
      prompt,
      HasSubstr(
          "<|start|>functions.get_weather to=assistant<|channel|>commentary"
          "<|message|>\"18C, sunny\"<|end|>"));
  EXPECT_TRUE(absl::EndsWith(prompt, "<|start|>assistant")) << prompt;
  EXPECT_THAT(prompt, Not(HasSubstr("<|channel|>analysis")));
  // The call's reasoning, sent back as reasoning_content, is rendered as
  // the analysis before it (the template's `thinking`).
  std::string with_reasoning = FollowUp(kTools);
  const std::string null_content = R"("content":null,"tool_calls")";
  ASSERT_NE(with_reasoning.find(null_content), std::string::npos);
  with_reasoning.replace(
      with_reasoning.find(null_content), null_content.size(),
      R"("content":null,"reasoning_content":"Need the weather.","tool_calls")");
  backend_->SetScript(FakeBackend::TextEvents({"<|channel|>final<|message|>ok"},
                                              FinishReason::kStop, 3));
  r = Post("/v1/chat/completions", with_reasoning);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(
      info_->tokenizer().Decode(backend_->requests().back().prompt),
      HasSubstr(
          "<|start|>assistant<|channel|>analysis<|message|>Need the weather."
          "<|end|><|start|>assistant to=functions.get_weather"));
}

TEST_F(ToolCallingTest, TemplatesWithoutAParsedFormatAre400s) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartWithTemplate(dir, "google-gemma-2-2b-it.jinja");
  ClientResponse r = Post("/v1/chat/completions", Chat(""));
  ExpectError(r, 400, "tools");
  EXPECT_THAT(r.body, HasSubstr("no tool-call format"));
  backend_->SetScript(FakeBackend::TextEvents({"ok"}, FinishReason::kStop, 3));
  ClientResponse none = Post("/v1/chat/completions", Chat(R"(,"tool_choice":"none")"));
  EXPECT_EQ(none.status, 200) << none.body;
}

}  // namespace
}  // namespace triptych::gateway
