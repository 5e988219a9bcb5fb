#include "kernels/memory/dense_ip.h"

#include <vector>

#include "kernels/memory/cpu/dispatch.h"

namespace triptych::kernels::memory {

void DenseInnerProduct(const float* query, const float* docs,
                       int64_t num_docs, int dim, float* scores, Isa isa) {
  cpu::TableFor(isa).dense_ip(query, docs, num_docs, dim, scores);
}

std::vector<ScoredIndex> DenseTopK(const float* query, const float* docs,
                                   int64_t num_docs, int dim, int k, Isa isa) {
  std::vector<float> scores(num_docs);
  DenseInnerProduct(query, docs, num_docs, dim, scores.data(), isa);
  return TopK(scores, k);
}

}  // namespace triptych::kernels::memory
