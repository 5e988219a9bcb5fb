#include "tools/loadgen/dataset.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tools/loadgen/stats.h"

namespace triptych::loadgen {
namespace {

std::unique_ptr<PromptSynthesizer> Synth() {
  auto s = PromptSynthesizer::Create();
  EXPECT_TRUE(s.ok());
  return std::move(*s);
}

std::vector<std::string> Words(const std::string& text) {
  return absl::StrSplit(text, ' ', absl::SkipEmpty());
}

TEST(PromptSynthesizer, WordCountIsTokenCountAndPrefixStable) {
  auto synth = Synth();
  const std::string a = synth->Text(100, 42);
  EXPECT_EQ(Words(a).size(), 100u);
  EXPECT_EQ(synth->CountTokens(a), 100);
  const std::string b = synth->Text(30, 42);
  EXPECT_EQ(a.substr(0, b.size()), b);
  EXPECT_NE(synth->Text(100, 43), a);
  EXPECT_EQ(synth->Text(0, 1), "");
}

TEST(PromptSynthesizer, TokenCounterFiltersWords) {
  // A "tokenizer" for which words longer than 3 letters are 2 tokens.
  auto counter = [](std::string_view text) {
    int64_t n = 0;
    for (absl::string_view w :
         absl::StrSplit(absl::string_view(text.data(), text.size()), ' ')) {
      n += w.size() > 3 ? 2 : 1;
    }
    return n;
  };
  auto synth = PromptSynthesizer::Create(counter);
  ASSERT_TRUE(synth.ok());
  for (const std::string& w : Words((*synth)->Text(200, 1))) {
    EXPECT_LE(w.size(), 3u) << w;
  }
  EXPECT_TRUE((*synth)->has_tokenizer());
  // No word is a single token: refuse rather than mis-size prompts.
  EXPECT_FALSE(PromptSynthesizer::Create([](std::string_view) {
                 return int64_t{7};
               }).ok());
}

TEST(PromptSynthesizer, EstimateTokens) {
  EXPECT_EQ(PromptSynthesizer::EstimateTokens(""), 0);
  EXPECT_EQ(PromptSynthesizer::EstimateTokens("a b c"), 3);
  EXPECT_EQ(PromptSynthesizer::EstimateTokens("Hello, world!"), 4);
  EXPECT_EQ(PromptSynthesizer::EstimateTokens(" tok tok tok tok"), 4);
  EXPECT_EQ(PromptSynthesizer::EstimateTokens("internationalization"), 3);
  EXPECT_EQ(PromptSynthesizer::EstimateTokens("don't stop"), 4);
}

TEST(RandomDataset, FixedUniformNormalLengths) {
  auto synth = Synth();
  RandomOptions o;
  o.input_len = 64;
  o.output_len = 16;
  auto ds = MakeRandomDataset(o, synth.get());
  ASSERT_TRUE(ds.ok());
  for (int i = 0; i < 5; ++i) {
    auto r = (*ds)->Get(i);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(Words(r->messages[0].content).size(), 64u);
    EXPECT_EQ(r->prompt_tokens, 64);
    EXPECT_EQ(r->max_tokens, 16);
  }
  EXPECT_NE((*ds)->Get(0)->messages[0].content,
            (*ds)->Get(1)->messages[0].content);
  EXPECT_EQ((*ds)->Get(3)->messages[0].content,
            (*ds)->Get(3)->messages[0].content);

  o.distribution = LengthDistribution::kUniform;
  o.range_ratio = 0.5;
  ds = MakeRandomDataset(o, synth.get());
  ASSERT_TRUE(ds.ok());
  std::vector<double> lens;
  for (int i = 0; i < 2000; ++i) {
    auto r = (*ds)->Get(i);
    EXPECT_GE(r->prompt_tokens, 32);
    EXPECT_LE(r->prompt_tokens, 96);
    lens.push_back(static_cast<double>(r->prompt_tokens));
  }
  auto [mean, cv] = MeanAndCv(lens);
  EXPECT_NEAR(mean, 64, 2);
  EXPECT_NEAR(cv, 0.5 / std::sqrt(3.0), 0.03);  // U[32, 96]

  o.distribution = LengthDistribution::kNormal;
  o.range_ratio = 0.25;
  ds = MakeRandomDataset(o, synth.get());
  ASSERT_TRUE(ds.ok());
  lens.clear();
  for (int i = 0; i < 2000; ++i) {
    lens.push_back(static_cast<double>((*ds)->Get(i)->prompt_tokens));
  }
  std::tie(mean, cv) = MeanAndCv(lens);
  EXPECT_NEAR(mean, 64, 2);
  EXPECT_NEAR(cv, 0.25, 0.03);

  o.range_ratio = -1;
  EXPECT_FALSE(MakeRandomDataset(o, synth.get()).ok());
  o.range_ratio = 0;
  o.input_len = 0;
  EXPECT_FALSE(MakeRandomDataset(o, synth.get()).ok());
}

TEST(SharedPrefixDataset, GroupsShareTheirPrefix) {
  auto synth = Synth();
  RandomOptions o;
  o.input_len = 10;
  SharedPrefixOptions p;
  p.num_groups = 3;
  p.prefix_len = 50;
  auto ds = MakeSharedPrefixDataset(o, p, synth.get());
  ASSERT_TRUE(ds.ok());
  auto prefix = [&](int i) {
    auto w = Words((*ds)->Get(i)->messages[0].content);
    EXPECT_EQ(w.size(), 60u);
    return std::vector<std::string>(w.begin(), w.begin() + 50);
  };
  EXPECT_EQ(prefix(0), prefix(3));
  EXPECT_EQ(prefix(1), prefix(7));
  EXPECT_NE(prefix(0), prefix(1));
  EXPECT_NE((*ds)->Get(0)->messages[0].content,
            (*ds)->Get(3)->messages[0].content);
  EXPECT_EQ((*ds)->Get(0)->prompt_tokens, 60);
}

TEST(MultiTurnDataset, LaterTurnsExtendTheConversation) {
  auto synth = Synth();
  RandomOptions o;
  o.input_len = 8;
  o.output_len = 4;
  MultiTurnOptions m;
  m.turns = 3;
  m.conversations = 2;
  auto ds = MakeMultiTurnDataset(o, m, synth.get());
  ASSERT_TRUE(ds.ok());
  // Wave 0: indices 0,1 = turn 1 of conversations 0,1; 2,3 = turn 2; ...
  auto t1 = (*ds)->Get(0), t2 = (*ds)->Get(2), t3 = (*ds)->Get(4);
  auto other = (*ds)->Get(1);
  ASSERT_EQ(t1->messages.size(), 1u);
  ASSERT_EQ(t2->messages.size(), 3u);
  ASSERT_EQ(t3->messages.size(), 5u);
  EXPECT_EQ(t2->messages[0].content, t1->messages[0].content);
  EXPECT_EQ(t2->messages[1].role, "assistant");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(t3->messages[i].content, t2->messages[i].content);
  }
  EXPECT_NE(other->messages[0].content, t1->messages[0].content);
  EXPECT_EQ(t1->prompt_tokens, 8);
  EXPECT_EQ(t2->prompt_tokens, 8 + 4 + 8);
  // Index 6 starts the next wave: a new conversation.
  EXPECT_EQ((*ds)->Get(6)->messages.size(), 1u);
}

constexpr const char* kTrace =
    R"({"timestamp": 1000, "input_length": 1200, "output_length": 20, "hash_ids": [1, 2, 3]}
{"timestamp": 1500, "input_length": 1100, "output_length": 5, "hash_ids": [1, 2, 4]}

{"timestamp": 3000, "input_length": 100, "output_length": 7, "hash_ids": [1]}
{"timestamp": 3000.0, "input_length": 30, "output_length": 7}
)";

