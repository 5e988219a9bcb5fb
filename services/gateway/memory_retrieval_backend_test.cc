// MemoryRetrievalBackend against a real in-process Retrieval service (port
// 0), directly and through the gateway's HTTP API; and a memory node that
// is down (503).

#include "services/gateway/memory_retrieval_backend.h"

#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/http/testing/test_client.h"
#include "common/testing/conformance.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "services/gateway/gateway_server.h"
#include "services/gateway/testing/fake_backend.h"
#include "services/memory/retrieval_service.h"

namespace triptych::gateway {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(30);

// Runs `start(done)` and waits for `done`'s value.
template <typename T, typename Start>
T Await(Start start) {
  absl::Notification n;
  std::optional<T> out;
  start([&](T v) {
    out.emplace(std::move(v));
    n.Notify();
  });
  EXPECT_TRUE(n.WaitForNotificationWithTimeout(kWait));
  return std::move(*out);
}

class MemoryRetrievalBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = memory::CollectionStore::Create();
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();
    service_ = std::make_unique<memory_service::RetrievalService>(store_.get());
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    MemoryRetrievalBackendOptions options;
    options.address = absl::StrCat("127.0.0.1:", port_);
    auto backend = MemoryRetrievalBackend::Create(options);
    ASSERT_TRUE(backend.ok());
    backend_ = std::move(backend).value();
  }

  void TearDown() override {
    backend_.reset();
    server_->Shutdown(std::chrono::system_clock::now());
  }

  std::unique_ptr<memory::CollectionStore> store_;
  std::unique_ptr<memory_service::RetrievalService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::unique_ptr<MemoryRetrievalBackend> backend_;
};

TEST_F(MemoryRetrievalBackendTest, EveryCallRoundTrips) {
  RetrievalBackend* b = backend_.get();
  using Info = absl::StatusOr<memory::CollectionInfo>;
  Info created =
      Await<Info>([&](auto done) { b->CreateCollection("kb", 2, done); });
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->name, "kb");
  EXPECT_EQ(created->dim, 2);
  Info again =
      Await<Info>([&](auto done) { b->CreateCollection("kb", 2, done); });
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);

  using Results = absl::StatusOr<std::vector<absl::Status>>;
  std::vector<RetrievalDocument> docs = {
      {"a", "apples are red", std::vector<float>{1, 0}},
      {"b", "bananas are yellow", std::vector<float>{0, 1}},
      {"a", "duplicate", std::vector<float>{0, 1}},
      {"c", "no embedding", std::nullopt}};
  Results added =
      Await<Results>([&](auto done) { b->AddDocuments("kb", docs, done); });
  ASSERT_TRUE(added.ok()) << added.status();
  ASSERT_EQ(added->size(), 4u);
  EXPECT_TRUE((*added)[0].ok());
  EXPECT_TRUE((*added)[1].ok());
  EXPECT_EQ((*added)[2].code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ((*added)[3].code(), absl::StatusCode::kInvalidArgument);
  Results missing =
      Await<Results>([&](auto done) { b->AddDocuments("nope", docs, done); });
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);

  Info got = Await<Info>([&](auto done) { b->GetCollection("kb", done); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->num_documents, 2);
  using List = absl::StatusOr<std::vector<memory::CollectionInfo>>;
  List list = Await<List>([&](auto done) { b->ListCollections(done); });
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);

  using Found = absl::StatusOr<RetrievalResult>;
  memory::SearchRequest search;
  search.query_text = "red apples";
  Found found = Await<Found>([&](auto done) { b->Search("kb", search, done); });
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->hits.size(), 1u);
  EXPECT_EQ(found->hits[0].doc_id, "a");
  EXPECT_EQ(found->work.postings_scanned, 2);
  search.mode = memory::SearchMode::kDense;
  search.query_embedding = {0.0f, 1.0f};
  found = Await<Found>([&](auto done) { b->Search("kb", search, done); });
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->hits[0].doc_id, "b");
  EXPECT_EQ(found->work.embeddings_scanned, 2);
  search.query_embedding = {1.0f};
  found = Await<Found>([&](auto done) { b->Search("kb", search, done); });
  EXPECT_EQ(found.status().code(), absl::StatusCode::kInvalidArgument);

  absl::Status s = Await<absl::Status>(
      [&](auto done) { b->DeleteDocument("kb", "a", done); });
  EXPECT_TRUE(s.ok()) << s;
  s = Await<absl::Status>(
      [&](auto done) { b->DeleteDocument("kb", "a", done); });
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  s = Await<absl::Status>([&](auto done) { b->DeleteCollection("kb", done); });
  EXPECT_TRUE(s.ok()) << s;
  got = Await<Info>([&](auto done) { b->GetCollection("kb", done); });
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
}

