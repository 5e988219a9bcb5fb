// service Retrieval over a real in-process gRPC server (port 0): every RPC,
// and bad input that must fail with a clear error and lose nothing.

#include "services/memory/retrieval_service.h"

#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace triptych::memory_service {
namespace {

using ::testing::HasSubstr;

class RetrievalServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    memory::CollectionStoreOptions options;
    options.max_document_bytes = 1024;
    auto store = memory::CollectionStore::Create(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(store).value();
    service_ = std::make_unique<RetrievalService>(store_.get(), &registry_);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    stub_ = v1::Retrieval::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                                       grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    server_->Shutdown(std::chrono::system_clock::now());
    server_.reset();
  }

  grpc::Status Create(const std::string& name, uint32_t dim, v1::Collection* out = nullptr) {
    grpc::ClientContext ctx;
    v1::CreateCollectionRequest req;
    req.set_name(name);
    req.set_dim(dim);
    v1::Collection ignored;
    return stub_->CreateCollection(&ctx, req, out != nullptr ? out : &ignored);
  }

  v1::Collection Get(const std::string& name, grpc::Status* status) {
    grpc::ClientContext ctx;
    v1::GetCollectionRequest req;
    req.set_name(name);
    v1::Collection out;
    *status = stub_->GetCollection(&ctx, req, &out);
    return out;
  }

  // Adds (id, text) documents, all with `embedding` when it is not empty.
  grpc::Status Add(const std::string& collection,
                   std::vector<std::pair<std::string, std::string>> docs,
                   v1::AddDocumentsResponse* out, std::vector<float> embedding = {}) {
    grpc::ClientContext ctx;
    v1::AddDocumentsRequest req;
    req.set_collection(collection);
    for (const auto& [id, text] : docs) {
      v1::Document* d = req.add_documents();
      d->set_id(id);
      d->set_text(text);
      d->mutable_embedding()->Add(embedding.begin(), embedding.end());
    }
    return stub_->AddDocuments(&ctx, req, out);
  }

  grpc::Status Search(const std::string& collection, const std::string& query,
                      v1::SearchResponse* out, v1::SearchMode mode = v1::SEARCH_MODE_BM25,
                      std::vector<float> embedding = {}, uint32_t k = 10) {
    grpc::ClientContext ctx;
    v1::SearchRequest req;
    req.set_collection(collection);
    req.set_query(query);
    req.set_mode(mode);
    req.set_k(k);
    req.set_alpha(0.5f);
    req.mutable_query_embedding()->Add(embedding.begin(), embedding.end());
    return stub_->Search(&ctx, req, out);
  }

  metrics::Registry registry_;
  std::unique_ptr<memory::CollectionStore> store_;
  std::unique_ptr<RetrievalService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Retrieval::Stub> stub_;
};

