#include "memory/collection_store.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "memory/text_analyzer.h"

namespace triptych::memory {
namespace {

using ::testing::ElementsAre;

std::unique_ptr<CollectionStore> MakeStore(CollectionStoreOptions o = {}) {
  auto s = CollectionStore::Create(o);
  EXPECT_TRUE(s.ok()) << s.status();
  return *std::move(s);
}

std::vector<std::string> Ids(const std::vector<SearchHit>& hits) {
  std::vector<std::string> out;
  for (const auto& h : hits) out.push_back(h.doc_id);
  return out;
}

TEST(TextAnalyzer, LowercasesAndSplitsOnNonAlnumAscii) {
  EXPECT_THAT(AnalyzeText("Hello, World! na\xc3\xafve caf\xc3\xa9-42 x_Y"),
              ElementsAre("hello", "world", "na\xc3\xafve", "caf\xc3\xa9", "42",
                          "x", "y"));
  EXPECT_TRUE(AnalyzeText("  ,.;  ").empty());
  EXPECT_THAT(AnalyzeText("ABC"), ElementsAre("abc"));
}

TEST(CollectionStore, CreateListDelete) {
  auto store = MakeStore();
  ASSERT_TRUE(store->CreateCollection("b-docs", 0).ok());
  ASSERT_TRUE(store->CreateCollection("a.docs", 4).ok());
  EXPECT_EQ(store->CreateCollection("a.docs", 4).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store->CreateCollection("", 0).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->CreateCollection("has space", 0).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->CreateCollection("neg", -1).code(),
            absl::StatusCode::kInvalidArgument);
  const auto list = store->ListCollections();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "a.docs");
  EXPECT_EQ(list[0].dim, 4);
  EXPECT_EQ(list[1].name, "b-docs");
  ASSERT_TRUE(store->DeleteCollection("a.docs").ok());
  EXPECT_EQ(store->DeleteCollection("a.docs").code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store->ListCollections().size(), 1u);
}

TEST(CollectionStore, BadInputIsRejectedAndLosesNothing) {
  CollectionStoreOptions o;
  o.max_document_bytes = 64;
  auto store = MakeStore(o);
  ASSERT_TRUE(store->CreateCollection("plain", 0).ok());
  ASSERT_TRUE(store->CreateCollection("emb", 3).ok());
  ASSERT_TRUE(store->AddDocument("plain", "d1", "the quick brown fox").ok());
  const std::vector<float> e3{1, 2, 3}, e2{1, 2};
  ASSERT_TRUE(store->AddDocument("emb", "d1", "alpha", e3).ok());

  EXPECT_EQ(store->AddDocument("nope", "x", "t").code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store->AddDocument("plain", "big", std::string(65, 'a')).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->AddDocument("plain", "", "t").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->AddDocument("plain", "d1", "dup").code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store->AddDocument("plain", "e", "t", e3).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->AddDocument("emb", "e", "t", e2).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->AddDocument("emb", "e", "t").code(),
            absl::StatusCode::kInvalidArgument);
  const std::vector<float> nan{1, NAN, 3};
  EXPECT_EQ(store->AddDocument("emb", "e", "t", nan).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->DeleteDocument("plain", "zz").code(),
            absl::StatusCode::kNotFound);

  SearchRequest r;
  r.query_text = "fox";
  EXPECT_EQ(store->Search("nope", r).status().code(),
            absl::StatusCode::kNotFound);
  r.k = 0;
  EXPECT_EQ(store->Search("plain", r).status().code(),
            absl::StatusCode::kInvalidArgument);
  r.k = 5;
  r.mode = SearchMode::kDense;
  r.query_embedding = {1, 2, 3};
  EXPECT_EQ(store->Search("plain", r).status().code(),
            absl::StatusCode::kInvalidArgument);
  r.query_embedding = {1, 2};
  EXPECT_EQ(store->Search("emb", r).status().code(),
            absl::StatusCode::kInvalidArgument);
  r.mode = SearchMode::kHybrid;
  r.query_embedding = {1, 2, 3};
  r.alpha = 1.5f;
  EXPECT_EQ(store->Search("emb", r).status().code(),
            absl::StatusCode::kInvalidArgument);

  // Everything stored before is intact.
  EXPECT_EQ(store->GetCollection("plain")->num_documents, 1);
  EXPECT_EQ(store->GetCollection("emb")->num_documents, 1);
  SearchRequest ok;
  ok.query_text = "FOX!";
  auto hits = store->Search("plain", ok);
  ASSERT_TRUE(hits.ok()) << hits.status();
  EXPECT_THAT(Ids(*hits), ElementsAre("d1"));
  EXPECT_EQ((*hits)[0].snippet, "the quick brown fox");
}

// A straightforward BM25 (Lucene variant) over the live documents, in double.
std::map<std::string, double> ReferenceBm25(
    const std::map<std::string, std::vector<std::string>>& docs,
    const std::vector<std::string>& query) {
  const double n = static_cast<double>(docs.size());
  double total = 0;
  for (const auto& [id, toks] : docs) total += toks.size();
  const double avgdl = total / n;
  std::map<std::string, double> scores;
  for (const std::string& term : query) {
    double df = 0;
    for (const auto& [id, toks] : docs) {
      if (std::find(toks.begin(), toks.end(), term) != toks.end()) ++df;
    }
    if (df == 0) continue;
    const double idf = std::log(1.0 + (n - df + 0.5) / (df + 0.5));
    for (const auto& [id, toks] : docs) {
      const double tf = std::count(toks.begin(), toks.end(), term);
      if (tf == 0) continue;
      const double dl = toks.size();
      scores[id] +=
          idf * tf * (1.5 + 1) / (tf + 1.5 * (1 - 0.75 + 0.75 * dl / avgdl));
    }
  }
  return scores;
}

TEST(CollectionStore, Bm25MatchesReferenceOnGeneratedCorpus) {
  auto store = MakeStore();
  ASSERT_TRUE(store->CreateCollection("corpus", 0).ok());
  std::mt19937 rng(11);
  // Zipf-like vocabulary use: word i with weight 1 / (i + 1).
  std::vector<double> w;
  for (int i = 0; i < 60; ++i) w.push_back(1.0 / (i + 1));
  std::discrete_distribution<int> word(w.begin(), w.end());
  std::map<std::string, std::vector<std::string>> live;
  for (int d = 0; d < 400; ++d) {
    const int len = static_cast<int>(rng() % 40);
    std::string text;
    std::vector<std::string> toks;
    for (int i = 0; i < len; ++i) {
      const std::string t = absl::StrCat("w", word(rng));
      // Mixed case and punctuation exercise the analyzer.
      text += (i % 3 == 0 ? "W" + t.substr(1) : t) + (i % 2 ? ", " : " ");
      toks.push_back(t);
    }
    const std::string id = absl::StrCat("doc", d);
    ASSERT_TRUE(store->AddDocument("corpus", id, text).ok());
    live[id] = toks;
  }
  // Delete a third of the documents (exercises the index compaction).
  for (int d = 0; d < 400; d += 3) {
    const std::string id = absl::StrCat("doc", d);
    ASSERT_TRUE(store->DeleteDocument("corpus", id).ok());
    live.erase(id);
  }
  auto info = store->GetCollection("corpus");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->num_documents, static_cast<int64_t>(live.size()));

