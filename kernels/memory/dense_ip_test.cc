// Dense inner products: every ISA bit-identical to the scalar reference,
// close to a double-precision dot, and the top-k equal to brute force.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/memory/dense_ip.h"

namespace triptych::kernels::memory {
namespace {

std::vector<float> Normal(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> dist;
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

TEST(DenseInnerProduct, IsaVariantsBitIdenticalToScalar) {
  std::mt19937 rng(2);
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (!IsaAvailable(isa)) {
      GTEST_LOG_(INFO) << "skipping " << IsaName(isa) << ": not on this CPU";
      continue;
    }
    for (int dim : {1, 5, 16, 33, 384, 768, 1000}) {
      for (int docs : {0, 1, 4, 7, 50}) {
        const std::vector<float> q = Normal(dim, rng);
        const std::vector<float> d = Normal(int64_t{docs} * dim, rng);
        std::vector<float> want(docs), got(docs);
        DenseInnerProduct(q.data(), d.data(), docs, dim, want.data(),
                          Isa::kScalar);
        DenseInnerProduct(q.data(), d.data(), docs, dim, got.data(), isa);
        // memcmp must not see the null data() of an empty vector.
        ASSERT_TRUE(docs == 0 ||
                    std::memcmp(want.data(), got.data(), docs * sizeof(float)) == 0)
            << IsaName(isa) << " dim " << dim << " docs " << docs;
        for (int j = 0; j < docs; ++j) {
          double ref = 0;
          for (int i = 0; i < dim; ++i) ref += double{q[i]} * d[j * dim + i];
          ASSERT_NEAR(want[j], ref, 1e-4 * (1 + std::sqrt(static_cast<double>(dim))));
        }
      }
    }
  }
}

TEST(DenseTopK, EqualsBruteForce) {
  std::mt19937 rng(4);
  const int dim = 96, docs = 3000;
  const std::vector<float> d = Normal(int64_t{docs} * dim, rng);
  for (int trial = 0; trial < 5; ++trial) {
    const std::vector<float> q = Normal(dim, rng);
    std::vector<double> ref(docs);
    for (int j = 0; j < docs; ++j) {
      double s = 0;
      for (int i = 0; i < dim; ++i) s += double{q[i]} * d[j * dim + i];
      ref[j] = s;
    }
    std::vector<int32_t> order(docs);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int32_t a, int32_t b) { return ref[a] > ref[b]; });
    const std::vector<ScoredIndex> got = DenseTopK(q.data(), d.data(), docs, dim, 10);
    ASSERT_EQ(got.size(), 10u);
    for (int i = 0; i < 10; ++i) {
      EXPECT_EQ(got[i].index, order[i]) << "rank " << i;
      EXPECT_NEAR(got[i].score, ref[order[i]], 1e-3);
    }
  }
}

}  // namespace
}  // namespace triptych::kernels::memory
