// `n` > 1 through the real HTTP server: the response shape (index on every
// choice and stream chunk, usage with the prompt once and every choice's
// tokens, the --max-n bound) over a scripted backend, and the outputs over
// the in-process engine (greedy choices equal one greedy request, seeded
// choices reproducible per index, the prompt computed once).

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "common/http/testing/test_client.h"
#include "common/testing/conformance.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/engine/model_bundle.h"
#include "services/gateway/engine_backend.h"
#include "services/gateway/gateway_server.h"
#include "services/gateway/testing/fake_backend.h"

namespace triptych::gateway {
namespace {

using http::testing::ClientResponse;
using http::testing::HttpRequest;
using nlohmann::json;
using testing::FakeBackend;

std::vector<json> SseJson(const std::string& body) {
  std::vector<json> out;
  for (absl::string_view event : absl::StrSplit(body, "\n\n", absl::SkipEmpty())) {
    EXPECT_TRUE(absl::StartsWith(event, "data: ")) << event;
    if (event.substr(6) == "[DONE]") continue;
    out.push_back(json::parse(event.substr(6)));
  }
  return out;
}

BackendEvent Piece(int index, const std::string& text, FinishReason finish = FinishReason::kNone,
                   int64_t completion = 0) {
  BackendEvent e;
  e.index = index;
  e.tokens = {100 + index};
  e.text = text;
  e.finish = finish;
  if (finish != FinishReason::kNone) e.usage = {7, completion, 3};
  return e;
}

// Two choices, interleaved as a backend delivers them.
std::vector<BackendEvent> TwoChoices() {
  return {Piece(0, "A"), Piece(1, "x"), Piece(1, "y", FinishReason::kStop, 2),
          Piece(0, "B"), Piece(0, "C", FinishReason::kLength, 3)};
}

class ChoicesShapeTest : public ::testing::Test {
 protected:
  void StartGateway(int64_t max_n) {
    const std::string dir = triptych::testing::ConformanceDir();
    ASSERT_FALSE(dir.empty());
    auto info = ModelInfo::Load(dir + "/models/stories260K.gguf", {});
    ASSERT_TRUE(info.ok()) << info.status();
    auto backend = std::make_unique<FakeBackend>();
    backend_ = backend.get();
    GatewayOptions options;
    options.core.served_model_name = "stories";
    options.core.max_n = max_n;
    auto server = GatewayServer::Create(options, std::move(info).value(), std::move(backend));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
    ASSERT_TRUE(server_->Start().ok());
  }
  ClientResponse Post(const std::string& path, const std::string& body) {
    auto r = HttpRequest(server_->port(), "POST", path, body,
                         {{"Content-Type", "application/json"}});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : ClientResponse();
  }
  void TearDown() override { server_.reset(); }

