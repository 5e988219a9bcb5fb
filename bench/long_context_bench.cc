// Long-context decode: dense vs Quest sparse attention.
//
// Generates a random Llama model (triptych-gen-model's library; or --model),
// prefills a prompt of random tokens for each context length, copies the
// prompt's KV into a second sequence, then decodes --decode tokens on both,
// teacher-forced on the same tokens (each step feeds the dense run's greedy
// token to both), the first densely and the second with sparse attention.
// Reports per context: prefill time, decode ms/token of each (median over
// steps, runs interleaved so background load hits both alike), and the
// sparse run's logit cosine similarity and top-1 agreement with dense.
//
//   long_context_bench [--contexts 8192,16384 --decode 32 --budget 1024]
//
// Prints one JSON line per context and a Markdown table at the end.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
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

using namespace triptych;

namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

int32_t Argmax(const std::vector<float>& x) {
  return static_cast<int32_t>(std::max_element(x.begin(), x.end()) - x.begin());
}

double Cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += double{a[i]} * b[i];
    aa += double{a[i]} * a[i];
    bb += double{b[i]} * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

struct Result {
  int64_t context = 0;
  double prefill_s = 0, dense_ms = 0, sparse_ms = 0;
  double cos_mean = 0, cos_min = 1, top1 = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Long-context decode: dense vs Quest sparse attention"};
  tools::GenModelOptions gen;
  gen.dim = 768;
  gen.layers = 8;
  gen.heads = 12;
  gen.kv_heads = 4;
  gen.ffn = 2048;
  gen.vocab = 8192;
  gen.ctx = 32768;
  std::string type = "Q8_0", model_path, contexts_arg = "8192,16384";
  int decode = 32, threads = 2, chunk = 512;
  model::SparseAttentionOptions sparse;
  sparse.budget_tokens = 1024;
  app.add_option("--model", model_path, "Existing GGUF (else a random one is generated)");
  app.add_option("--dim", gen.dim);
  app.add_option("--layers", gen.layers);
  app.add_option("--heads", gen.heads);
  app.add_option("--kv-heads", gen.kv_heads);
  app.add_option("--ffn", gen.ffn);
  app.add_option("--vocab", gen.vocab);
  app.add_option("--type", type, "Weight type of the generated model");
  app.add_option("--contexts", contexts_arg, "Prompt lengths, comma-separated");
  app.add_option("--decode", decode, "Decode steps per context");
  app.add_option("--threads", threads);
  app.add_option("--chunk", chunk, "Prefill chunk (tokens per forward)");
  app.add_option("--budget", sparse.budget_tokens);
  app.add_option("--dense-layers", sparse.dense_layers);
  app.add_option("--sink", sparse.sink_blocks);
  app.add_option("--recent", sparse.recent_blocks);
  CLI11_PARSE(app, argc, argv);

