#include "kernels/memory/bm25.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace triptych::kernels::memory {

float Bm25Idf(int64_t num_docs, int64_t doc_freq) {
  const double n = static_cast<double>(num_docs);
  const double df = static_cast<double>(doc_freq);
  return static_cast<float>(std::log(1.0 + (n - df + 0.5) / (df + 0.5)));
}

void Bm25Scores(const Bm25Postings& postings,
                absl::Span<const int32_t> doc_lengths, float avg_doc_length,
                absl::Span<float> scores, const Bm25Params& params) {
  std::fill(scores.begin(), scores.end(), 0.0f);
  const int64_t num_docs = static_cast<int64_t>(doc_lengths.size());
  const float k1 = params.k1, b = params.b;
  const float one_minus_b = 1.0f - b;
  const float k1_plus_1 = k1 + 1.0f;
  for (int t = 0; t < postings.num_terms(); ++t) {
    const int64_t begin = postings.term_offsets[t];
    const int64_t end = postings.term_offsets[t + 1];
    const float idf = Bm25Idf(num_docs, end - begin);
    for (int64_t p = begin; p < end; ++p) {
      const int32_t d = postings.doc_ids[p];
      const float tf = static_cast<float>(postings.term_freqs[p]);
      const float dl = static_cast<float>(doc_lengths[d]);
      const float norm = k1 * (one_minus_b + b * (dl / avg_doc_length));
      const float w = idf * ((tf * k1_plus_1) / (tf + norm));
      scores[d] = scores[d] + w;
    }
  }
}

}  // namespace triptych::kernels::memory
