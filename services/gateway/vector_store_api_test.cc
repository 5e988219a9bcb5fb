// The vector-store API and chat retrieval through the real HTTP server,
// over an in-process CollectionStore (LocalRetrievalBackend), with the
// scripted generation backend and with the local engine (stories260K).

#include "services/gateway/vector_store_api.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "common/http/testing/test_client.h"
#include "common/testing/conformance.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/engine/model_bundle.h"
#include "services/gateway/engine_backend.h"
#include "services/gateway/gateway_server.h"
#include "services/gateway/local_retrieval_backend.h"
#include "services/gateway/retrieval.h"
#include "services/gateway/testing/fake_backend.h"

namespace triptych::gateway {
namespace {

using http::testing::ClientResponse;
using http::testing::HttpRequest;
using nlohmann::json;
using testing::FakeBackend;
using ::testing::HasSubstr;

class VectorStoreTest : public ::testing::Test {
 protected:
  // Starts a gateway over FakeBackend; `retrieval` false: no vector stores.
  void StartGateway(bool retrieval = true, CoreOptions core = {}) {
    const std::string dir = triptych::testing::ConformanceDir();
    ASSERT_FALSE(dir.empty());
    auto info = ModelInfo::Load(dir + "/models/stories260K.gguf");
    ASSERT_TRUE(info.ok()) << info.status();
    info_ = info->get();
    auto backend = std::make_unique<FakeBackend>();
    backend_ = backend.get();
    std::unique_ptr<RetrievalBackend> store;
    if (retrieval) {
      memory::CollectionStoreOptions so;
      so.max_document_bytes = 4096;
      auto local = LocalRetrievalBackend::Create(so);
      ASSERT_TRUE(local.ok()) << local.status();
      store = std::move(local).value();
    }
    GatewayOptions options;
    core.served_model_name = "stories";
    options.core = core;
    auto server =
        GatewayServer::Create(options, std::move(info).value(),
                              std::move(backend), nullptr, std::move(store));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
    ASSERT_TRUE(server_->Start().ok());
  }

  ClientResponse Call(
      const std::string& method, const std::string& path,
      const std::string& body = "",
      std::vector<std::pair<std::string, std::string>> headers = {}) {
    if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
    auto r = HttpRequest(server_->port(), method, path, body, headers);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : ClientResponse();
  }

  // Expects an OpenAI error body with `status` and, when given, `param`.
  static void ExpectError(const ClientResponse& r, int status,
                          const std::string& param = "") {
    EXPECT_EQ(r.status, status) << r.body;
    json j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.body;
    ASSERT_TRUE(j.contains("error")) << r.body;
    EXPECT_TRUE(j["error"]["message"].is_string());
    EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
    EXPECT_TRUE(j["error"]["type"].is_string());
    if (!param.empty()) EXPECT_EQ(j["error"]["param"], param) << r.body;
  }

  void AddPets() {
    ClientResponse r = Call("POST", "/v1/vector_stores", R"({"name":"pets"})");
    ASSERT_EQ(r.status, 200) << r.body;
    r = Call("POST", "/v1/vector_stores/pets/documents", R"({"documents":[
        {"id":"cats","text":"Cats purr and sleep all day."},
        {"id":"dogs","text":"Dogs bark at the mail carrier."},
        {"id":"fish","text":"Goldfish swim in a bowl."}]})");
    ASSERT_EQ(r.status, 200) << r.body;
  }

  void TearDown() override { server_.reset(); }

  const ModelInfo* info_ = nullptr;
  FakeBackend* backend_ = nullptr;
  std::unique_ptr<GatewayServer> server_;
};