TEST_F(RetrievalServiceTest, CollectionLifecycle) {
  v1::Collection created;
  ASSERT_TRUE(Create("docs", 0, &created).ok());
  EXPECT_EQ(created.name(), "docs");
  EXPECT_EQ(created.dim(), 0u);
  EXPECT_EQ(created.num_documents(), 0u);
  ASSERT_TRUE(Create("vecs", 4).ok());

  grpc::Status s = Create("docs", 0);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS) << s.error_message();
  s = Create("bad name!", 0);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  s = Create("huge", 0xFFFFFFFFu);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  v1::Collection got = Get("vecs", &s);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(got.dim(), 4u);
  Get("nope", &s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("nope"));

  {
    grpc::ClientContext ctx;
    v1::ListCollectionsResponse list;
    ASSERT_TRUE(stub_->ListCollections(&ctx, {}, &list).ok());
    ASSERT_EQ(list.collections_size(), 2);
    EXPECT_EQ(list.collections(0).name(), "docs");
    EXPECT_EQ(list.collections(1).name(), "vecs");
  }
  {
    grpc::ClientContext ctx;
    v1::DeleteCollectionRequest req;
    req.set_name("vecs");
    v1::DeleteCollectionResponse resp;
    ASSERT_TRUE(stub_->DeleteCollection(&ctx, req, &resp).ok());
  }
  {
    grpc::ClientContext ctx;
    v1::DeleteCollectionRequest req;
    req.set_name("vecs");
    v1::DeleteCollectionResponse resp;
    EXPECT_EQ(stub_->DeleteCollection(&ctx, req, &resp).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  Get("docs", &s);
  EXPECT_TRUE(s.ok());
}

TEST_F(RetrievalServiceTest, AddSearchDeleteDocuments) {
  ASSERT_TRUE(Create("docs", 0).ok());
  v1::AddDocumentsResponse added;
  ASSERT_TRUE(Add("docs",
                  {{"cats", "Cats purr and sleep all day."},
                   {"dogs", "Dogs bark at the mail carrier."},
                   {"both", "Cats and dogs can be friends; cats more so."}},
                  &added)
                  .ok());
  ASSERT_EQ(added.results_size(), 3);
  for (const v1::DocumentResult& r : added.results()) {
    EXPECT_EQ(r.code(), 0) << r.id() << ": " << r.error();
  }

  v1::SearchResponse found;
  ASSERT_TRUE(Search("docs", "cats", &found).ok());
  ASSERT_EQ(found.hits_size(), 2);
  EXPECT_EQ(found.hits(0).doc_id(), "both");  // tf 2
  EXPECT_EQ(found.hits(1).doc_id(), "cats");
  EXPECT_GT(found.hits(0).score(), found.hits(1).score());
  EXPECT_THAT(found.hits(1).snippet(), HasSubstr("Cats purr"));
  EXPECT_EQ(found.postings_scanned(), 2u);

  {
    grpc::ClientContext ctx;
    v1::DeleteDocumentRequest req;
    req.set_collection("docs");
    req.set_id("both");
    v1::DeleteDocumentResponse resp;
    ASSERT_TRUE(stub_->DeleteDocument(&ctx, req, &resp).ok());
  }
  {
    grpc::ClientContext ctx;
    v1::DeleteDocumentRequest req;
    req.set_collection("docs");
    req.set_id("both");
    v1::DeleteDocumentResponse resp;
    EXPECT_EQ(stub_->DeleteDocument(&ctx, req, &resp).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  ASSERT_TRUE(Search("docs", "cats", &found).ok());
  ASSERT_EQ(found.hits_size(), 1);
  EXPECT_EQ(found.hits(0).doc_id(), "cats");

  // Metrics: searches and postings counted.
  const std::string text = registry_.Render();
  EXPECT_THAT(text, HasSubstr("triptych_memory_retrieval_searches_total{mode=\"bm25\"} 2"));
  EXPECT_THAT(text, HasSubstr("triptych_memory_retrieval_postings_scanned_total 3"));
  EXPECT_THAT(text, HasSubstr("triptych_memory_retrieval_search_seconds_count 2"));
}

TEST_F(RetrievalServiceTest, DenseAndHybridSearch) {
  ASSERT_TRUE(Create("vecs", 2).ok());
  v1::AddDocumentsResponse added;
  ASSERT_TRUE(Add("vecs", {{"x", "east"}}, &added, {1.0f, 0.0f}).ok());
  ASSERT_TRUE(Add("vecs", {{"y", "north"}}, &added, {0.0f, 1.0f}).ok());
  EXPECT_EQ(added.results(0).code(), 0) << added.results(0).error();

  v1::SearchResponse found;
  ASSERT_TRUE(Search("vecs", "", &found, v1::SEARCH_MODE_DENSE, {0.1f, 0.9f}, 1).ok());
  ASSERT_EQ(found.hits_size(), 1);
  EXPECT_EQ(found.hits(0).doc_id(), "y");
  EXPECT_EQ(found.embeddings_scanned(), 2u);
  ASSERT_TRUE(Search("vecs", "east", &found, v1::SEARCH_MODE_HYBRID, {0.0f, 1.0f}).ok());
  ASSERT_EQ(found.hits_size(), 2);

  // Wrong query dimension, NaN, dense on a BM25 collection, unknown mode.
  grpc::Status s = Search("vecs", "", &found, v1::SEARCH_MODE_DENSE, {1.0f});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("dim"));
  s = Search("vecs", "", &found, v1::SEARCH_MODE_DENSE, {std::nanf(""), 1.0f});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(Create("text", 0).ok());
  s = Search("text", "q", &found, v1::SEARCH_MODE_DENSE, {1.0f, 0.0f});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  s = Search("vecs", "q", &found, static_cast<v1::SearchMode>(42));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("mode"));
}

TEST_F(RetrievalServiceTest, BadDocumentsFailAloneAndLoseNothing) {
  ASSERT_TRUE(Create("vecs", 2).ok());
  v1::AddDocumentsResponse added;
  ASSERT_TRUE(Add("vecs", {{"keep", "kept text"}}, &added, {1.0f, 0.0f}).ok());

  // One batch: a good document, a duplicate id, an oversized text, an
  // empty id. Wrong-dimension embeddings in a second batch.
  v1::AddDocumentsRequest req;
  req.set_collection("vecs");
  auto add = [&](const std::string& id, const std::string& text, std::vector<float> e) {
    v1::Document* d = req.add_documents();
    d->set_id(id);
    d->set_text(text);
    d->mutable_embedding()->Add(e.begin(), e.end());
  };
  add("new", "new text", {0.0f, 1.0f});
  add("keep", "replacement text", {0.0f, 1.0f});
  add("big", std::string(2000, 'a'), {0.0f, 1.0f});
  add("", "no id", {0.0f, 1.0f});
  add("short", "wrong dim", {1.0f});
  add("none", "no embedding", {});
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->AddDocuments(&ctx, req, &added).ok());
  }
  ASSERT_EQ(added.results_size(), 6);
  EXPECT_EQ(added.results(0).code(), 0);
  EXPECT_EQ(added.results(1).code(), static_cast<int>(grpc::StatusCode::ALREADY_EXISTS));
  EXPECT_THAT(added.results(1).error(), HasSubstr("keep"));
  EXPECT_EQ(added.results(2).code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_FALSE(added.results(2).error().empty());
  EXPECT_EQ(added.results(3).code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_EQ(added.results(4).code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_THAT(added.results(4).error(), HasSubstr("2"));
  EXPECT_EQ(added.results(5).code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));

  // The unknown collection fails the whole call.
  grpc::Status s = Add("nope", {{"a", "b"}}, &added);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);

  // What was stored before is intact: "keep" still has its text.
  grpc::Status gs;
  EXPECT_EQ(Get("vecs", &gs).num_documents(), 2u);
  v1::SearchResponse found;
  ASSERT_TRUE(Search("vecs", "kept", &found).ok());
  ASSERT_EQ(found.hits_size(), 1);
  EXPECT_EQ(found.hits(0).doc_id(), "keep");
  ASSERT_TRUE(Search("vecs", "replacement", &found).ok());
  EXPECT_EQ(found.hits_size(), 0);

  s = Search("nope", "x", &found);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(registry_.Render(),
              HasSubstr("triptych_memory_retrieval_requests_total{rpc=\"Search\","
                        "code=\"NOT_FOUND\"} 1"));
}

}  // namespace
}  // namespace triptych::memory_service
