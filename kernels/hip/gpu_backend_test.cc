// Every GPU op against the CPU reference. Needs a GPU: without one (CI) the
// tests skip and say why; the build is what CI checks.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/hip/gpu_backend.h"
#include "kernels/memory/cpu_backend.h"
#include "kernels/memory/memory_ops.h"

namespace triptych::kernels::hip {
namespace {

using memory::ScoredIndex;

class GpuBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto gpu = GpuBackend::Create({});
    if (!gpu.ok()) {
      // hip-cpu always has its device (the host): fail, never skip.
      if (std::string(GpuBackend::RuntimeName()) == "hip-cpu") {
        FAIL() << gpu.status();
      }
      GTEST_SKIP() << "no GPU for the " << GpuBackend::RuntimeName()
                   << " build: " << gpu.status().message();
    }
    gpu_ = *std::move(gpu);
    cpu_ = *memory::CpuMemoryBackend::Create(memory::Isa::kScalar);
  }
  std::unique_ptr<GpuBackend> gpu_;
  std::unique_ptr<memory::CpuMemoryBackend> cpu_;
};

std::vector<float> Normal(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> dist;
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// The kernels follow the reference's operation order, so they should match
// bit for bit; the tolerance only keeps a device-specific rounding detail
// from failing the suite (exact mismatches are counted in the log).
void ExpectClose(const std::vector<float>& want, const std::vector<float>& got) {
  ASSERT_EQ(want.size(), got.size());
  int inexact = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::memcmp(&want[i], &got[i], 4) != 0) ++inexact;
    ASSERT_NEAR(got[i], want[i], 1e-5 * std::max(1.0f, std::fabs(want[i])))
        << "[" << i << "]";
  }
  GTEST_LOG_(INFO) << inexact << " of " << want.size()
                   << " values differ in the last bits";
}

TEST_F(GpuBackendTest, QuestScoresAndTopK) {
  std::mt19937 rng(1);
  for (int head_dim : {13, 64, 128}) {
    const int heads = 4, blocks = 5000;
    const std::vector<float> q = Normal(heads * head_dim, rng);
    std::vector<float> mn = Normal(int64_t{blocks} * head_dim, rng), mx = mn;
    for (float& x : mx) x += std::fabs(x) + 0.1f;
    const memory::QuestInput in{q, heads, head_dim, mn, mx};
    std::vector<float> want(blocks), got(blocks);
    ASSERT_TRUE(cpu_->QuestScores(in, absl::MakeSpan(want)).ok());
    ASSERT_TRUE(gpu_->QuestScores(in, absl::MakeSpan(got)).ok());
    ExpectClose(want, got);
    for (int k : {1, 32, 1024, 2000}) {
      auto top = gpu_->QuestTopK(in, k);
      ASSERT_TRUE(top.ok()) << top.status();
      // Indices ranked on the GPU's own scores equal the CPU top-k of them.
      EXPECT_EQ(*top, memory::TopK(got, k)) << "k " << k;
    }
  }
}

TEST_F(GpuBackendTest, DenseTopK) {
  std::mt19937 rng(2);
  const int dim = 384, docs = 4000;
  const std::vector<float> q = Normal(dim, rng), d = Normal(int64_t{docs} * dim, rng);
  auto want = cpu_->DenseTopK({q, d, dim}, 50);
  auto got = gpu_->DenseTopK({q, d, dim}, 50);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(want->size(), got->size());
  for (size_t i = 0; i < got->size(); ++i) {
    EXPECT_EQ((*got)[i].index, (*want)[i].index);
    EXPECT_NEAR((*got)[i].score, (*want)[i].score, 1e-4);
  }
}

TEST_F(GpuBackendTest, Bm25ScoresAndTopK) {
  std::mt19937 rng(3);
  const int num_docs = 20000;
  std::vector<int32_t> lengths(num_docs);
  std::map<int, std::vector<std::pair<int32_t, uint32_t>>> index;
  double total = 0;
  for (int d = 0; d < num_docs; ++d) {
    lengths[d] = std::uniform_int_distribution<int>(1, 80)(rng);
    total += lengths[d];
    std::map<int, uint32_t> tf;
    for (int i = 0; i < lengths[d]; ++i) {
      ++tf[std::uniform_int_distribution<int>(0, 200)(rng) % (1 + i % 50)];
    }
    for (auto [t, f] : tf) index[t].push_back({d, f});
  }
  std::vector<int64_t> offsets{0};
  std::vector<int32_t> docs;
  std::vector<uint32_t> tfs;
  for (int t : {0, 3, 17, 42}) {
    for (auto [d, f] : index[t]) {
      docs.push_back(d);
      tfs.push_back(f);
    }
    offsets.push_back(static_cast<int64_t>(docs.size()));
  }
  const memory::Bm25Input in{{offsets, docs, tfs}, lengths,
                             static_cast<float>(total / num_docs), {}};
  std::vector<float> want(num_docs), got(num_docs);
  ASSERT_TRUE(cpu_->Bm25Scores(in, absl::MakeSpan(want)).ok());
  ASSERT_TRUE(gpu_->Bm25Scores(in, absl::MakeSpan(got)).ok());
  ExpectClose(want, got);
  auto top = gpu_->Bm25TopK(in, 100);
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_EQ(*top, memory::TopK(got, 100));
}

#if !defined(TRIPTYCH_TEST_HIP_CPU)  // hip-cpu's device is always there
TEST(GpuBackend, CreateFailsClearlyWithoutDevice) {
  std::string why;
  if (GpuBackend::DeviceCount(&why) > 0) {
    GTEST_SKIP() << "a GPU is present; this test needs none";
  }
  auto r = GpuBackend::Create({});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  GTEST_LOG_(INFO) << r.status().message();
}
#endif

}  // namespace
}  // namespace triptych::kernels::hip
