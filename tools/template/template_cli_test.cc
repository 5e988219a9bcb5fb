// Runs build/bin/triptych-template over every line of
// conformance/chat_templates/renderings.jsonl (144 renderings of 18 real chat
// templates made by jinja2) and requires each `expected` byte for byte and an
// error for each `error` line.

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/testing/conformance.h"
#include "nlohmann/json.hpp"

namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

TEST(TemplateCli, ReproducesEveryJinja2Rendering) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  const std::string data = dir + "/chat_templates/renderings.jsonl";
  std::ifstream f(data);
  if (!f) {
    if (triptych::testing::InCi()) FAIL() << data << " missing (required when CI=true)";
    GTEST_SKIP() << data << " missing";
  }
  std::stringstream ss;
  ss << f.rdbuf();
  const std::vector<std::string> inputs = Lines(ss.str());
  ASSERT_EQ(inputs.size(), 144u);
  const std::string cmd = std::string(TRIPTYCH_TEMPLATE_BINARY) + " --template-dir " + dir +
                          "/chat_templates/templates < " + data;
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[65536];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), p)) > 0;) out.append(buf, n);
  ASSERT_EQ(pclose(p), 0);
  const std::vector<std::string> outputs = Lines(out);
  ASSERT_EQ(outputs.size(), inputs.size());
  int rendered = 0, refused = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto in = nlohmann::json::parse(inputs[i]);
    const auto got = nlohmann::json::parse(outputs[i]);
    const std::string what = in["template"].get<std::string>() + " / " + in["case"].get<std::string>();
    if (in.contains("expected")) {
      ASSERT_TRUE(got.contains("rendered")) << what << ": " << got.dump();
      EXPECT_EQ(got["rendered"].get<std::string>(), in["expected"].get<std::string>()) << what;
      ++rendered;
    } else {
      EXPECT_TRUE(got.contains("error")) << what << " must fail (" << in["error"] << ")";
      ++refused;
    }
  }
  EXPECT_GT(rendered, 100);
  EXPECT_GT(refused, 0);
}

TEST(TemplateCli, BadLinesAndMissingTemplatesAreErrors) {
  const std::string cmd = std::string("printf '%s\\n' 'not json' '{\"template\": \"nope.jinja\", \"messages\": []}' | ") +
                          TRIPTYCH_TEMPLATE_BINARY + " --template-dir /nonexistent";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), p)) > 0;) out.append(buf, n);
  ASSERT_EQ(pclose(p), 0);
  const auto lines = Lines(out);
  ASSERT_EQ(lines.size(), 2u);
  for (const auto& l : lines) EXPECT_TRUE(nlohmann::json::parse(l).contains("error")) << l;
}

}  // namespace