  for (int trial = 0; trial < 40; ++trial) {
    std::vector<std::string> query;
    const int nq = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < nq; ++i) query.push_back(absl::StrCat("w", word(rng)));
    if (trial % 7 == 0) query.push_back("absent");
    SearchRequest r;
    for (const auto& t : query) r.query_text += t + " ";
    r.k = 1000;
    auto hits = store->Search("corpus", r);
    ASSERT_TRUE(hits.ok()) << hits.status();
    const auto ref = ReferenceBm25(live, query);
    ASSERT_EQ(hits->size(), ref.size()) << r.query_text;
    for (size_t i = 0; i < hits->size(); ++i) {
      const SearchHit& h = (*hits)[i];
      ASSERT_TRUE(ref.contains(h.doc_id)) << h.doc_id;
      EXPECT_NEAR(h.score, ref.at(h.doc_id), 1e-5) << h.doc_id;
      if (i > 0) EXPECT_GE((*hits)[i - 1].score, h.score);
    }
    // top-k is a prefix of the full ranking.
    r.k = 5;
    auto top5 = store->Search("corpus", r);
    ASSERT_TRUE(top5.ok());
    ASSERT_EQ(top5->size(), std::min<size_t>(5, hits->size()));
    for (size_t i = 0; i < top5->size(); ++i) {
      EXPECT_EQ((*top5)[i], (*hits)[i]);
    }
  }
}