TEST_F(VectorStoreTest, StoreLifecycle) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartGateway();
  ClientResponse r =
      Call("POST", "/v1/vector_stores", R"({"name":"kb","dimension":3})");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["id"], "kb");
  EXPECT_EQ(j["object"], "vector_store");
  EXPECT_EQ(j["status"], "completed");
  EXPECT_EQ(j["dimension"], 3);
  EXPECT_EQ(j["file_counts"]["total"], 0);

  ExpectError(Call("POST", "/v1/vector_stores", R"({"name":"kb"})"), 409,
              "name");
  ExpectError(Call("POST", "/v1/vector_stores", R"({"name":"no spaces"})"), 400,
              "name");
  ExpectError(Call("POST", "/v1/vector_stores", R"({})"), 400, "name");
  ExpectError(
      Call("POST", "/v1/vector_stores", R"({"name":"x","dimension":-1})"), 400,
      "dimension");
  ExpectError(
      Call("POST", "/v1/vector_stores", R"({"name":"x","dimension":"3"})"),
      400);
  ExpectError(Call("POST", "/v1/vector_stores", R"([1,2])"), 400);
  ExpectError(Call("POST", "/v1/vector_stores", "{nope"), 400);
  ASSERT_EQ(Call("POST", "/v1/vector_stores", R"({"name":"a.b-c_d"})").status,
            200);

  r = Call("GET", "/v1/vector_stores");
  ASSERT_EQ(r.status, 200) << r.body;
  j = json::parse(r.body);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 2u);
  EXPECT_EQ(j["data"][0]["id"], "a.b-c_d");
  EXPECT_EQ(j["data"][1]["id"], "kb");
  EXPECT_EQ(j["has_more"], false);

  r = Call("GET", "/v1/vector_stores/kb");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["name"], "kb");
  ExpectError(Call("GET", "/v1/vector_stores/nope"), 404);

  r = Call("DELETE", "/v1/vector_stores/kb");
  ASSERT_EQ(r.status, 200) << r.body;
  j = json::parse(r.body);
  EXPECT_EQ(j["object"], "vector_store.deleted");
  EXPECT_EQ(j["deleted"], true);
  ExpectError(Call("DELETE", "/v1/vector_stores/kb"), 404);
  ExpectError(Call("GET", "/v1/vector_stores/kb"), 404);

  const std::string metrics = server_->registry()->Render();
  EXPECT_THAT(
      metrics,
      HasSubstr("triptych_gateway_requests_total{endpoint=\"/v1/vector_stores/"
                "{id}\",status=\"404\"} 3"));
}

TEST_F(VectorStoreTest, DocumentsAndSearch) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartGateway();
  AddPets();
  // One document (the body is the document); /files is an alias.
  ClientResponse r =
      Call("POST", "/v1/vector_stores/pets/files",
           R"({"id":"bird","text":"A parrot can talk and sing."})");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["id"], "bird");
  EXPECT_EQ(j["object"], "vector_store.file");
  EXPECT_EQ(j["vector_store_id"], "pets");
  EXPECT_EQ(j["status"], "completed");
  EXPECT_TRUE(j["last_error"].is_null());
  EXPECT_EQ(json::parse(Call("GET", "/v1/vector_stores/pets")
                            .body)["file_counts"]["completed"],
            4);

  r = Call("POST", "/v1/vector_stores/pets/search",
           R"({"query":"cats purr","max_num_results":2})");
  ASSERT_EQ(r.status, 200) << r.body;
  j = json::parse(r.body);
  EXPECT_EQ(j["object"], "vector_store.search_results.page");
  EXPECT_EQ(j["search_query"], "cats purr");
  ASSERT_EQ(j["data"].size(), 1u);
  EXPECT_EQ(j["data"][0]["file_id"], "cats");
  EXPECT_GT(j["data"][0]["score"].get<double>(), 0.0);
  EXPECT_THAT(j["data"][0]["content"][0]["text"].get<std::string>(),
              HasSubstr("Cats purr"));

  // An array query is joined; k bounds the hits.
  r = Call("POST", "/v1/vector_stores/pets/search",
           R"({"query":["in the", "bowl"],"max_num_results":1})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["data"].size(), 1u);

  r = Call("DELETE", "/v1/vector_stores/pets/documents/cats");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["object"], "vector_store.file.deleted");
  ExpectError(Call("DELETE", "/v1/vector_stores/pets/documents/cats"), 404);
  r = Call("POST", "/v1/vector_stores/pets/search", R"({"query":"cats"})");
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(json::parse(r.body)["data"].empty());

  const std::string metrics = server_->registry()->Render();
  EXPECT_THAT(metrics, HasSubstr("triptych_gateway_retrieval_searches_total{"
                                 "mode=\"bm25\",status=\"200\"} 3"));
  EXPECT_THAT(metrics,
              HasSubstr("triptych_gateway_retrieval_search_seconds_count 3"));
  EXPECT_THAT(metrics,
              HasSubstr("triptych_gateway_retrieval_postings_scanned_total"));
}

