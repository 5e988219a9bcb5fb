#include "runtime/sampling/penalties.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace triptych::sampling {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatEq;

TEST(ApplyPenalties, NoPenaltiesLeaveLogitsUnchanged) {
  std::vector<float> logits = {2, -2, 1, 0.5f};
  ApplyPenalties(SamplingParams{}, absl::MakeSpan(logits), {0, 1, 0});
  EXPECT_THAT(logits, ElementsAre(2, -2, 1, 0.5f));
}

TEST(ApplyPenalties, RepetitionDividesPositiveAndMultipliesNegative) {
  SamplingParams p;
  p.repetition_penalty = 2;
  std::vector<float> logits = {2, -2, 1, 0.5f, 0};
  ApplyPenalties(p, absl::MakeSpan(logits), {0, 1, 0, 4});
  // Applied once per distinct token, whatever the count; 0 stays 0.
  EXPECT_THAT(logits, ElementsAre(1, -4, 1, 0.5f, 0));
}

TEST(ApplyPenalties, PresenceAndFrequencyFollowOpenAi) {
  SamplingParams p;
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  std::vector<float> logits = {2, -2, 1, 0.5f};
  ApplyPenalties(p, absl::MakeSpan(logits), {0, 1, 0, 2, 0});
  EXPECT_THAT(logits,
              ElementsAre(FloatEq(2 - 0.75f - 0.5f), FloatEq(-2 - 0.25f - 0.5f),
                          FloatEq(1 - 0.25f - 0.5f), 0.5f));
}

TEST(ApplyPenalties, AllThreeCombineInOrder) {
  SamplingParams p;
  p.repetition_penalty = 2;
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  std::vector<float> logits = {2, -2, 1, 0.5f};
  ApplyPenalties(p, absl::MakeSpan(logits), {0, 1, 0, 2});
  EXPECT_THAT(logits, ElementsAre(FloatEq(0.0f), FloatEq(-4.75f),
                                  FloatEq(-0.25f), 0.5f));
}

TEST(ApplyPenalties, NegativePenaltiesEncourage) {
  SamplingParams p;
  p.presence_penalty = -1;
  p.frequency_penalty = -0.5f;
  std::vector<float> logits = {0, 0};
  ApplyPenalties(p, absl::MakeSpan(logits), {1, 1});
  EXPECT_THAT(logits, ElementsAre(0, FloatEq(2.0f)));
}

TEST(ApplyPenalties, WindowCountsOnlyRecentTokens) {
  SamplingParams p;
  p.frequency_penalty = 1;
  p.penalty_window = 2;
  std::vector<float> logits = {0, 0, 0};
  ApplyPenalties(p, absl::MakeSpan(logits), {0, 0, 1, 0, 2});
  EXPECT_THAT(logits, ElementsAre(-1, 0, -1));
}

TEST(ApplyPenalties, IgnoresOutOfRangeTokens) {
  SamplingParams p;
  p.presence_penalty = 1;
  std::vector<float> logits = {0, 0};
  ApplyPenalties(p, absl::MakeSpan(logits), {-1, 2, 100, 1});
  EXPECT_THAT(logits, ElementsAre(0, -1));
}

}  // namespace
}  // namespace triptych::sampling
