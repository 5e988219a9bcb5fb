// End to end: HTTP -> OpenAI core -> EngineBackend -> engine, with the
// stories260K model from the shared conformance data.

#include "services/gateway/engine_backend.h"

#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "common/http/testing/test_client.h"
#include "common/testing/conformance.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/engine/model_bundle.h"
#include "services/gateway/gateway_server.h"

namespace triptych::gateway {
namespace {

using http::testing::HttpRequest;
using nlohmann::json;

constexpr absl::Duration kWait = absl::Seconds(60);

class EngineBackendTest : public ::testing::Test {
 protected:
  void Start(const std::string& dir) {
    auto bundle = engine::ModelBundle::Load(dir + "/models/stories260K.gguf");
    ASSERT_TRUE(bundle.ok()) << bundle.status();
    auto info = ModelInfo::FromFile(*(*bundle)->file, (*bundle)->tokenizer.get());
    ASSERT_TRUE(info.ok());
    engine::EngineOptions eo;
    eo.num_kv_blocks = 128;
    eo.prefix_cache = false;  // so that "all blocks free" is exact
    auto backend = EngineBackend::Create((*bundle)->model.get(), (*bundle)->tokenizer.get(), eo);
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = backend->get();
    GatewayOptions options;
    options.core.served_model_name = "stories260K";
    auto server = GatewayServer::Create(options, std::move(info).value(),
                                        std::move(backend).value(), std::move(bundle).value());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
    ASSERT_TRUE(server_->Start().ok());
    // The reference: the first line's greedy continuation of its prompt.
    std::ifstream in(dir + "/reference/stories260K-greedy.jsonl");
    std::string line;
    ASSERT_TRUE(std::getline(in, line));
    json ref = json::parse(line);
    ASSERT_EQ(ref["prompt"], "Once upon a time");
    ASSERT_EQ(ref["n_predict"], 48);
    const std::string output = ref["output"];
    ASSERT_TRUE(absl::StartsWith(output, "Once upon a time"));
    expected_ = output.substr(std::string("Once upon a time").size());
  }

  std::unique_ptr<GatewayServer> server_;
  EngineBackend* backend_ = nullptr;
  std::string expected_;
};

constexpr char kRequest[] =
    R"({"model":"stories260K","prompt":"Once upon a time","max_tokens":48,"temperature":0)";

TEST_F(EngineBackendTest, GreedyCompletionMatchesReference) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  Start(dir);
  auto r = HttpRequest(server_->port(), "POST", "/v1/completions", std::string(kRequest) + "}");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["choices"][0]["text"], expected_);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["completion_tokens"], 48);
  EXPECT_EQ(j["usage"]["prompt_tokens"], 5);  // BOS + 4
}

TEST_F(EngineBackendTest, StreamingGivesTheSameText) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  Start(dir);
  auto r = HttpRequest(server_->port(), "POST", "/v1/completions",
                       std::string(kRequest) + R"(,"stream":true})");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200);
  std::string text;
  bool done = false;
  for (absl::string_view event : absl::StrSplit(r->body, "\n\n", absl::SkipEmpty())) {
    ASSERT_TRUE(absl::ConsumePrefix(&event, "data: "));
    if (event == "[DONE]") {
      done = true;
      continue;
    }
    text += json::parse(event)["choices"][0]["text"].get<std::string>();
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(text, expected_);
}

TEST_F(EngineBackendTest, ChatCompletionRuns) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  Start(dir);
  auto r = HttpRequest(server_->port(), "POST", "/v1/chat/completions",
                       R"({"model":"stories260K","max_tokens":8,"temperature":0,"logprobs":true,
                           "top_logprobs":3,"messages":[{"role":"user","content":"Hi"}]})");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["usage"]["completion_tokens"], j["choices"][0]["logprobs"]["content"].size());
  EXPECT_EQ(j["choices"][0]["logprobs"]["content"][0]["top_logprobs"].size(), 3u);
}

TEST_F(EngineBackendTest, DisconnectMidStreamFreesEveryBlock) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  Start(dir);
  const engine::EngineStats before = backend_->stats();
  auto conn = http::testing::TestConnection::Connect(server_->port());
  ASSERT_TRUE(conn.ok());
  ASSERT_TRUE((*conn)
                  ->Send("POST", "/v1/completions",
                         R"({"model":"stories260K","prompt":"Once upon a time","stream":true,
                             "ignore_eos":true,"temperature":0})")
                  .ok());
  ASSERT_TRUE((*conn)->ReadHeader().ok());
  ASSERT_TRUE((*conn)->ReadBodySome().ok());
  (*conn)->Close();
  ASSERT_TRUE(backend_->WaitUntilIdle(kWait));
  const engine::EngineStats after = backend_->stats();
  EXPECT_EQ(after.kv_blocks_available, after.kv_blocks_total);
  EXPECT_EQ(after.kv_blocks_available, before.kv_blocks_available);
  EXPECT_EQ(after.running + after.waiting, 0);
}

}  // namespace
}  // namespace triptych::gateway