TEST_F(VectorStoreTest, BadDocumentsFailAloneAndLoseNothing) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartGateway();
  ASSERT_EQ(
      Call("POST", "/v1/vector_stores", R"({"name":"v","dimension":2})").status,
      200);
  ASSERT_EQ(Call("POST", "/v1/vector_stores/v/documents",
                 R"({"id":"keep","text":"original text","embedding":[1,0]})")
                .status,
            200);
  const std::string big(5000, 'a');
  ClientResponse r =
      Call("POST", "/v1/vector_stores/v/documents",
           R"({"documents":[{"id":"new","text":"new text","embedding":[0,1]},
      {"id":"keep","text":"replacement","embedding":[0,1]},
      {"id":"big","text":")" +
               big + R"(","embedding":[0,1]},
      {"id":"short","text":"wrong dimension","embedding":[1]}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["file_counts"]["completed"], 1);
  EXPECT_EQ(j["file_counts"]["failed"], 3);
  ASSERT_EQ(j["data"].size(), 4u);
  EXPECT_EQ(j["data"][0]["status"], "completed");
  EXPECT_EQ(j["data"][1]["status"], "failed");
  EXPECT_EQ(j["data"][1]["last_error"]["code"], "ALREADY_EXISTS");
  EXPECT_EQ(j["data"][2]["last_error"]["code"], "INVALID_ARGUMENT");
  EXPECT_THAT(j["data"][2]["last_error"]["message"].get<std::string>(),
              HasSubstr("limit"));
  EXPECT_THAT(j["data"][3]["last_error"]["message"].get<std::string>(),
              HasSubstr("2 floats"));

  // A single bad document is the request's error.
  ExpectError(Call("POST", "/v1/vector_stores/v/documents",
                   R"({"id":"keep","text":"again","embedding":[1,0]})"),
              409);
  ExpectError(Call("POST", "/v1/vector_stores/v/documents",
                   R"({"id":"d","text":"t","embedding":[1,2,3]})"),
              400);
  ExpectError(Call("POST", "/v1/vector_stores/v/documents",
                   R"({"id":"d","text":"t","embedding":[1e300,0]})"),
              400, "embedding");
  ExpectError(
      Call("POST", "/v1/vector_stores/v/documents", R"({"text":"no id"})"), 400,
      "id");
  ExpectError(Call("POST", "/v1/vector_stores/v/documents", R"({"id":"x"})"),
              400, "text");
  ExpectError(
      Call("POST", "/v1/vector_stores/v/documents", R"({"documents":[]})"), 400,
      "documents");
  ExpectError(Call("POST", "/v1/vector_stores/v/documents",
                   R"({"documents":[{"id":7}]})"),
              400, "documents[0].id");
  ExpectError(Call("POST", "/v1/vector_stores/nope/documents",
                   R"({"id":"a","text":"b"})"),
              404);

  // Dense search: right and wrong dimension, NaN-free, missing embedding.
  r = Call("POST", "/v1/vector_stores/v/search",
           R"({"query_embedding":[0.1,0.9]})");
  ASSERT_EQ(r.status, 200) << r.body;
  j = json::parse(r.body);
  ASSERT_EQ(j["data"].size(), 2u);
  EXPECT_EQ(j["data"][0]["file_id"], "new");
  ExpectError(Call("POST", "/v1/vector_stores/v/search",
                   R"({"query_embedding":[1,2,3]})"),
              400);
  ExpectError(Call("POST", "/v1/vector_stores/v/search",
                   R"({"query":"x","mode":"dense"})"),
              400, "query_embedding");
  ExpectError(Call("POST", "/v1/vector_stores/v/search",
                   R"({"query":"x","mode":"fuzzy"})"),
              400, "mode");
  ExpectError(Call("POST", "/v1/vector_stores/v/search",
                   R"({"query":"x","query_embedding":[1,0],"alpha":2})"),
              400, "alpha");
  ExpectError(Call("POST", "/v1/vector_stores/v/search",
                   R"({"query":"x","max_num_results":0})"),
              400, "max_num_results");
  ExpectError(Call("POST", "/v1/vector_stores/v/search",
                   R"({"query":"x","filters":{}})"),
              400, "filters");
  ExpectError(Call("POST", "/v1/vector_stores/v/search", R"({})"), 400,
              "query");
  ExpectError(Call("POST", "/v1/vector_stores/nope/search", R"({"query":"x"})"),
              404);
  // Hybrid works (text + embedding, mode inferred).
  r = Call("POST", "/v1/vector_stores/v/search",
           R"({"query":"original","query_embedding":[0,1],"alpha":0})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["data"][0]["file_id"], "keep");

  // Nothing stored was lost or replaced.
  EXPECT_EQ(
      json::parse(
          Call("GET", "/v1/vector_stores/v").body)["file_counts"]["total"],
      2);
  r = Call("POST", "/v1/vector_stores/v/search", R"({"query":"original"})");
  EXPECT_EQ(json::parse(r.body)["data"][0]["file_id"], "keep");
  r = Call("POST", "/v1/vector_stores/v/search",
           R"({"query":"replacement again"})");
  EXPECT_TRUE(json::parse(r.body)["data"].empty());
}

