// End to end: HTTP -> OpenAI core -> EngineBackend -> engine, with the
// stories260K model from the shared conformance data.

#include "services/gateway/engine_backend.h"

#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
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

// Wraps the EngineBackend and holds the engine's driver thread after the
// second event of a request until that request is cancelled, so a test can
// disconnect while the generation is certainly still running (stories260K
// would otherwise finish its whole context in a few milliseconds).
class PausingBackend : public GenerationBackend {
 public:
  explicit PausingBackend(std::unique_ptr<EngineBackend> inner) : inner_(std::move(inner)) {}
  EngineBackend* inner() { return inner_.get(); }

  std::unique_ptr<GenerationHandle> Start(
      const BackendRequest& request,
      std::function<void(const BackendEvent&)> on_event) override {
    auto cancelled = std::make_shared<absl::Notification>();
    auto count = std::make_shared<int>(0);
    auto inner = inner_->Start(request, [on_event, cancelled, count](const BackendEvent& e) {
      on_event(e);
      if (++*count == 2 && e.finish == FinishReason::kNone) {
        EXPECT_TRUE(cancelled->WaitForNotificationWithTimeout(kWait));
      }
    });
    return std::make_unique<Handle>(std::move(inner), cancelled);
  }

 private:
  class Handle : public GenerationHandle {
   public:
    Handle(std::unique_ptr<GenerationHandle> inner, std::shared_ptr<absl::Notification> n)
        : inner_(std::move(inner)), cancelled_(std::move(n)) {}
    void Cancel() override {
      inner_->Cancel();
      if (!cancelled_->HasBeenNotified()) cancelled_->Notify();
    }

   private:
    std::unique_ptr<GenerationHandle> inner_;
    std::shared_ptr<absl::Notification> cancelled_;
  };
  std::unique_ptr<EngineBackend> inner_;
};

class EngineBackendTest : public ::testing::Test {
 protected:
  void Start(const std::string& dir, bool pausing = false) {
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
    std::unique_ptr<GenerationBackend> served = std::move(backend).value();
    if (pausing) {
      served = std::make_unique<PausingBackend>(
          std::unique_ptr<EngineBackend>(static_cast<EngineBackend*>(served.release())));
    }
    GatewayOptions options;
    options.core.served_model_name = "stories260K";
    auto server = GatewayServer::Create(options, std::move(info).value(), std::move(served),
                                        std::move(bundle).value());
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
  Start(dir, /*pausing=*/true);
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
  EXPECT_GT(after.kv_blocks_total, 0);
  EXPECT_EQ(after.running + after.waiting, 0);
  // It was cancelled, not run to the end (499 = client closed request).
  const std::string metrics = server_->registry()->Render();
  EXPECT_NE(metrics.find("status=\"499\"} 1"), std::string::npos) << metrics;
}

}  // namespace
}  // namespace triptych::gateway
