#include "services/prefill/prefill_job.h"

#include "gtest/gtest.h"

namespace triptych::prefill {
namespace {

JobLimits Limits() {
  JobLimits l;
  l.geometry = KvGeometry{2, 2, 8, 16, "f16"};
  l.context_length = 64;
  l.vocab_size = 100;
  l.block_bytes = 4096;
  return l;
}

PrefillJob Job(int tokens) {
  PrefillJob job;
  job.request_id = "r";
  for (int i = 0; i < tokens; ++i) job.tokens.push_back(i);
  job.geometry = Limits().geometry;
  job.target.block_bytes = 4096;
  for (int b = 0; b < (tokens + 15) / 16; ++b) job.target.block_ids.push_back(b);
  return job;
}

TEST(ValidateJob, AcceptsWellFormedJob) {
  EXPECT_TRUE(ValidateJob(Job(1), Limits()).ok());
  PrefillJob job = Job(40);
  job.skip_tokens = 32;
  EXPECT_TRUE(ValidateJob(job, Limits()).ok());
}

TEST(ValidateJob, RejectsEachBadField) {
  const auto code = [](const PrefillJob& job) { return ValidateJob(job, Limits()).code(); };
  using absl::StatusCode;
  PrefillJob job = Job(20);
  job.geometry.dtype = "f32";
  EXPECT_EQ(code(job), StatusCode::kFailedPrecondition);
  EXPECT_EQ(code(Job(0)), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Job(64)), StatusCode::kInvalidArgument);  // context length
  job = Job(20);
  job.tokens[3] = 100;
  EXPECT_EQ(code(job), StatusCode::kInvalidArgument);
  job.tokens[3] = -1;
  EXPECT_EQ(code(job), StatusCode::kInvalidArgument);
  job = Job(20);
  job.target.block_ids.pop_back();
  EXPECT_EQ(code(job), StatusCode::kInvalidArgument);
  for (int64_t skip : {-16, 8, 32}) {
    job = Job(20);
    job.skip_tokens = skip;
    EXPECT_EQ(code(job), StatusCode::kInvalidArgument) << skip;
  }
  job = Job(20);
  job.target.block_bytes = 2048;
  EXPECT_EQ(code(job), StatusCode::kFailedPrecondition);
  job = Job(20);
  job.target.block_ids[1] = -5;
  EXPECT_EQ(code(job), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace triptych::prefill
