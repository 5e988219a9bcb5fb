#include "runtime/tokenizer/pre_tokenizer.h"

#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace triptych::tokenizer {
namespace {

using ::testing::ElementsAre;

std::vector<std::string> SplitWith(std::string_view pre,
                                   std::string_view text) {
  auto config = BpePreTokenizerFor(pre);
  EXPECT_TRUE(config.ok()) << config.status();
  auto splitter = PreTokenizer::Create(config->patterns);
  EXPECT_TRUE(splitter.ok()) << splitter.status();
  std::vector<std::string> out;
  for (std::string_view piece : (*splitter)->Split(text))
    out.emplace_back(piece);
  return out;
}

TEST(PreTokenizer, Gpt2KeepsOneSpaceWithTheNextWord) {
  EXPECT_THAT(SplitWith("gpt-2", "Hello   world's 42!!"),
              ElementsAre("Hello", "  ", " world", "'s", " 42", "!!"));
}

TEST(PreTokenizer, Llama3GroupsDigitsByThree) {
  EXPECT_THAT(SplitWith("llama-bpe", "12345 I'M\n\n x"),
              ElementsAre("123", "45", " I", "'M", "\n\n", " x"));
}

TEST(PreTokenizer, Qwen2SplitsSingleDigits) {
  EXPECT_THAT(SplitWith("qwen2", "123 ab"), ElementsAre("1", "2", "3", " ab"));
}

TEST(PreTokenizer, UnmatchedTextBecomesItsOwnPiece) {
  // deepseek-coder has no rule for spaces before digits: the gap survives.
  EXPECT_THAT(SplitWith("deepseek-coder", "a 1"), ElementsAre("a", " ", "1"));
}

TEST(PreTokenizer, NextLineIsWhitespaceAsInLlamaCpp) {
  // U+0085 is not \s to PCRE2 but is whitespace to llama.cpp; as a symbol
  // the two would form one "[^\s\p{L}\p{N}]+" piece.
  EXPECT_THAT(SplitWith("gpt-2",
                        "a\xC2\x85\xC2\x85"
                        "b"),
              ElementsAre("a", "\xC2\x85", "\xC2\x85", "b"));
}

TEST(PreTokenizer, UnknownNameIsAnError) {
  EXPECT_FALSE(BpePreTokenizerFor("no-such-thing").ok());
  EXPECT_TRUE(BpePreTokenizerFor("").ok());
}

TEST(PreTokenizer, BadRegexIsAnError) {
  EXPECT_FALSE(PreTokenizer::Create({"(unclosed"}).ok());
}

}  // namespace
}  // namespace triptych::tokenizer
