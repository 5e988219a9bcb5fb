#include "runtime/sampling/stop_matcher.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace triptych::sampling {
namespace {

// Feeds `pieces` and returns everything emitted (including Flush()).
std::string Stream(StopMatcher& m, const std::vector<std::string>& pieces) {
  std::string out;
  for (const std::string& piece : pieces) out += m.Consume(piece).text;
  return out + m.Flush();
}

TEST(StopMatcher, NoStopsPassesTextThrough) {
  StopMatcher m({});
  EXPECT_EQ(m.Consume("hello").text, "hello");
  EXPECT_EQ(m.Consume(" world").text, " world");
  EXPECT_EQ(m.Flush(), "");
  EXPECT_FALSE(m.stopped());
}

TEST(StopMatcher, MatchInsideOnePiece) {
  StopMatcher m({"STOP"});
  const StopMatcher::Result r = m.Consume("Hello STOP world");
  EXPECT_EQ(r.text, "Hello ");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.stop_index, 0);
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.Consume("more").text, "");
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopMatcher, StopSpanningSeveralPieces) {
  StopMatcher m({"</end>"});
  StopMatcher::Result r = m.Consume("abc</");
  EXPECT_EQ(r.text, "abc");
  EXPECT_EQ(m.held(), "</");
  r = m.Consume("en");
  EXPECT_EQ(r.text, "");
  EXPECT_FALSE(r.stopped);
  r = m.Consume("d>tail");
  EXPECT_EQ(r.text, "");
  EXPECT_TRUE(r.stopped);
}

TEST(StopMatcher, PartialMatchThatFailsReleasesText) {
  StopMatcher m({"STOP"});
  EXPECT_EQ(m.Consume("aST").text, "a");
  EXPECT_EQ(m.Consume("O").text, "");
  const StopMatcher::Result r = m.Consume("Xyz");
  EXPECT_EQ(r.text, "STOXyz");
  EXPECT_FALSE(r.stopped);
}

TEST(StopMatcher, FailedPartialCanStartAnotherPartial) {
  // "aa" then "a": the held "aa" must shift to the new candidate "aa".
  StopMatcher m({"aab"});
  EXPECT_EQ(m.Consume("aa").text, "");
  EXPECT_EQ(m.Consume("a").text, "a");
  const StopMatcher::Result r = m.Consume("b!");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "");
}

TEST(StopMatcher, MultipleStopsEarliestWins) {
  StopMatcher m({"world", "lo w"});
  const StopMatcher::Result r = m.Consume("hello world");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.stop_index, 1);
  EXPECT_EQ(r.text, "hel");
}

TEST(StopMatcher, MultipleStopsHoldLongestPossiblePrefix) {
  StopMatcher m({"\n\nUser:", "###"});
  EXPECT_EQ(m.Consume("answer\n").text, "answer");
  EXPECT_EQ(m.Consume("\nUs").text, "");
  EXPECT_EQ(m.held(), "\n\nUs");
  EXPECT_EQ(m.Consume("ually #").text, "\n\nUsually ");
  const StopMatcher::Result r = m.Consume("##");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.stop_index, 1);
  EXPECT_EQ(r.text, "");
}

TEST(StopMatcher, FlushReturnsHeldText) {
  StopMatcher m({"<|im_end|>"});
  EXPECT_EQ(m.Consume("done<|im").text, "done");
  EXPECT_EQ(m.Flush(), "<|im");
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopMatcher, EmptyStopStringsAreIgnored) {
  StopMatcher m({"", "x"});
  EXPECT_EQ(Stream(m, {"ab", "cxd"}), "abc");
}

TEST(StopMatcher, MultiByteUtf8Stop) {
  StopMatcher m({"。\n"});
  EXPECT_EQ(m.Consume("你好。").text, "你好");
  const StopMatcher::Result r = m.Consume("\n再见");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "");
}

// Every split of the text into pieces gives the same output as a one-shot
// search.
TEST(StopMatcher, AnySplitMatchesReference) {
  const std::vector<std::string> stops = {"abab", "bc", "cab"};
  uint64_t state = 12345;
  auto next = [&state](int n) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<int>((state >> 33) % n);
  };
  for (int trial = 0; trial < 500; ++trial) {
    std::string text;
    const int len = 1 + next(20);
    for (int i = 0; i < len; ++i) text.push_back("abc"[next(3)]);
    size_t first = std::string::npos;
    for (const std::string& s : stops) first = std::min(first, text.find(s));
    const std::string expected =
        first == std::string::npos ? text : text.substr(0, first);

    std::vector<std::string> pieces;
    for (size_t pos = 0; pos < text.size();) {
      const size_t n = 1 + next(4);
      pieces.push_back(text.substr(pos, n));
      pos += n;
    }
    StopMatcher m(stops);
    EXPECT_EQ(Stream(m, pieces), expected) << text;
    EXPECT_EQ(m.stopped(), first != std::string::npos) << text;
  }
}

}  // namespace
}  // namespace triptych::sampling