TEST_F(VectorStoreTest, OddPathsAndAuth) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  CoreOptions core;
  core.api_keys = {"secret"};
  StartGateway(true, core);
  ExpectError(Call("GET", "/v1/vector_stores"), 401);
  ExpectError(Call("POST", "/v1/vector_stores", R"({"name":"x"})"), 401);
  ExpectError(Call("GET", "/v1/vector_stores/x"), 401);
  const std::vector<std::pair<std::string, std::string>> auth = {
      {"Authorization", "Bearer secret"}};
  ASSERT_EQ(Call("POST", "/v1/vector_stores", R"({"name":"x"})", auth).status,
            200);
  ASSERT_EQ(Call("POST", "/v1/vector_stores/x/documents",
                 R"({"id":"a/b c","text":"slash"})", auth)
                .status,
            200);
  // Ids are percent-decoded path segments.
  EXPECT_EQ(Call("DELETE", "/v1/vector_stores/x/documents/a%2Fb%20c", "", auth)
                .status,
            200);
  ExpectError(Call("GET", "/v1/vector_stores/", "", auth), 404);
  ExpectError(Call("GET", "/v1/vector_stores/x/", "", auth), 404);
  ExpectError(Call("GET", "/v1/vector_stores/%zz", "", auth), 404);
  ExpectError(Call("GET", "/v1/vector_stores/x%", "", auth), 404);
  ExpectError(Call("GET", "/v1/vector_stores/x/search", "", auth), 404);
  ExpectError(Call("POST", "/v1/vector_stores/x/unknown", "{}", auth), 404);
  ExpectError(Call("DELETE", "/v1/vector_stores/x/documents", "", auth), 404);
}

TEST_F(VectorStoreTest, NoRetrievalBackendMeansNoStores) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartGateway(/*retrieval=*/false);
  EXPECT_EQ(Call("GET", "/v1/vector_stores").status, 404);
  ExpectError(
      Call("POST", "/v1/chat/completions", R"({"model":"stories","messages":[
      {"role":"user","content":"Hi"}],"retrieval":{"vector_store_ids":["pets"]}})"),
      400, "retrieval");
}

