// Quality of quantized weights against F32 on a random model.
//
// Generates a random Llama model in F32 with triptych-gen-model's library,
// converts it with the quantizer to each weight type, runs the same
// 256-token sequence through every variant (logits at every position) and
// reports, per type, top-1 agreement with F32 and the mean cosine similarity
// of the logit vectors. Prints a Markdown table.
//
//   quant_quality [--dim 512 --layers 4 --ffn 1536 --vocab 2048 --positions 256]

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "common/thread_pool.h"
#include "kernels/ggml_type.h"
#include "runtime/gguf/gguf_reader.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/model/model.h"
#include "tools/gen_model/gen_model.h"
#include "tools/quantize/quantize.h"

using namespace triptych;

namespace {

absl::StatusOr<std::vector<float>> AllLogits(const std::string& path,
                                             const std::vector<int32_t>& tokens,
                                             int threads) {
  auto file = gguf::GgufFile::Open(path);
  if (!file.ok()) return file.status();
  auto model = model::Model::Load(**file);
  if (!model.ok()) return model.status();
  const int64_t blocks = static_cast<int64_t>(tokens.size()) / 16 + 2;
  auto cache = kv::KvCache::Create((*model)->KvOptions(blocks, 16, kv::KvDtype::kF32));
  if (!cache.ok()) return cache.status();
  kv::SequenceKv seq(cache->get());
  if (auto st = seq.Reserve(static_cast<int64_t>(tokens.size())); !st.ok()) return st;
  ThreadPool pool(threads);
  model::SequenceBatch b;
  b.tokens = tokens;
  b.kv = &seq;
  b.all_logits = true;
  return (*model)->Forward({&b, 1}, cache->get(), &pool);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Quantized vs F32 logits on a random model"};
  tools::GenModelOptions gen;
  gen.dim = 512;
  gen.layers = 4;
  gen.heads = 8;
  gen.kv_heads = 4;
  gen.ffn = 1536;
  gen.vocab = 2048;
  gen.ctx = 1024;
  gen.seed = 42;
  int positions = 256, threads = 2;
  std::string dir = "/tmp";
  app.add_option("--dim", gen.dim);
  app.add_option("--layers", gen.layers);
  app.add_option("--ffn", gen.ffn);
  app.add_option("--vocab", gen.vocab);
  app.add_option("--weight-std", gen.weight_std);
  app.add_option("--positions", positions);
  app.add_option("--threads", threads);
  app.add_option("--dir", dir, "Where the model files are written");
  CLI11_PARSE(app, argc, argv);

  gen.out = dir + "/quant_quality-F32.gguf";
  gen.type = kernels::GgmlType::kF32;
  if (auto st = tools::WriteRandomLlama(gen); !st.ok()) {
    std::fprintf(stderr, "%s\n", std::string(st.message()).c_str());
    return 1;
  }
  std::mt19937 rng(7);
  std::vector<int32_t> tokens(positions);
  for (auto& t : tokens) t = 3 + static_cast<int32_t>(rng() % (gen.vocab - 3));
  auto reference = AllLogits(gen.out, tokens, threads);
  if (!reference.ok()) {
    std::fprintf(stderr, "%s\n", std::string(reference.status().message()).c_str());
    return 1;
  }
  std::printf("| type | top-1 agreement | mean logit cosine | min logit cosine |\n");
  std::printf("|---|---|---|---|\n");
  for (auto type : {kernels::GgmlType::kF16, kernels::GgmlType::kBF16,
                    kernels::GgmlType::kQ8_0, kernels::GgmlType::kQ6_K,
                    kernels::GgmlType::kQ4_K, kernels::GgmlType::kQ4_0}) {
    tools::QuantizeOptions q;
    q.in = gen.out;
    q.out = dir + "/quant_quality-" + std::string(kernels::TypeName(type)) + ".gguf";
    q.type = type;
    if (auto conv = tools::QuantizeGguf(q); !conv.ok()) {
      std::fprintf(stderr, "%s\n", std::string(conv.status().message()).c_str());
      return 1;
    }
    auto logits = AllLogits(q.out, tokens, threads);
    if (!logits.ok()) return 1;
    int agree = 0;
    double cos_sum = 0, cos_min = 1;
    const int64_t v = gen.vocab;
    for (int p = 0; p < positions; ++p) {
      const float* a = reference->data() + p * v;
      const float* b = logits->data() + p * v;
      int64_t ia = 0, ib = 0;
      double dot = 0, na = 0, nb = 0;
      for (int64_t i = 0; i < v; ++i) {
        if (a[i] > a[ia]) ia = i;
        if (b[i] > b[ib]) ib = i;
        dot += static_cast<double>(a[i]) * b[i];
        na += static_cast<double>(a[i]) * a[i];
        nb += static_cast<double>(b[i]) * b[i];
      }
      agree += ia == ib;
      const double c = dot / std::sqrt(na * nb);
      cos_sum += c;
      cos_min = std::min(cos_min, c);
    }
    std::printf("| %s | %.1f%% (%d/%d) | %.6f | %.6f |\n",
                std::string(kernels::TypeName(type)).c_str(), 100.0 * agree / positions,
                agree, positions, cos_sum / positions, cos_min);
    std::fflush(stdout);
  }
  return 0;
}
