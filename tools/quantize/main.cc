// triptych-quantize IN.gguf OUT.gguf TYPE: converts an F32/F16/BF16 GGUF
// model to TYPE (F32 F16 BF16 Q8_0 Q4_0 Q4_K Q6_K).

#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "kernels/ggml_type.h"
#include "tools/quantize/quantize.h"

namespace {

int Run(int argc, char** argv) {
  CLI::App app{"Convert a float GGUF model to another weight type"};
  triptych::tools::QuantizeOptions o;
  std::string type_name;
  bool verbose = false;
  app.add_option("input", o.in, "Input GGUF (F32, F16 or BF16 weights)")
      ->required();
  app.add_option("output", o.out, "Output GGUF")->required();
  app.add_option("type", type_name, "F32 F16 BF16 Q8_0 Q4_0 Q4_K Q6_K")
      ->required();
  app.add_option("--threads", o.num_threads, "Threads (0 = all)");
  app.add_flag("-v,--verbose", verbose, "List every tensor");
  CLI11_PARSE(app, argc, argv);

  auto type = triptych::kernels::ParseTypeName(type_name);
  if (!type.has_value()) {
    std::cerr << "error: unknown type " << type_name << "\n";
    return 2;
  }
  o.type = *type;
  auto report = triptych::tools::QuantizeGguf(o);
  if (!report.ok()) {
    std::cerr << "error: " << report.status().message() << "\n";
    return 1;
  }
  for (const auto& c : *report) {
    if (verbose || !c.note.empty()) {
      std::cerr << c.name << ": " << triptych::kernels::TypeName(c.from)
                << " -> " << triptych::kernels::TypeName(c.to);
      if (!c.note.empty()) std::cerr << " (note: " << c.note << ")";
      std::cerr << "\n";
    }
  }
  std::cerr << "wrote " << o.out << " (" << report->size() << " tensors)\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