TEST_F(VectorStoreTest, ChatRetrievalPutsPassagesIntoThePrompt) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartGateway();
  AddPets();
  backend_->SetScript(
      FakeBackend::TextEvents({"They purr."}, FinishReason::kStop, 50));
  ClientResponse r =
      Call("POST", "/v1/chat/completions", R"({"model":"stories","messages":[
      {"role":"user","content":"Cats?"}],
      "retrieval":{"vector_store_ids":["pets"],"top_k":1}})");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  ASSERT_EQ(j["sources"].size(), 1u) << r.body;
  EXPECT_EQ(j["sources"][0]["vector_store_id"], "pets");
  EXPECT_EQ(j["sources"][0]["document_id"], "cats");
  EXPECT_GT(j["sources"][0]["score"].get<double>(), 0.0);
  EXPECT_THAT(j["sources"][0]["snippet"].get<std::string>(),
              HasSubstr("sleep all day"));

  // The passage went into a new first system message, before templating.
  std::vector<chat::Message> expected = {{"user", "Cats?"}};
  std::vector<RetrievedPassage> passages = {
      {"pets", {"cats", 0.0f, "Cats purr and sleep all day."}}};
  AddPassagesToMessages(passages, &expected);
  ASSERT_EQ(expected.size(), 2u);
  EXPECT_EQ(expected[0].role, "system");
  EXPECT_EQ(expected[0].content,
            "Answer with the help of these passages:\n\n[1] Cats purr and "
            "sleep all day.\n");
  ASSERT_EQ(backend_->requests().size(), 1u);
  EXPECT_EQ(backend_->requests()[0].prompt, *info_->EncodeChat(expected));

  // Streaming: the sources ride on the first chunk only.
  backend_->SetScript(
      FakeBackend::TextEvents({"a", "b"}, FinishReason::kStop, 50));
  r = Call("POST", "/v1/chat/completions",
           R"({"model":"stories","stream":true,"messages":[
      {"role":"user","content":"goldfish"}],
      "retrieval":{"vector_store_ids":["pets"],"top_k":3,"mode":"bm25"}})");
  ASSERT_EQ(r.status, 200) << r.body;
  std::vector<std::string> events;
  for (absl::string_view e :
       absl::StrSplit(r.body, "\n\n", absl::SkipEmpty())) {
    ASSERT_TRUE(absl::ConsumePrefix(&e, "data: "));
    events.emplace_back(e);
  }
  ASSERT_GE(events.size(), 3u);
  json first = json::parse(events[0]);
  ASSERT_EQ(first["sources"].size(), 1u) << events[0];
  EXPECT_EQ(first["sources"][0]["document_id"], "fish");
  for (size_t i = 1; i + 1 < events.size(); ++i) {
    EXPECT_FALSE(json::parse(events[i]).contains("sources")) << events[i];
  }
  // With no matching passage the prompt is unchanged and sources empty.
  backend_->SetScript(FakeBackend::TextEvents({"x"}, FinishReason::kStop, 5));
  r = Call("POST", "/v1/chat/completions", R"({"model":"stories","messages":[
      {"role":"user","content":"zebra"}],"retrieval":{"vector_store_ids":["pets"]}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(json::parse(r.body)["sources"].empty());
  EXPECT_EQ(backend_->requests().back().prompt,
            *info_->EncodeChat({{"user", "zebra"}}));
}

TEST_F(VectorStoreTest, ChatRetrievalErrors) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  StartGateway();
  AddPets();
  const std::string head =
      R"({"model":"stories","messages":[{"role":"user","content":"cats"}],)";
  ExpectError(
      Call("POST", "/v1/chat/completions",
           head + R"("retrieval":{"vector_store_ids":["pets","nope"]}})"),
      404, "retrieval.vector_store_ids");
  ExpectError(Call("POST", "/v1/chat/completions",
                   head + R"("retrieval":{"vector_store_ids":[]}})"),
              400, "retrieval.vector_store_ids");
  ExpectError(
      Call("POST", "/v1/chat/completions",
           head + R"("retrieval":{"vector_store_ids":["pets","pets"]}})"),
      400, "retrieval.vector_store_ids");
  ExpectError(
      Call("POST", "/v1/chat/completions",
           head + R"("retrieval":{"vector_store_ids":["pets"],"top_k":99}})"),
      400, "retrieval.top_k");
  ExpectError(
      Call("POST", "/v1/chat/completions",
           head +
               R"("retrieval":{"vector_store_ids":["pets"],"mode":"dense"}})"),
      400, "retrieval.query_embedding");
  ExpectError(
      Call("POST", "/v1/chat/completions",
           head + R"("retrieval":{"vector_store_ids":["pets"],"mode":"hybrid",
                   "query_embedding":[1,2]}})"),
      400);  // pets has no embeddings
  ExpectError(
      Call("POST", "/v1/chat/completions", head + R"("retrieval":"pets"})"),
      400, "retrieval");
  ExpectError(
      Call(
          "POST", "/v1/completions",
          R"({"model":"stories","prompt":"x","retrieval":{"vector_store_ids":["pets"]}})"),
      400, "retrieval");
  ExpectError(
      Call("POST", "/v1/chat/completions",
           R"({"model":"stories","messages":[{"role":"system","content":"s"}],
                   "retrieval":{"vector_store_ids":["pets"]}})"),
      400, "messages");
  EXPECT_TRUE(backend_->requests().empty());
}

