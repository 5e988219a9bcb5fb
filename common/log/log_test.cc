#include "common/log/log.h"

#include <cstdio>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace triptych::log {
namespace {

TEST(Log, WritesOneJsonObjectPerLine) {
  ::testing::internal::CaptureStderr();
  Info("decode", "request finished",
       {{"request_id", std::string("cmpl-1")}, {"tokens", int64_t{48}}, {"ok", true}});
  Warn("scheduler", "bad \xff utf8", {{"ms", 1.5}});
  const std::string out = ::testing::internal::GetCapturedStderr();
  const size_t nl = out.find('\n');
  ASSERT_NE(nl, std::string::npos);
  auto first = nlohmann::json::parse(out.substr(0, nl));
  EXPECT_EQ(first["component"], "decode");
  EXPECT_EQ(first["request_id"], "cmpl-1");
  EXPECT_EQ(first["tokens"], 48);
  EXPECT_EQ(first["level"], "info");
  auto second = nlohmann::json::parse(out.substr(nl + 1));
  EXPECT_EQ(second["level"], "warn");
  EXPECT_EQ(second["ms"], 1.5);
}

}  // namespace
}  // namespace triptych::log
