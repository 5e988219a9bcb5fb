// Writes the seed corpus of jinja_fuzzer (docs/FUZZING.md): for every line of
// a renderings.jsonl (../shared/conformance/chat_templates), the template's
// source, a NUL byte and that line's chat variables, in the fuzzer's input
// format.
//
// Usage: jinja_fuzz_seeds OUT_DIR TEMPLATE_DIR RENDERINGS_JSONL

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "nlohmann/json.hpp"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s OUT_DIR TEMPLATE_DIR RENDERINGS_JSONL\n", argv[0]);
    return 2;
  }
  const std::string out_dir = argv[1], template_dir = argv[2];
  std::ifstream lines(argv[3]);
  if (!lines) {
    std::fprintf(stderr, "cannot read %s\n", argv[3]);
    return 1;
  }
  int n = 0;
  std::string line;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::ordered_json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("template")) continue;
    std::ifstream in(template_dir + "/" + j["template"].get<std::string>(), std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "missing template %s\n", j["template"].get<std::string>().c_str());
      return 1;
    }
    std::stringstream source;
    source << in.rdbuf();
    nlohmann::ordered_json chat = nlohmann::ordered_json::object();
    for (const char* key : {"messages", "tools", "add_generation_prompt", "bos_token", "eos_token"}) {
      if (j.contains(key)) chat[key] = j[key];
    }
    std::ofstream(out_dir + "/seed_" + std::to_string(n++), std::ios::binary)
        << source.str() << '\0' << chat.dump();
  }
  std::printf("%d seeds\n", n);
  return n > 0 ? 0 : 1;
}
