#include "runtime/sampling/sampling_params.h"

#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace triptych::sampling {
namespace {

using ::testing::HasSubstr;

void ExpectInvalid(const SamplingParams& params, const std::string& field) {
  const absl::Status status = Validate(params);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << field;
  EXPECT_THAT(std::string(status.message()), HasSubstr(field));
}

TEST(SamplingParams, DefaultsAreValid) {
  EXPECT_TRUE(Validate(SamplingParams{}).ok());
}

TEST(SamplingParams, BoundariesAreValid) {
  SamplingParams p;
  p.temperature = 0;
  p.top_p = 1;
  p.min_p = 1;
  p.presence_penalty = -2;
  p.frequency_penalty = 2;
  p.logprobs = true;
  p.top_logprobs = 20;
  EXPECT_TRUE(Validate(p).ok());
  p.temperature = 2;
  p.top_p = 1e-6f;
  EXPECT_TRUE(Validate(p).ok());
}

TEST(SamplingParams, RejectsOutOfRangeValues) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto with = [](auto mutate) {
    SamplingParams p;
    mutate(p);
    return p;
  };
  ExpectInvalid(with([](auto& p) { p.temperature = -0.1f; }), "temperature");
  ExpectInvalid(with([](auto& p) { p.temperature = 2.5f; }), "temperature");
  ExpectInvalid(with([&](auto& p) { p.temperature = nan; }), "temperature");
  ExpectInvalid(with([](auto& p) { p.top_k = -1; }), "top_k");
  ExpectInvalid(with([](auto& p) { p.top_p = 0; }), "top_p");
  ExpectInvalid(with([](auto& p) { p.top_p = 1.01f; }), "top_p");
  ExpectInvalid(with([](auto& p) { p.min_p = -0.01f; }), "min_p");
  ExpectInvalid(with([](auto& p) { p.min_p = 1.5f; }), "min_p");
  ExpectInvalid(with([](auto& p) { p.repetition_penalty = 0; }),
                "repetition_penalty");
  ExpectInvalid(with([&](auto& p) { p.repetition_penalty = nan; }),
                "repetition_penalty");
  ExpectInvalid(with([](auto& p) { p.presence_penalty = 2.1f; }),
                "presence_penalty");
  ExpectInvalid(with([](auto& p) { p.frequency_penalty = -2.1f; }),
                "frequency_penalty");
  ExpectInvalid(with([](auto& p) { p.penalty_window = -1; }), "penalty_window");
  ExpectInvalid(with([](auto& p) {
                  p.logprobs = true;
                  p.top_logprobs = 21;
                }),
                "top_logprobs");
  ExpectInvalid(with([](auto& p) { p.top_logprobs = 3; }), "logprobs");
}

}  // namespace
}  // namespace triptych::sampling