  FakeBackend* backend_ = nullptr;
  std::unique_ptr<GatewayServer> server_;
};

TEST_F(ChoicesShapeTest, ChatChoicesCarryIndexAndUsageCountsEveryChoice) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartGateway(4);
  backend_->SetScript(TwoChoices());
  ClientResponse r = Post("/v1/chat/completions", R"({"model":"stories","n":2,"seed":5,
      "messages":[{"role":"user","content":"Hi"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  ASSERT_EQ(j["choices"].size(), 2u);
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_EQ(j["choices"][0]["message"]["content"], "ABC");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["choices"][1]["index"], 1);
  EXPECT_EQ(j["choices"][1]["message"]["content"], "xy");
  EXPECT_EQ(j["choices"][1]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 7);  // once, not per choice
  EXPECT_EQ(j["usage"]["completion_tokens"], 5);
  EXPECT_EQ(j["usage"]["total_tokens"], 12);
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 3);
  ASSERT_EQ(backend_->requests().size(), 1u);  // one backend request for both
  EXPECT_EQ(backend_->requests()[0].n, 2);
  EXPECT_EQ(backend_->requests()[0].sampling.seed, 5u);
}

TEST_F(ChoicesShapeTest, StreamChunksCarryTheirChoiceIndex) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartGateway(4);
  backend_->SetScript(TwoChoices());
  ClientResponse r = Post("/v1/completions", R"({"model":"stories","n":2,"prompt":"x",
      "stream":true,"stream_options":{"include_usage":true}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(absl::EndsWith(r.body, "data: [DONE]\n\n"));
  std::vector<json> chunks = SseJson(r.body);
  ASSERT_FALSE(chunks.empty());
  std::map<int, std::string> text;
  std::map<int, std::string> finish;
  for (size_t i = 0; i + 1 < chunks.size(); ++i) {
    ASSERT_EQ(chunks[i]["choices"].size(), 1u) << chunks[i];
    const json& c = chunks[i]["choices"][0];
    ASSERT_TRUE(c["index"].is_number_integer());
    text[c["index"]] += c["text"].get<std::string>();
    if (!c["finish_reason"].is_null()) finish[c["index"]] = c["finish_reason"];
  }
  EXPECT_EQ(text, (std::map<int, std::string>{{0, "ABC"}, {1, "xy"}}));
  EXPECT_EQ(finish, (std::map<int, std::string>{{0, "length"}, {1, "stop"}}));
  const json& usage = chunks.back();
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["prompt_tokens"], 7);
  EXPECT_EQ(usage["usage"]["completion_tokens"], 5);
}

TEST_F(ChoicesShapeTest, ChatStreamSendsTheRoleOncePerChoice) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartGateway(4);
  backend_->SetScript(TwoChoices());
  ClientResponse r = Post("/v1/chat/completions", R"({"model":"stories","n":2,"stream":true,
      "messages":[{"role":"user","content":"Hi"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  std::map<int, int> roles;
  std::map<int, std::string> text;
  for (const json& chunk : SseJson(r.body)) {
    const json& c = chunk["choices"][0];
    if (c["delta"].contains("role")) ++roles[c["index"]];
    if (c["delta"].contains("content")) text[c["index"]] += c["delta"]["content"];
  }
  EXPECT_EQ(roles, (std::map<int, int>{{0, 1}, {1, 1}}));
  EXPECT_EQ(text, (std::map<int, std::string>{{0, "ABC"}, {1, "xy"}}));
}

TEST_F(ChoicesShapeTest, NAboveTheMaximumOrBelowOneIsA400) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartGateway(3);
  for (const char* n : {"4", "0", "-1"}) {
    ClientResponse r = Post("/v1/chat/completions",
                            std::string(R"({"model":"stories","n":)") + n +
                                R"(,"messages":[{"role":"user","content":"x"}]})");
    EXPECT_EQ(r.status, 400) << n << " " << r.body;
    json j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.body;
    EXPECT_EQ(j["error"]["param"], "n") << r.body;
  }
  EXPECT_TRUE(backend_->requests().empty());
  backend_->SetScript({Piece(0, "a", FinishReason::kStop, 1), Piece(1, "b", FinishReason::kStop, 1),
                       Piece(2, "c", FinishReason::kStop, 1)});
  ClientResponse ok = Post("/v1/completions", R"({"model":"stories","n":3,"prompt":"x"})");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(json::parse(ok.body)["choices"].size(), 3u);
}

// One failed choice fails the request (the others are cancelled).
TEST_F(ChoicesShapeTest, AFailedChoiceFailsTheRequest) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartGateway(4);
  BackendEvent failed = Piece(1, "", FinishReason::kError);
  failed.error = absl::ResourceExhaustedError("no KV blocks");
  // Choice 0 goes on until the gateway cancels it (then ends kCancelled).
  backend_->SetScript({Piece(0, "A"), failed, Piece(0, "never sent")}, /*hold_after=*/2);
  ClientResponse r = Post("/v1/completions", R"({"model":"stories","n":2,"prompt":"x"})");
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(backend_->cancels(), 1);
}

// Over the in-process engine (the colocated path).
class ChoicesEngineTest : public ::testing::Test {
 protected:
  void Start(const std::string& dir) {
    auto bundle = engine::ModelBundle::Load(dir + "/models/stories260K.gguf");
    ASSERT_TRUE(bundle.ok()) << bundle.status();
    auto info = ModelInfo::FromFile(*(*bundle)->file, (*bundle)->tokenizer.get());
    ASSERT_TRUE(info.ok());
    engine::EngineOptions eo;
    eo.num_kv_blocks = 128;
    eo.prefix_cache = false;  // so that every prompt token computed is counted
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
  }
  json Complete(const std::string& extra) {
    auto r = HttpRequest(server_->port(), "POST", "/v1/completions",
                         R"({"model":"stories260K","prompt":"Once upon a time","max_tokens":32,)" +
                             extra + "}",
                         {{"Content-Type", "application/json"}});
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r->status, 200) << r->body;
    return json::parse(r->body);
  }
  void TearDown() override { server_.reset(); }

