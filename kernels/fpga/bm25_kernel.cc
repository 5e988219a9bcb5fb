// HLS C++ of bm25_score_topk (see bm25_kernel.h).
//
// Hardware notes: the posting loop is a read-modify-write of the on-chip
// tile; a posting list is strictly increasing, so two postings of one term
// never touch the same doc and the DEPENDENCE pragma lets it pipeline at
// II=1. The score stream feeds the insertion-sort top-k in a dataflow
// region with the scoring.

#include "kernels/fpga/bm25_kernel.h"

#include <cstdint>

#include "kernels/fpga/hls_shim.h"
#include "kernels/fpga/kernel_limits.h"
#include "kernels/fpga/topk_insert.h"

namespace triptych::kernels::fpga {
namespace {

void ScoreTiles(const int64_t* term_offsets, const int32_t* doc_ids,
                const uint32_t* term_freqs, const float* idf,
                const int32_t* doc_lengths, int num_terms, int num_docs,
                float avg_doc_length, float k1, float b,
                hls::stream<float>& out_s, hls::stream<ScoredItem>& topk_s) {
  int64_t cursor[kMaxTerms], end[kMaxTerms];
  float term_idf[kMaxTerms];
load_terms:
  for (int t = 0; t < num_terms; ++t) {
#pragma HLS PIPELINE II = 1
    cursor[t] = term_offsets[t];
    end[t] = term_offsets[t + 1];
    term_idf[t] = idf[t];
  }
  // The same float constants as the reference (bm25.cc).
  const float one_minus_b = 1.0f - b;
  const float k1_plus_1 = k1 + 1.0f;
  float acc[kTileDocs];
#pragma HLS BIND_STORAGE variable = acc type = ram_2p impl = uram
tiles:
  for (int tile = 0; tile < num_docs; tile += kTileDocs) {
    const int tile_end = tile + kTileDocs < num_docs ? tile + kTileDocs
                                                     : num_docs;
  zero:
    for (int d = 0; d < kTileDocs; ++d) {
#pragma HLS PIPELINE II = 1
      acc[d] = 0.0f;
    }
  terms:
    for (int t = 0; t < num_terms; ++t) {
      int64_t p = cursor[t];
    postings:
      while (p < end[t] && doc_ids[p] < tile_end) {
#pragma HLS PIPELINE II = 1
#pragma HLS DEPENDENCE variable = acc inter false
        const int32_t d = doc_ids[p];
        const float tf = static_cast<float>(term_freqs[p]);
        const float dl = static_cast<float>(doc_lengths[d]);
        const float norm = k1 * (one_minus_b + b * (dl / avg_doc_length));
        const float w = term_idf[t] * ((tf * k1_plus_1) / (tf + norm));
        acc[d - tile] = acc[d - tile] + w;
        ++p;
      }
      cursor[t] = p;
    }
  emit:
    for (int d = tile; d < tile_end; ++d) {
#pragma HLS PIPELINE II = 1
      const float s = acc[d - tile];
      out_s.write(s);
      topk_s.write(ScoredItem{s, d});
    }
  }
}

void WriteScores(hls::stream<float>& in, int num_docs, float* scores) {
write_scores:
  for (int d = 0; d < num_docs; ++d) {
#pragma HLS PIPELINE II = 1
    scores[d] = in.read();
  }
}

}  // namespace
}  // namespace triptych::kernels::fpga

extern "C" void bm25_score_topk(const int64_t* term_offsets,
                                const int32_t* doc_ids,
                                const uint32_t* term_freqs, const float* idf,
                                const int32_t* doc_lengths, float* scores,
                                int32_t* topk_index, float* topk_score,
                                int num_terms, int num_docs,
                                float avg_doc_length, float k1, float b,
                                int k) {
#pragma HLS INTERFACE m_axi port = term_offsets offset = slave bundle = gmem0
#pragma HLS INTERFACE m_axi port = idf offset = slave bundle = gmem0
#pragma HLS INTERFACE m_axi port = doc_ids offset = slave bundle = gmem1
#pragma HLS INTERFACE m_axi port = term_freqs offset = slave bundle = gmem2
#pragma HLS INTERFACE m_axi port = doc_lengths offset = slave bundle = gmem3
#pragma HLS INTERFACE m_axi port = scores offset = slave bundle = gmem4
#pragma HLS INTERFACE m_axi port = topk_index offset = slave bundle = gmem4
#pragma HLS INTERFACE m_axi port = topk_score offset = slave bundle = gmem4
#pragma HLS INTERFACE s_axilite port = term_offsets
#pragma HLS INTERFACE s_axilite port = doc_ids
#pragma HLS INTERFACE s_axilite port = term_freqs
#pragma HLS INTERFACE s_axilite port = idf
#pragma HLS INTERFACE s_axilite port = doc_lengths
#pragma HLS INTERFACE s_axilite port = scores
#pragma HLS INTERFACE s_axilite port = topk_index
#pragma HLS INTERFACE s_axilite port = topk_score
#pragma HLS INTERFACE s_axilite port = num_terms
#pragma HLS INTERFACE s_axilite port = num_docs
#pragma HLS INTERFACE s_axilite port = avg_doc_length
#pragma HLS INTERFACE s_axilite port = k1
#pragma HLS INTERFACE s_axilite port = b
#pragma HLS INTERFACE s_axilite port = k
#pragma HLS INTERFACE s_axilite port = return
  using namespace triptych::kernels::fpga;
  hls::stream<float> score_s("score_s");
  hls::stream<ScoredItem> topk_s("topk_s");
#pragma HLS STREAM variable = score_s depth = 64
#pragma HLS STREAM variable = topk_s depth = 64
#pragma HLS DATAFLOW
  ScoreTiles(term_offsets, doc_ids, term_freqs, idf, doc_lengths, num_terms,
             num_docs, avg_doc_length, k1, b, score_s, topk_s);
  WriteScores(score_s, num_docs, scores);
  TopKInsert(topk_s, num_docs, k, topk_index, topk_score);
}
