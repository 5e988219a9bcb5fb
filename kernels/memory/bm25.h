#ifndef TRIPTYCH_KERNELS_MEMORY_BM25_H_
#define TRIPTYCH_KERNELS_MEMORY_BM25_H_

// BM25 relevancy of documents to a query (Lucene's variant):
//   idf(t)  = ln(1 + (N - df + 0.5) / (df + 0.5))
//   w(t, d) = idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))
//   score(d) = sum over query terms t of w(t, d)
// with N the number of documents, df the term's document frequency (its
// posting count), tf the term's count in d, dl the length of d in tokens.
//
// Input is the query terms' posting lists in CSR form. Exact arithmetic
// order (the FPGA and GPU kernels reproduce it bit for bit): idf is computed
// by Bm25Idf (in double, rounded to float, on the host for every backend);
// per posting, in float:
//   norm = k1 * ((1 - b) + b * (dl / avgdl))
//   w    = idf * ((tf * (k1 + 1)) / (tf + norm))
//   score[d] = score[d] + w
// term by term in query order, postings in list order (term-at-a-time).
//
// All functions are thread-safe (pure).

#include <cstdint>

#include "absl/types/span.h"

namespace triptych::kernels::memory {

struct Bm25Params {
  float k1 = 1.5f;
  float b = 0.75f;
};

// Posting lists of the query's terms. Term t's postings are
// [term_offsets[t], term_offsets[t + 1]) of doc_ids / term_freqs. A query
// term repeated in the query appears as repeated lists (and counts twice).
struct Bm25Postings {
  absl::Span<const int64_t> term_offsets;  // num_terms + 1, non-decreasing
  absl::Span<const int32_t> doc_ids;       // each list strictly increasing
  absl::Span<const uint32_t> term_freqs;   // >= 1
  int num_terms() const {
    return term_offsets.empty() ? 0
                                : static_cast<int>(term_offsets.size() - 1);
  }
};

// The idf above as a float, for a collection of `num_docs` documents.
float Bm25Idf(int64_t num_docs, int64_t doc_freq);

// Dense scores: scores[d] for every d < doc_lengths.size() (= N); documents
// no query term occurs in score 0. avg_doc_length is the collection's mean
// document length (kept by the index, not recomputed per query).
// Preconditions (the backends' validation checks them; see
// memory_backend.h): well-formed postings with doc ids < N, avg > 0,
// scores.size() == N.
void Bm25Scores(const Bm25Postings& postings,
                absl::Span<const int32_t> doc_lengths, float avg_doc_length,
                absl::Span<float> scores, const Bm25Params& params = {});

}  // namespace triptych::kernels::memory

#endif  // TRIPTYCH_KERNELS_MEMORY_BM25_H_