TEST(TraceDataset, TimestampsAreRelativeToTheFirst) {
  auto synth = Synth();
  TraceOptions o;
  auto ds = ParseTrace(kTrace, o, synth.get());
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ((*ds)->size(), 4);
  EXPECT_TRUE((*ds)->has_timestamps());
  EXPECT_DOUBLE_EQ(*(*ds)->Get(0)->timestamp_s, 0);
  EXPECT_DOUBLE_EQ(*(*ds)->Get(1)->timestamp_s, 0.5);
  EXPECT_DOUBLE_EQ(*(*ds)->Get(2)->timestamp_s, 2.0);
  EXPECT_EQ((*ds)->Get(1)->max_tokens, 5);
  EXPECT_FALSE((*ds)->Get(4).has_value());

  o.speedup = 2;
  ds = ParseTrace(kTrace, o, synth.get());
  ASSERT_TRUE(ds.ok());
  EXPECT_DOUBLE_EQ(*(*ds)->Get(2)->timestamp_s, 1.0);

  o.use_timestamps = false;
  o.output_len = 3;
  ds = ParseTrace(kTrace, o, synth.get());
  ASSERT_TRUE(ds.ok());
  EXPECT_FALSE((*ds)->has_timestamps());
  EXPECT_FALSE((*ds)->Get(0)->timestamp_s.has_value());
  EXPECT_EQ((*ds)->Get(0)->max_tokens, 3);
}