TEST(CollectionStore, DenseTopKEqualsBruteForce) {
  auto store = MakeStore();
  constexpr int kDim = 24, kDocs = 300;
  ASSERT_TRUE(store->CreateCollection("vec", kDim).ok());
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  std::map<std::string, std::vector<float>> live;
  for (int d = 0; d < kDocs; ++d) {
    std::vector<float> e(kDim);
    for (float& x : e) x = nd(rng);
    const std::string id = absl::StrCat("v", d);
    ASSERT_TRUE(store->AddDocument("vec", id, "text " + id, e).ok());
    live[id] = e;
  }
  for (int d = 0; d < kDocs; d += 5) {
    ASSERT_TRUE(store->DeleteDocument("vec", absl::StrCat("v", d)).ok());
    live.erase(absl::StrCat("v", d));
  }
  for (int trial = 0; trial < 10; ++trial) {
    SearchRequest r;
    r.mode = SearchMode::kDense;
    r.k = 10;
    r.query_embedding.resize(kDim);
    for (float& x : r.query_embedding) x = nd(rng);
    std::vector<std::pair<double, std::string>> ref;
    for (const auto& [id, e] : live) {
      double s = 0;
      for (int i = 0; i < kDim; ++i) s += double{r.query_embedding[i]} * e[i];
      ref.emplace_back(s, id);
    }
    std::sort(ref.begin(), ref.end(),
              [](const auto& a, const auto& b) { return a.first > b.first; });
    auto hits = store->Search("vec", r);
    ASSERT_TRUE(hits.ok()) << hits.status();
    ASSERT_EQ(hits->size(), 10u);
    for (int i = 0; i < 10; ++i) {
      EXPECT_EQ((*hits)[i].doc_id, ref[i].second) << i;
      EXPECT_NEAR((*hits)[i].score, ref[i].first, 1e-4);
    }
  }
}