  std::unique_ptr<GatewayServer> server_;
  EngineBackend* backend_ = nullptr;
};

TEST_F(ChoicesEngineTest, GreedyChoicesEqualOneGreedyRequestAndThePromptRunsOnce) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  Start(dir);
  const json one = Complete(R"("temperature":0)");
  const int64_t prompt_tokens = one["usage"]["prompt_tokens"];
  const int64_t computed_before = backend_->stats().prompt_tokens_computed;
  EXPECT_EQ(computed_before, prompt_tokens);
  const json four = Complete(R"("temperature":0,"n":4)");
  ASSERT_EQ(four["choices"].size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(four["choices"][i]["index"], i);
    EXPECT_EQ(four["choices"][i]["text"], one["choices"][0]["text"]) << i;
  }
  EXPECT_EQ(four["usage"]["prompt_tokens"], prompt_tokens);
  EXPECT_EQ(four["usage"]["completion_tokens"],
            4 * one["usage"]["completion_tokens"].get<int64_t>());
  EXPECT_EQ(backend_->stats().prompt_tokens_computed - computed_before, prompt_tokens);
  EXPECT_EQ(backend_->stats().forked_choices, 3);

  // Streamed, each choice's chunks add up to the same text.
  auto r = HttpRequest(server_->port(), "POST", "/v1/completions",
                       R"({"model":"stories260K","prompt":"Once upon a time","max_tokens":32,)"
                       R"("temperature":0,"n":3,"stream":true})",
                       {{"Content-Type", "application/json"}});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  std::map<int, std::string> text;
  for (const json& chunk : SseJson(r->body)) {
    text[chunk["choices"][0]["index"]] += chunk["choices"][0]["text"].get<std::string>();
  }
  ASSERT_EQ(text.size(), 3u);
  for (const auto& [index, t] : text) EXPECT_EQ(t, one["choices"][0]["text"]) << index;
}

TEST_F(ChoicesEngineTest, SeededChoicesAreReproducibleAndEachIsSeedPlusIndex) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  Start(dir);
  const json a = Complete(R"("temperature":1,"seed":1234,"n":4)");
  const json again = Complete(R"("temperature":1,"seed":1234,"n":4)");
  ASSERT_EQ(a["choices"].size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(again["choices"][i]["text"], a["choices"][i]["text"]) << i;
    const json single =
        Complete(R"("temperature":1,"seed":)" + std::to_string(1234 + i));
    EXPECT_EQ(single["choices"][0]["text"], a["choices"][i]["text"]) << i;
    for (int j = 0; j < i; ++j) {
      EXPECT_NE(a["choices"][i]["text"], a["choices"][j]["text"]) << i << " vs " << j;
    }
  }
}

}  // namespace
}  // namespace triptych::gateway