TEST(TraceDataset, EqualHashIdsGiveEqualText) {
  auto synth = Synth();
  auto ds = ParseTrace(kTrace, TraceOptions{}, synth.get());
  ASSERT_TRUE(ds.ok());
  const auto a = Words((*ds)->Get(0)->messages[0].content);
  const auto b = Words((*ds)->Get(1)->messages[0].content);
  const auto c = Words((*ds)->Get(2)->messages[0].content);
  ASSERT_EQ(a.size(), 1200u);
  ASSERT_EQ(b.size(), 1100u);
  ASSERT_EQ(c.size(), 100u);
  // Blocks 1 and 2 (1024 tokens) are shared; block 3 vs 4 differ.
  EXPECT_TRUE(std::equal(a.begin(), a.begin() + 1024, b.begin()));
  EXPECT_FALSE(
      std::equal(a.begin() + 1024, a.begin() + 1100, b.begin() + 1024));
  // A cut block is the start of the full one.
  EXPECT_TRUE(std::equal(c.begin(), c.end(), a.begin()));
  // Different seeds give different text for the same hash ids.
  TraceOptions other;
  other.seed = 9;
  auto ds2 = ParseTrace(kTrace, other, synth.get());
  ASSERT_TRUE(ds2.ok());
  EXPECT_NE((*ds2)->Get(0)->messages[0].content,
            (*ds)->Get(0)->messages[0].content);
}

TEST(TraceDataset, RejectsMalformedLines) {
  auto synth = Synth();
  for (
      const char* bad : {
          "not json",
          R"({"input_length": 1, "output_length": 1})",
          R"({"timestamp": 0, "input_length": -1, "output_length": 1})",
          R"({"timestamp": 0, "input_length": 1.5, "output_length": 1})",
          R"({"timestamp": 0, "input_length": 1, "output_length": 1, "hash_ids": 3})",
          R"({"timestamp": 0, "input_length": 1, "output_length": 1, "hash_ids": ["x"]})",
          "[1, 2]",
          "",
      }) {
    EXPECT_FALSE(ParseTrace(bad, TraceOptions{}, synth.get()).ok()) << bad;
  }
  auto st = ParseTrace(
      std::string(
          R"({"timestamp": 0, "input_length": 1, "output_length": 1})") +
          "\n{oops",
      TraceOptions{}, synth.get());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.status().message().find("line 2"), std::string::npos);
  EXPECT_EQ(LoadTrace("/nonexistent/trace.jsonl", TraceOptions{}, synth.get())
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TEST(ShareGptDataset, FirstHumanTurnIsThePrompt) {
  auto synth = Synth();
  const char* json = R"([
    {"id": "a", "conversations": [
      {"from": "human", "value": "what is the capital of france then"},
      {"from": "gpt", "value": "It is Paris, the capital city of France."}]},
    {"id": "b", "conversations": [{"from": "human", "value": "only one"}]},
    {"id": "c", "conversations": [
      {"from": "gpt", "value": "starts with gpt"},
      {"from": "human", "value": "x"}]},
    {"id": "d", "messages": [
      {"role": "user", "content": "tell me a story about a dragon please"},
      {"role": "assistant", "content": "Once upon a time there was a dragon."}]},
    42
  ])";
  auto ds = ParseShareGpt(json, ShareGptOptions{}, synth.get());
  ASSERT_TRUE(ds.ok()) << ds.status();
  auto r0 = (*ds)->Get(0), r1 = (*ds)->Get(1), r2 = (*ds)->Get(2);
  EXPECT_EQ(r0->messages[0].content, "what is the capital of france then");
  EXPECT_EQ(r0->prompt_tokens, 7);
  EXPECT_EQ(r0->max_tokens, 10);  // 8 words + "," + "."
  EXPECT_EQ(r1->messages[0].content, "tell me a story about a dragon please");
  EXPECT_EQ(r2->messages[0].content, r0->messages[0].content);  // cycles

  ShareGptOptions fixed;
  fixed.output_len = 64;
  ds = ParseShareGpt(json, fixed, synth.get());
  ASSERT_TRUE(ds.ok());
  EXPECT_EQ((*ds)->Get(0)->max_tokens, 64);

  EXPECT_FALSE(ParseShareGpt("{}", ShareGptOptions{}, synth.get()).ok());
  EXPECT_FALSE(ParseShareGpt("[]", ShareGptOptions{}, synth.get()).ok());
  EXPECT_FALSE(ParseShareGpt("[{", ShareGptOptions{}, synth.get()).ok());
}

}  // namespace
}  // namespace triptych::loadgen
