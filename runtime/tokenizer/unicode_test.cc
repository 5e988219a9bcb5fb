#include "runtime/tokenizer/unicode.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace triptych::tokenizer {
namespace {

using ::testing::ElementsAre;

TEST(Unicode, LaxDecodeReplacesBadBytesOneAtATime) {
  EXPECT_THAT(DecodeUtf8Lax("a\xFF\xC3\xA9\xE2\x82"),
              ElementsAre('a', kReplacementChar, 0xE9, kReplacementChar,
                          kReplacementChar));
  // Surrogates are replaced so the result re-encodes as valid UTF-8.
  EXPECT_THAT(DecodeUtf8Lax("\xED\xA0\x80"), ElementsAre(kReplacementChar));
  EXPECT_TRUE(IsValidUtf8(NormalizeUtf8Lax("\xED\xA0\x80\xF4\x90\x80\x80")));
}

TEST(Unicode, SanitizeReplacesMaximalSubparts) {
  EXPECT_EQ(SanitizeUtf8("a\xE2\x82"
                         "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(SanitizeUtf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  size_t hold = 0;
  EXPECT_EQ(SanitizeUtf8("ok\xF0\x9F\x98", &hold), "ok");
  EXPECT_EQ(hold, 3u);
  EXPECT_EQ(SanitizeUtf8("ok\xF0\x9F\x98\x81", &hold), "ok\xF0\x9F\x98\x81");
  EXPECT_EQ(hold, 0u);
}

TEST(Unicode, ByteLevelTableRoundTrips) {
  for (int b = 0; b < 256; ++b) {
    const std::string& text = ByteToUnicode(static_cast<uint8_t>(b));
    const std::vector<uint32_t> cps = DecodeUtf8Lax(text);
    ASSERT_EQ(cps.size(), 1u);
    EXPECT_EQ(UnicodeToByte(cps[0]), b);
  }
  EXPECT_EQ(ByteToUnicode(' '), "\xC4\xA0");  // "Ġ"
  EXPECT_EQ(UnicodeToByte(0x2581), std::nullopt);
}

}  // namespace
}  // namespace triptych::tokenizer
