// triptych-template: renders chat templates from JSON lines (the format of
// conformance/chat_templates/renderings.jsonl). Each stdin line carries
// `template` (a file under --template-dir), `messages`, optional `tools`,
// `add_generation_prompt`, `bos_token`, `eos_token`; each output line is
// {"rendered": "..."} or {"error": "..."}. strftime_now() reads the
// conformance clock, 2024-07-26 12:00:00 UTC, unless --now is given.

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "CLI/CLI.hpp"
#include "nlohmann/json.hpp"
#include "runtime/jinja/chat_context.h"
#include "runtime/jinja/template.h"

int main(int argc, char** argv) {
  CLI::App app{"Render chat templates (JSON lines in, JSON lines out)"};
  std::string dir = ".";
  int64_t now = 1721995200;  // 2024-07-26 12:00:00 UTC
  app.add_option("--template-dir", dir, "directory the `template` paths are relative to");
  app.add_option("--now", now, "clock for strftime_now(), seconds since the epoch");
  CLI11_PARSE(app, argc, argv);

  triptych::jinja::RenderOptions options;
  options.now = static_cast<std::time_t>(now);
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    nlohmann::ordered_json out;
    auto j = nlohmann::ordered_json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("template") || !j["template"].is_string()) {
      out["error"] = "input line is not a JSON object with a string `template`";
      std::cout << out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
      continue;
    }
    const std::string path = dir + "/" + j["template"].get<std::string>();
    std::ifstream f(path, std::ios::binary);
    if (!f) {
      out["error"] = "cannot read template " + path;
    } else {
      std::stringstream ss;
      ss << f.rdbuf();
      auto tmpl = triptych::jinja::Template::Parse(ss.str());
      if (!tmpl.ok()) {
        out["error"] = std::string(tmpl.status().message());
      } else {
        auto rendered = (*tmpl)->Render(triptych::jinja::ChatContextFromJson(j), options);
        if (rendered.ok()) out["rendered"] = *rendered;
        else out["error"] = std::string(rendered.status().message());
      }
    }
    std::cout << out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
  }
  return 0;
}
