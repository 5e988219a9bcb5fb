#ifndef TRIPTYCH_KERNELS_MEMORY_DENSE_IP_H_
#define TRIPTYCH_KERNELS_MEMORY_DENSE_IP_H_

// Dense retrieval: inner products of a query embedding with client-supplied
// document embeddings (float32, [num_docs][dim]), and their top-k.
//
// Exact arithmetic order (scalar, AVX2, AVX-512 and the GPU kernels agree bit
// for bit): products q_i * d_i added to lane (i mod 16) of 16 float partial
// sums starting at +0, then the tree reduction s[j] += s[j + w], w = 8, 4, 2,
// 1; no FMA (as QuestScores, quest.h).
//
// All functions are thread-safe (pure).

#include <cstdint>
#include <vector>

#include "kernels/memory/isa.h"
#include "kernels/memory/top_k.h"

namespace triptych::kernels::memory {

// scores[d] = query . docs[d] for d < num_docs. Preconditions: dim >= 1,
// num_docs >= 0.
void DenseInnerProduct(const float* query, const float* docs,
                       int64_t num_docs, int dim, float* scores,
                       Isa isa = Isa::kAuto);

// TopK (top_k.h) of DenseInnerProduct.
std::vector<ScoredIndex> DenseTopK(const float* query, const float* docs,
                                   int64_t num_docs, int dim, int k,
                                   Isa isa = Isa::kAuto);

}  // namespace triptych::kernels::memory

#endif  // TRIPTYCH_KERNELS_MEMORY_DENSE_IP_H_
