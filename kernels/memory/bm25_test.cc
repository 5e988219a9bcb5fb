// BM25 against a straightforward reference written here from the formula:
// it works from the documents' token lists (not the postings), in double.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/memory/bm25.h"

namespace triptych::kernels::memory {
namespace {

struct Corpus {
  std::vector<std::vector<int>> docs;  // token ids
  // Inverted index built from docs: term -> (doc, tf), doc ascending.
  std::map<int, std::vector<std::pair<int32_t, uint32_t>>> index;
  std::vector<int32_t> lengths;
  float avgdl = 0;
};

Corpus Generate(int num_docs, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  // Zipf-like term distribution, so some terms are in most documents.
  std::vector<double> weights(vocab);
  for (int t = 0; t < vocab; ++t) weights[t] = 1.0 / (t + 1);
  std::discrete_distribution<int> term(weights.begin(), weights.end());
  std::uniform_int_distribution<int> len(1, 120);
  Corpus c;
  double total = 0;
  for (int d = 0; d < num_docs; ++d) {
    std::vector<int> doc(len(rng));
    for (int& t : doc) t = term(rng);
    std::map<int, uint32_t> tf;
    for (int t : doc) ++tf[t];
    for (auto [t, f] : tf) c.index[t].push_back({d, f});
    c.lengths.push_back(static_cast<int32_t>(doc.size()));
    total += doc.size();
    c.docs.push_back(std::move(doc));
  }
  c.avgdl = static_cast<float>(total / num_docs);
  return c;
}

std::vector<double> Reference(const Corpus& c, const std::vector<int>& query,
                              double k1, double b) {
  const double n = c.docs.size();
  std::vector<double> scores(c.docs.size(), 0.0);
  for (int term : query) {
    double df = 0;
    for (const auto& doc : c.docs) {
      if (std::find(doc.begin(), doc.end(), term) != doc.end()) ++df;
    }
    const double idf = std::log(1.0 + (n - df + 0.5) / (df + 0.5));
    for (size_t d = 0; d < c.docs.size(); ++d) {
      const double tf = std::count(c.docs[d].begin(), c.docs[d].end(), term);
      if (tf == 0) continue;
      const double dl = c.docs[d].size();
      scores[d] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / c.avgdl));
    }
  }
  return scores;
}

struct Csr {
  std::vector<int64_t> offsets{0};
  std::vector<int32_t> docs;
  std::vector<uint32_t> tfs;
  Bm25Postings View() const { return {offsets, docs, tfs}; }
};

Csr Postings(const Corpus& c, const std::vector<int>& query) {
  Csr p;
  for (int term : query) {
    auto it = c.index.find(term);
    if (it != c.index.end()) {
      for (auto [d, f] : it->second) {
        p.docs.push_back(d);
        p.tfs.push_back(f);
      }
    }
    p.offsets.push_back(static_cast<int64_t>(p.docs.size()));
  }
  return p;
}

TEST(Bm25Scores, EqualsStraightforwardReference) {
  const Corpus c = Generate(2000, 500, 42);
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> term(0, 520);  // some terms unseen
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<int> query(1 + trial % 6);
    for (int& t : query) t = term(rng);
    if (trial == 3) query = {0, 0, 7};  // a repeated (and very common) term
    const Csr p = Postings(c, query);
    std::vector<float> got(c.docs.size(), -1.0f);
    Bm25Scores(p.View(), c.lengths, c.avgdl, absl::MakeSpan(got));
    const std::vector<double> want = Reference(c, query, 1.5, 0.75);
    for (size_t d = 0; d < got.size(); ++d) {
      ASSERT_NEAR(got[d], want[d], 1e-5 * std::max(1.0, std::fabs(want[d])))
          << "trial " << trial << " doc " << d;
    }
  }
}

TEST(Bm25Scores, OtherParameters) {
  const Corpus c = Generate(300, 50, 3);
  const std::vector<int> query = {1, 4, 9};
  const Csr p = Postings(c, query);
  std::vector<float> got(c.docs.size());
  Bm25Scores(p.View(), c.lengths, c.avgdl, absl::MakeSpan(got),
             {.k1 = 1.2f, .b = 0.0f});
  const std::vector<double> want = Reference(c, query, 1.2, 0.0);
  for (size_t d = 0; d < got.size(); ++d) {
    ASSERT_NEAR(got[d], want[d], 1e-5 * std::max(1.0, std::fabs(want[d])));
  }
}

TEST(Bm25Idf, LuceneFormula) {
  EXPECT_FLOAT_EQ(Bm25Idf(10, 1), std::log(1.0 + 9.5 / 1.5));
  // Never negative, even for a term in every document.
  EXPECT_GT(Bm25Idf(10, 10), 0.0f);
}

TEST(Bm25Scores, EmptyQueryScoresZero) {
  std::vector<float> scores(3, 5.0f);
  const std::vector<int32_t> lengths = {1, 2, 3};
  Bm25Scores({}, lengths, 2.0f, absl::MakeSpan(scores));
  EXPECT_EQ(scores, (std::vector<float>{0, 0, 0}));
}

}  // namespace
}  // namespace triptych::kernels::memory
