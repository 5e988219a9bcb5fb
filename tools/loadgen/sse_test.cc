#include "tools/loadgen/sse.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace triptych::loadgen {
namespace {

std::vector<SseEvent> FeedAll(const std::string& text, size_t piece) {
  SseParser p;
  std::vector<SseEvent> events;
  for (size_t i = 0; i < text.size(); i += piece) {
    EXPECT_TRUE(p.Feed(text.substr(i, piece), &events).ok());
  }
  p.Finish(&events);
  return events;
}

TEST(SseParser, EventsSurviveAnySplit) {
  const std::string text =
      ": comment\r\n"
      "data: {\"a\":1}\r\n\r\n"
      "event: error\ndata: line1\ndata: line2\n\n"
      "id: 5\nretry: 10\ndata:nospace\r\r"
      "data: [DONE]\n\n";
  for (size_t piece : {1, 2, 3, 7, 1000}) {
    auto ev = FeedAll(text, piece);
    ASSERT_EQ(ev.size(), 4u) << "piece " << piece;
    EXPECT_EQ(ev[0].data, "{\"a\":1}");
    EXPECT_EQ(ev[1].event, "error");
    EXPECT_EQ(ev[1].data, "line1\nline2");
    EXPECT_EQ(ev[2].data, "nospace");
    EXPECT_EQ(ev[3].data, "[DONE]");
  }
}

TEST(SseParser, FinishDispatchesUnterminatedEvent) {
  auto ev = FeedAll("data: last", 4);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, "last");
  EXPECT_TRUE(FeedAll("garbage without colon\n\n", 5).empty());
}

TEST(SseParser, OverlongLineIsAnError) {
  SseParser p(16);
  std::vector<SseEvent> ev;
  EXPECT_FALSE(p.Feed(std::string(100, 'x'), &ev).ok());
}

}  // namespace
}  // namespace triptych::loadgen
