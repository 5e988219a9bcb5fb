#ifndef TRIPTYCH_KERNELS_FPGA_BM25_KERNEL_H_
#define TRIPTYCH_KERNELS_FPGA_BM25_KERNEL_H_

// HLS kernel `bm25_score_topk`: BM25 scores of every document for one query
// (term-at-a-time over CSR postings) plus their top-k. Arithmetic is exactly
// that of kernels/memory/bm25.h, so C simulation is bit-identical to the CPU
// reference; idf values come from the host (Bm25Idf), as on the CPU.
//
// Documents are scored in tiles of kTileDocs held on chip: for each tile,
// every term's cursor advances over its (doc-sorted) postings inside the
// tile, so each doc's score sums its terms in query order, as the reference.
//
// Argument order is the kernel's register map.
//   term_offsets [num_terms + 1]  int64   m_axi gmem0
//   doc_ids      [postings]       int32   m_axi gmem1
//   term_freqs   [postings]       uint32  m_axi gmem2
//   idf          [num_terms]      float   m_axi gmem0
//   doc_lengths  [num_docs]       int32   m_axi gmem3
//   scores       [num_docs]       float   m_axi gmem4 (out)
//   topk_index   [k]              int32   m_axi gmem4 (out)
//   topk_score   [k]              float   m_axi gmem4 (out)
//   num_terms <= kMaxTerms, num_docs, avg_doc_length > 0, k1, b,
//   0 <= k <= kMaxTopK                        s_axilite
// Preconditions (checked by the host): well-formed CSR, each posting list
// strictly increasing, doc ids < num_docs.

#include <cstdint>

extern "C" void bm25_score_topk(const int64_t* term_offsets,
                                const int32_t* doc_ids,
                                const uint32_t* term_freqs, const float* idf,
                                const int32_t* doc_lengths, float* scores,
                                int32_t* topk_index, float* topk_score,
                                int num_terms, int num_docs,
                                float avg_doc_length, float k1, float b,
                                int k);

#endif  // TRIPTYCH_KERNELS_FPGA_BM25_KERNEL_H_
