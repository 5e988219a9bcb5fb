// triptych-gen-model: writes a GGUF Llama model with random weights.
//
//   triptych-gen-model --out m.gguf --dim 256 --layers 2 --type Q8_0
//   triptych-gen-model --out tiny.gguf --preset tinyllama-1.1b --type Q4_K

#include <fstream>
#include <iterator>
#include <chrono>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "kernels/ggml_type.h"
#include "tools/gen_model/gen_model.h"

namespace {

int Run(int argc, char** argv) {
  CLI::App app{"Write a GGUF Llama model with random weights"};
  triptych::tools::GenModelOptions o;
  std::string out, preset, type_name = "F32", vocab_from;
  int64_t dim = 0, layers = 0, heads = 0, kv_heads = 0, ffn = 0, vocab = 0,
          ctx = 0;
  uint64_t seed = 1;
  float rope_theta = 10000.0f;
  int threads = 0;
  app.add_option("--out", out, "Output GGUF path")->required();
  auto* o_dim = app.add_option("--dim", dim, "Embedding width (default 256)");
  auto* o_layers = app.add_option("--layers", layers, "Blocks (default 2)");
  auto* o_heads =
      app.add_option("--heads", heads, "Attention heads (default 4)");
  auto* o_kv = app.add_option("--kv-heads", kv_heads, "KV heads (default 2)");
  auto* o_ffn = app.add_option("--ffn", ffn, "FFN width (default 768)");
  auto* o_vocab = app.add_option("--vocab", vocab,
                                 "Synthetic vocab size (default 512, >= 260)");
  auto* o_ctx = app.add_option("--ctx", ctx, "Context length (default 2048)");
  app.add_option("--type", type_name,
                 "2-D weight type: F32 F16 BF16 Q8_0 Q4_0 Q4_K Q6_K");
  app.add_option("--seed", seed, "PRNG seed");
  app.add_option("--rope-theta", rope_theta, "RoPE base frequency");
  app.add_option("--preset", preset, "Shape preset: tinyllama-1.1b");
  app.add_option("--vocab-from", vocab_from,
                 "Copy tokenizer.* metadata from this GGUF");
  std::string chat_template_file;
  app.add_option("--chat-template", chat_template_file,
                 "Write this Jinja file as tokenizer.chat_template");
  app.add_option("--threads", threads, "Threads (0 = all)");
  bool exact_quant = false;
  app.add_flag("--exact-quant", exact_quant,
               "Quantize every row of K-type tensors (slow) instead of "
               "drawing blocks from a quantized bank");
  CLI11_PARSE(app, argc, argv);

  if (!preset.empty()) {
    auto p = triptych::tools::PresetOptions(preset);
    if (!p.ok()) {
      std::cerr << "error: " << p.status().message() << "\n";
      return 2;
    }
    o = *p;
  }
  // Explicit flags override the preset.
  if (o_dim->count()) o.dim = dim;
  if (o_layers->count()) o.layers = layers;
  if (o_heads->count()) o.heads = heads;
  if (o_kv->count()) o.kv_heads = kv_heads;
  if (o_ffn->count()) o.ffn = ffn;
  if (o_vocab->count()) o.vocab = vocab;
  if (o_ctx->count()) o.ctx = ctx;
  auto type = triptych::kernels::ParseTypeName(type_name);
  if (!type.has_value()) {
    std::cerr << "error: unknown --type " << type_name << "\n";
    return 2;
  }
  o.type = *type;
  o.out = out;
  o.seed = seed;
  o.rope_theta = rope_theta;
  o.vocab_from = vocab_from;
  if (!chat_template_file.empty()) {
    std::ifstream f(chat_template_file, std::ios::binary);
    if (!f) {
      std::fprintf(stderr, "error: cannot read %s\n", chat_template_file.c_str());
      return 1;
    }
    o.chat_template.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  o.num_threads = threads;
  o.fast_k_quant = !exact_quant;

  const auto t0 = std::chrono::steady_clock::now();
  absl::Status s = triptych::tools::WriteRandomLlama(o);
  if (!s.ok()) {
    std::cerr << "error: " << s.message() << "\n";
    return 1;
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  std::cerr << "wrote " << out << " in " << secs << " s\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
