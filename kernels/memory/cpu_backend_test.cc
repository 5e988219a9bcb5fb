// The CPU backend: validation errors for malformed input, results equal to
// the ops it wraps, and backend-kind parsing.

#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/memory/cpu_backend.h"
#include "kernels/memory/memory_ops.h"

namespace triptych::kernels::memory {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<CpuMemoryBackend> Backend() {
  auto b = CpuMemoryBackend::Create();
  EXPECT_TRUE(b.ok()) << b.status();
  return *std::move(b);
}

TEST(CpuMemoryBackend, QuestTopKMatchesOps) {
  auto backend = Backend();
  const int head_dim = 4;
  const std::vector<float> q = {1, -1, 0.5f, 2};
  const std::vector<float> mins = {0, 0, 0, 0, -1, -1, -1, -1, 1, 1, 1, 1};
  const std::vector<float> maxs = {1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 2, 2};
  QuestInput in{q, 1, head_dim, mins, maxs};
  std::vector<float> scores(3);
  ASSERT_TRUE(backend->QuestScores(in, absl::MakeSpan(scores)).ok());
  auto top = backend->QuestTopK(in, 2);
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_EQ(*top, TopK(scores, 2));
  EXPECT_EQ(backend->kind(), MemoryBackendKind::kCpu);
}

TEST(CpuMemoryBackend, RejectsMalformedQuestInput) {
  auto backend = Backend();
  const std::vector<float> q = {1, 2, 3};
  const std::vector<float> s = {1, 2, 3, 4};
  std::vector<float> out(1);
  EXPECT_EQ(backend->QuestScores({q, 1, 4, s, s}, absl::MakeSpan(out)).code(),
            absl::StatusCode::kInvalidArgument);
  const std::vector<float> q4 = {1, 2, 3, 4}, s3 = {1, 2, 3};
  EXPECT_EQ(backend->QuestScores({q4, 1, 4, s, s3}, absl::MakeSpan(out)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(backend->QuestScores({q4, 1, 0, s, s}, absl::MakeSpan(out)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CpuMemoryBackend, RejectsMalformedPostings) {
  auto backend = Backend();
  const std::vector<int32_t> lengths = {3, 4, 5};
  const std::vector<int64_t> offsets = {0, 2};
  const std::vector<uint32_t> tfs = {1, 1};
  std::vector<float> out(3);
  const std::vector<int32_t> out_of_range = {0, 3};
  absl::Status s = backend->Bm25Scores(
      {{offsets, out_of_range, tfs}, lengths, 4.0f, {}}, absl::MakeSpan(out));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("out of range"));
  const std::vector<int32_t> unsorted = {2, 1};
  s = backend->Bm25Scores({{offsets, unsorted, tfs}, lengths, 4.0f, {}},
                          absl::MakeSpan(out));
  EXPECT_THAT(s.message(), HasSubstr("strictly increasing"));
  const std::vector<int32_t> ok = {0, 2};
  EXPECT_EQ(backend->Bm25Scores({{offsets, ok, tfs}, lengths, 0.0f, {}},
                                absl::MakeSpan(out)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(backend->Bm25Scores({{offsets, ok, tfs}, lengths, 4.0f, {}},
                                  absl::MakeSpan(out)).ok());
  EXPECT_GT(out[0], 0.0f);
  EXPECT_EQ(out[1], 0.0f);
}

TEST(CpuMemoryBackend, RejectsWrongDimension) {
  auto backend = Backend();
  const std::vector<float> q = {1, 2, 3};
  const std::vector<float> docs = {1, 2, 3, 4, 5, 6, 7, 8};
  auto r = backend->DenseTopK({q, docs, 4}, 1);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("dimension"));
}

TEST(CpuMemoryBackend, KeySummaryChecksSizes) {
  auto backend = Backend();
  const KvBlockShape shape{1, 1, 4, 2, KeyDtype::kF32};
  std::vector<uint8_t> block(KvBlockBytes(shape));
  std::vector<float> mn(4), mx(4);
  EXPECT_TRUE(backend->BlockKeySummary({shape, block, 2}, absl::MakeSpan(mn),
                                       absl::MakeSpan(mx)).ok());
  EXPECT_EQ(backend->BlockKeySummary({shape, block, 3}, absl::MakeSpan(mn),
                                     absl::MakeSpan(mx)).code(),
            absl::StatusCode::kInvalidArgument);
  block.pop_back();
  EXPECT_EQ(backend->BlockKeySummary({shape, block, 2}, absl::MakeSpan(mn),
                                     absl::MakeSpan(mx)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MemoryBackendKind, ParsesFlagValues) {
  EXPECT_EQ(*ParseMemoryBackendKind("cpu"), MemoryBackendKind::kCpu);
  EXPECT_EQ(*ParseMemoryBackendKind("fpga"), MemoryBackendKind::kFpga);
  EXPECT_EQ(*ParseMemoryBackendKind("hip"), MemoryBackendKind::kHip);
  EXPECT_EQ(ParseMemoryBackendKind("tpu").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MemoryBackendKindName(MemoryBackendKind::kFpga), "fpga");
}

}  // namespace
}  // namespace triptych::kernels::memory