// The gateway's HTTP API over the memory node, and a node that goes down.
TEST_F(MemoryRetrievalBackendTest, GatewayOverMemoryNodeAndNodeDown) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  auto info = ModelInfo::Load(dir + "/models/stories260K.gguf");
  ASSERT_TRUE(info.ok());
  auto fake = std::make_unique<testing::FakeBackend>();
  testing::FakeBackend* generation = fake.get();
  GatewayOptions options;
  options.core.served_model_name = "stories";
  auto gateway =
      GatewayServer::Create(options, std::move(info).value(), std::move(fake),
                            nullptr, std::move(backend_));
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  ASSERT_TRUE((*gateway)->Start().ok());
  const int port = (*gateway)->port();
  auto call = [port](const std::string& method, const std::string& path,
                     const std::string& body = "") {
    auto r = http::testing::HttpRequest(port, method, path, body,
                                        {{"Content-Type", "application/json"}});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : http::testing::ClientResponse();
  };
  ASSERT_EQ(call("POST", "/v1/vector_stores", R"({"name":"kb"})").status, 200);
  EXPECT_EQ(call("POST", "/v1/vector_stores", R"({"name":"kb"})").status, 409);
  ASSERT_EQ(
      call("POST", "/v1/vector_stores/kb/documents",
           R"({"documents":[{"id":"a","text":"the moon is made of rock"}]})")
          .status,
      200);
  auto r = call("POST", "/v1/vector_stores/kb/search", R"({"query":"moon"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["data"][0]["file_id"], "a");
  EXPECT_EQ(call("GET", "/v1/vector_stores/nope").status, 404);

  generation->SetScript(
      testing::FakeBackend::TextEvents({"Rock."}, FinishReason::kStop, 30));
  r = call("POST", "/v1/chat/completions", R"({"model":"stories","messages":[
      {"role":"user","content":"What is the moon made of?"}],
      "retrieval":{"vector_store_ids":["kb"]}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["sources"][0]["document_id"], "a");

  // The memory node goes away: 503 with an OpenAI error body.
  server_->Shutdown(std::chrono::system_clock::now());
  server_->Wait();
  r = call("POST", "/v1/vector_stores/kb/search", R"({"query":"moon"})");
  EXPECT_EQ(r.status, 503) << r.body;
  json j = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.body;
  EXPECT_THAT(j["error"]["message"].get<std::string>(),
              HasSubstr("memory node"));
  EXPECT_EQ(call("GET", "/v1/vector_stores").status, 503);
  r = call("POST", "/v1/chat/completions", R"({"model":"stories","messages":[
      {"role":"user","content":"moon?"}],"retrieval":{"vector_store_ids":["kb"]}})");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_THAT((*gateway)->registry()->Render(),
              HasSubstr("triptych_gateway_retrieval_searches_total{mode="
                        "\"bm25\",status=\"503\"} 2"));
  gateway->reset();
}

TEST(MemoryRetrievalBackendOptionsTest, RejectsBadOptions) {
  EXPECT_FALSE(MemoryRetrievalBackend::Create({}).ok());
  MemoryRetrievalBackendOptions o;
  o.address = "127.0.0.1:1";
  o.timeout = absl::ZeroDuration();
  EXPECT_FALSE(MemoryRetrievalBackend::Create(o).ok());
}

}  // namespace
}  // namespace triptych::gateway