  std::vector<int64_t> contexts;
  for (size_t p = 0; p < contexts_arg.size();) {
    size_t e = contexts_arg.find(',', p);
    if (e == std::string::npos) e = contexts_arg.size();
    contexts.push_back(std::stoll(contexts_arg.substr(p, e - p)));
    p = e + 1;
  }
  const int64_t max_ctx = *std::max_element(contexts.begin(), contexts.end());
  if (model_path.empty()) {
    auto t = kernels::ParseTypeName(type);
    if (!t.has_value()) {
      std::fprintf(stderr, "unknown weight type %s\n", type.c_str());
      return 1;
    }
    gen.type = *t;
    gen.ctx = std::max<int64_t>(gen.ctx, max_ctx + decode + 16);
    model_path = (std::filesystem::temp_directory_path() / "long_context_bench.gguf").string();
    gen.out = model_path;
    if (auto st = tools::WriteRandomLlama(gen); !st.ok()) {
      std::fprintf(stderr, "gen: %s\n", std::string(st.message()).c_str());
      return 1;
    }
  }
  auto file = gguf::GgufFile::Open(model_path);
  if (!file.ok()) return 1;
  auto loaded = model::Model::Load(**file);
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s\n", std::string(loaded.status().message()).c_str());
    return 1;
  }
  const model::Model& m = **loaded;
  const model::ModelConfig& c = m.config();
  ThreadPool pool(threads);
  constexpr int kBlock = 16;

  std::vector<Result> results;
  for (int64_t P : contexts) {
    const int64_t seq_blocks = (P + decode + kBlock) / kBlock + 1;
    kv::KvCacheOptions ko = m.KvOptions(2 * seq_blocks, kBlock, kv::KvDtype::kF16);
    ko.key_summaries = true;
    ko.enable_prefix_cache = false;
    auto cache = kv::KvCache::Create(ko);
    if (!cache.ok()) return 1;
    kv::SequenceKv a(cache->get()), b(cache->get());
    if (!a.Reserve(P + decode).ok() || !b.Reserve(P + decode).ok()) return 1;
    std::mt19937 rng(static_cast<uint32_t>(P));
    std::vector<int32_t> prompt(P);
    for (int32_t& t : prompt) t = static_cast<int32_t>(rng() % c.vocab_size);

    Result r;
    r.context = P;
    std::vector<float> last;
    const auto p0 = Clock::now();
    for (int64_t s = 0; s < P; s += chunk) {
      model::SequenceBatch sb;
      sb.tokens = absl::MakeConstSpan(prompt).subspan(s, std::min<int64_t>(chunk, P - s));
      sb.start_pos = s;
      sb.kv = &a;
      auto logits = m.Forward({&sb, 1}, cache->get(), &pool);
      if (!logits.ok()) {
        std::fprintf(stderr, "prefill: %s\n", std::string(logits.status().message()).c_str());
        return 1;
      }
      last = std::move(*logits);
    }
    r.prefill_s = Ms(p0, Clock::now()) / 1000.0;
    // The sparse run starts from the same prompt KV (and summaries).
    for (size_t i = 0; i < a.blocks().size(); ++i) {
      std::memcpy((*cache)->BlockData(b.blocks()[i]), (*cache)->BlockData(a.blocks()[i]),
                  (*cache)->block_bytes());
      if (static_cast<int64_t>(i + 1) * kBlock <= P) (*cache)->SummarizeKeys(b.blocks()[i]);
    }

    std::vector<double> dense_ms, sparse_ms;
    int agree = 0;
    double cos_sum = 0;
    int32_t token = Argmax(last);
    for (int i = 0; i < decode; ++i) {
      model::SequenceBatch sd;
      sd.tokens = {&token, 1};
      sd.start_pos = P + i;
      sd.kv = &a;
      model::SequenceBatch ss = sd;
      ss.kv = &b;
      ss.sparse = sparse;
      const auto t0 = Clock::now();
      auto ld = m.Forward({&sd, 1}, cache->get(), &pool);
      const auto t1 = Clock::now();
      auto ls = m.Forward({&ss, 1}, cache->get(), &pool);
      const auto t2 = Clock::now();
      if (!ld.ok() || !ls.ok()) return 1;
      dense_ms.push_back(Ms(t0, t1));
      sparse_ms.push_back(Ms(t1, t2));
      const double cs = Cosine(*ld, *ls);
      cos_sum += cs;
      r.cos_min = std::min(r.cos_min, cs);
      const int32_t next = Argmax(*ld);
      agree += next == Argmax(*ls);
      token = next;
    }
    r.dense_ms = Median(dense_ms);
    r.sparse_ms = Median(sparse_ms);
    r.cos_mean = cos_sum / decode;
    r.top1 = static_cast<double>(agree) / decode;
    std::printf(
        "{\"context\": %lld, \"prefill_s\": %.2f, \"dense_ms_per_token\": %.2f, "
        "\"sparse_ms_per_token\": %.2f, \"speedup\": %.2f, \"cosine_mean\": %.6f, "
        "\"cosine_min\": %.6f, \"top1_agreement\": %.3f}\n",
        static_cast<long long>(P), r.prefill_s, r.dense_ms, r.sparse_ms,
        r.dense_ms / r.sparse_ms, r.cos_mean, r.cos_min, r.top1);
    std::fflush(stdout);
    results.push_back(r);
  }
  std::printf(
      "\nmodel: dim %lld, %lld layers, %lld heads, %lld KV heads (head_dim %lld), "
      "ffn %lld, vocab %lld, %s; threads %d; sparse budget=%lld dense_layers=%d "
      "sink=%d recent=%d; %d teacher-forced decode steps\n\n",
      static_cast<long long>(c.dim), static_cast<long long>(c.num_layers),
      static_cast<long long>(c.num_heads), static_cast<long long>(c.num_kv_heads),
      static_cast<long long>(c.head_dim), static_cast<long long>(c.ffn_dim),
      static_cast<long long>(c.vocab_size),
      std::string(kernels::TypeName(m.weight_type())).c_str(), threads,
      static_cast<long long>(sparse.budget_tokens), sparse.dense_layers,
      sparse.sink_blocks, sparse.recent_blocks, decode);
  std::printf("| context | prefill s | dense ms/token | sparse ms/token | speedup | "
              "logit cosine mean (min) | top-1 agreement |\n|---|---|---|---|---|---|---|\n");
  for (const Result& r : results) {
    std::printf("| %lld | %.1f | %.2f | %.2f | %.2fx | %.5f (%.5f) | %.1f%% |\n",
                static_cast<long long>(r.context), r.prefill_s, r.dense_ms, r.sparse_ms,
                r.dense_ms / r.sparse_ms, r.cos_mean, r.cos_min, 100.0 * r.top1);
  }
  return 0;
}