TEST(RetrievalQuery, IsTheLastUserMessage) {
  RetrievalSpec spec;
  std::vector<chat::Message> messages = {{"system", "s"},
                                         {"user", "dogs?"},
                                         {"assistant", "no"},
                                         {"user", "cats?"}};
  EXPECT_EQ(*RetrievalQuery(messages, spec), "cats?");
  messages.push_back({"assistant", "they purr"});
  EXPECT_EQ(*RetrievalQuery(messages, spec), "cats?");
  messages.back() = {"user", ""};
  EXPECT_EQ(RetrievalQuery(messages, spec).status().code(),
            absl::StatusCode::kInvalidArgument);
  spec.query_embedding = {1.0f};
  EXPECT_EQ(*RetrievalQuery(messages, spec), "");
}

TEST(AddPassagesToMessages, AppendsToALeadingSystemMessage) {
  std::vector<chat::Message> messages = {{"system", "Be brief."},
                                         {"user", "Cats?"}};
  AddPassagesToMessages({{"a", {"x", 1.0f, "one"}}, {"b", {"y", 0.5f, "two"}}},
                        &messages);
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].content,
            "Be brief.\n\nAnswer with the help of these passages:\n\n[1] "
            "one\n\n[2] two\n");
  AddPassagesToMessages({}, &messages);
  EXPECT_EQ(messages.size(), 2u);
  EXPECT_EQ(
      SourcesJson({{"a", {"x", 1.0f, "one"}}}).dump(),
      R"([{"document_id":"x","score":1.0,"snippet":"one","vector_store_id":"a"}])");
}

// Chat retrieval end to end with the in-process engine (--local mode): the
// prompt grows by the passages, and the answer names its sources.
TEST(VectorStoreEngineTest, ChatRetrievalWithLocalEngine) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  auto bundle = engine::ModelBundle::Load(dir + "/models/stories260K.gguf");
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  auto info = ModelInfo::FromFile(*(*bundle)->file, (*bundle)->tokenizer.get());
  ASSERT_TRUE(info.ok());
  engine::EngineOptions eo;
  eo.num_kv_blocks = 128;
  auto backend = EngineBackend::Create((*bundle)->model.get(),
                                       (*bundle)->tokenizer.get(), eo);
  ASSERT_TRUE(backend.ok()) << backend.status();
  auto retrieval = LocalRetrievalBackend::Create();
  ASSERT_TRUE(retrieval.ok());
  GatewayOptions options;
  options.core.served_model_name = "stories260K";
  auto server = GatewayServer::Create(
      options, std::move(info).value(), std::move(backend).value(),
      std::move(bundle).value(), std::move(retrieval).value());
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->Start().ok());
  const int port = (*server)->port();
  auto post = [port](const std::string& path, const std::string& body) {
    auto r = HttpRequest(port, "POST", path, body,
                         {{"Content-Type", "application/json"}});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : ClientResponse();
  };
  ASSERT_EQ(post("/v1/vector_stores", R"({"name":"tales"})").status, 200);
  ASSERT_EQ(post("/v1/vector_stores/tales/documents", R"({"documents":[
      {"id":"lily","text":"Lily played ball in the park."},
      {"id":"tom","text":"Tom was a big dog."}]})")
                .status,
            200);
  const std::string chat =
      R"({"model":"stories260K","max_tokens":8,"temperature":0,
          "messages":[{"role":"user","content":"Where did Lily play?"}])";
  ClientResponse plain = post("/v1/chat/completions", chat + "}");
  ASSERT_EQ(plain.status, 200) << plain.body;
  ClientResponse rag =
      post("/v1/chat/completions",
           chat + R"(,"retrieval":{"vector_store_ids":["tales"],"top_k":1}})");
  ASSERT_EQ(rag.status, 200) << rag.body;
  json p = json::parse(plain.body), g = json::parse(rag.body);
  EXPECT_FALSE(p.contains("sources"));
  ASSERT_EQ(g["sources"].size(), 1u) << rag.body;
  EXPECT_EQ(g["sources"][0]["document_id"], "lily");
  EXPECT_EQ(g["sources"][0]["vector_store_id"], "tales");
  // The passage and the instruction went into the prompt.
  EXPECT_GT(g["usage"]["prompt_tokens"].get<int>(),
            p["usage"]["prompt_tokens"].get<int>() + 10)
      << "plain " << p["usage"] << " rag " << g["usage"];
  EXPECT_EQ(g["usage"]["completion_tokens"], 8);
}

}  // namespace
}  // namespace triptych::gateway