TEST(CollectionStore, HybridOrderingOnHandMadeCase) {
  auto store = MakeStore();
  ASSERT_TRUE(store->CreateCollection("h", 2).ok());
  // BM25 for "apple": B (tf 3) > A (tf 1) > C (0).
  // Dense for (1, 0): A (1.0) > C (0.9) > B (0).
  ASSERT_TRUE(store
                  ->AddDocument("h", "A", "apple banana",
                                std::vector<float>{1.0f, 0.0f})
                  .ok());
  ASSERT_TRUE(store
                  ->AddDocument("h", "B", "apple apple apple",
                                std::vector<float>{0.0f, 1.0f})
                  .ok());
  ASSERT_TRUE(
      store->AddDocument("h", "C", "cherry", std::vector<float>{0.9f, 0.1f})
          .ok());
  SearchRequest r;
  r.query_text = "apple";
  r.query_embedding = {1.0f, 0.0f};
  r.mode = SearchMode::kHybrid;
  r.k = 3;

  r.alpha = 1.0f;  // dense only
  EXPECT_THAT(Ids(*store->Search("h", r)), ElementsAre("A", "C", "B"));
  r.alpha = 0.0f;  // bm25 only (C scores 0 but is still ranked)
  EXPECT_THAT(Ids(*store->Search("h", r)), ElementsAre("B", "A", "C"));

  // alpha 0.5: A = 0.5 * 1 + 0.5 * a (0 < a < 1), B = 0.5, C = 0.45.
  const auto ref = ReferenceBm25({{"A", {"apple", "banana"}},
                                  {"B", {"apple", "apple", "apple"}},
                                  {"C", {"cherry"}}},
                                 {"apple"});
  const double a = ref.at("A") / ref.at("B");  // min is C's 0
  r.alpha = 0.5f;
  auto hits = store->Search("h", r);
  ASSERT_TRUE(hits.ok());
  EXPECT_THAT(Ids(*hits), ElementsAre("A", "B", "C"));
  EXPECT_NEAR((*hits)[0].score, 0.5 + 0.5 * a, 1e-5);
  EXPECT_NEAR((*hits)[1].score, 0.5, 1e-5);
  EXPECT_NEAR((*hits)[2].score, 0.45, 1e-5);

  // bm25 mode returns only matching documents.
  r.mode = SearchMode::kBm25;
  const CollectionStoreStats before = store->stats();
  EXPECT_THAT(Ids(*store->Search("h", r)), ElementsAre("B", "A"));
  const CollectionStoreStats after = store->stats();
  EXPECT_EQ(after.searches, before.searches + 1);
  EXPECT_EQ(after.postings_scanned, before.postings_scanned + 2);
  EXPECT_EQ(after.hits_returned, before.hits_returned + 2);
  EXPECT_EQ(after.documents_added, 3);
  r.mode = SearchMode::kDense;
  r.k = 1;
  SearchWork work;
  EXPECT_THAT(Ids(*store->Search("h", r, &work)), ElementsAre("A"));
  EXPECT_EQ(work.postings_scanned, 0);
  EXPECT_EQ(work.embeddings_scanned, 3);
  r.mode = SearchMode::kHybrid;
  EXPECT_TRUE(store->Search("h", r, &work).ok());
  EXPECT_EQ(work.postings_scanned, 2);
  EXPECT_EQ(work.embeddings_scanned, 3);
  // A NaN query is refused, not sorted.
  r.query_embedding = {std::nanf(""), 0.0f};
  EXPECT_EQ(store->Search("h", r).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CollectionStore, SnippetCutsAtUtf8Boundary) {
  CollectionStoreOptions o;
  o.snippet_bytes = 5;
  auto store = MakeStore(o);
  ASSERT_TRUE(store->CreateCollection("s", 0).ok());
  ASSERT_TRUE(store->AddDocument("s", "d", "abcd\xc3\xa9 word").ok());
  SearchRequest r;
  r.query_text = "word";
  auto hits = store->Search("s", r);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].snippet, "abcd");
}

TEST(CollectionStore, ConcurrentAddSearchDelete) {
  auto store = MakeStore();
  ASSERT_TRUE(store->CreateCollection("c", 0).ok());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        const std::string id = absl::StrCat("t", t, "_", i);
        if (!store->AddDocument("c", id, absl::StrCat("common t", t, " n", i))
                 .ok()) {
          ++failures;
        }
        SearchRequest r;
        r.query_text = absl::StrCat("common t", t);
        r.k = 3;
        auto hits = store->Search("c", r);
        if (!hits.ok() || hits->empty()) ++failures;
        if (i % 2 == 0 && !store->DeleteDocument("c", id).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(store->GetCollection("c")->num_documents, 200);
  SearchRequest r;
  r.query_text = "n99";
  r.k = 10;
  auto hits = store->Search("c", r);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ(hits->size(), 4u);
}

}  // namespace
}  // namespace triptych::memory
