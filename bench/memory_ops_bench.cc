// Throughput of the memory pipeline's CPU ops (kernels/memory):
//   BM_MemoryRead     streaming read baseline (this machine's bandwidth)
//   BM_QuestScores    GB/s of block summaries (min + max) scanned, per ISA
//   BM_QuestTopK      scan + top-64
//   BM_Bm25           postings/s and queries/s, 100k generated documents
//   BM_DenseIp        GB/s of embeddings scanned, per ISA
//   BM_KeySummary     GB/s of F16 keys summarised (Prepare Memory)
// Inputs are larger than the last-level cache so the scans measure memory.

#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "kernels/memory/memory_ops.h"

namespace triptych::kernels::memory {
namespace {

std::vector<float> Normal(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist;
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

bool SkipIsa(benchmark::State& state, Isa isa) {
  if (IsaAvailable(isa)) return false;
  state.SkipWithError("ISA not available on this CPU");
  return true;
}

void BM_MemoryRead(benchmark::State& state) {
  const int64_t n = int64_t{64} << 20;  // 256 MiB of floats
  std::vector<float> v(n, 1.0f);
  for (auto _ : state) {
    // Four independent sums so the adds keep up with memory.
    float s[16] = {};
    for (int64_t i = 0; i < n; i += 16) {
      for (int j = 0; j < 16; ++j) s[j] += v[i + j];
    }
    benchmark::DoNotOptimize(s);
  }
  state.SetBytesProcessed(state.iterations() * n * 4);
}
BENCHMARK(BM_MemoryRead)->Unit(benchmark::kMillisecond);

// Args: isa, query heads per KV head group. head_dim 128, 128k blocks
// (128 MiB of summaries: a 2M-token context's worth of 16-token blocks for
// one layer and KV head, or many sequences' worth).
void BM_QuestScores(benchmark::State& state) {
  const Isa isa = static_cast<Isa>(state.range(0));
  if (SkipIsa(state, isa)) return;
  const int heads = static_cast<int>(state.range(1));
  const int head_dim = 128;
  const int64_t blocks = 128 * 1024;
  const std::vector<float> q = Normal(heads * head_dim, 1);
  const std::vector<float> mn = Normal(blocks * head_dim, 2);
  std::vector<float> mx = mn;
  for (float& x : mx) x += 1.0f;
  std::vector<float> scores(blocks);
  for (auto _ : state) {
    QuestScores(q.data(), heads, head_dim, mn.data(), mx.data(), blocks,
                scores.data(), isa);
    benchmark::DoNotOptimize(scores.data());
  }
  state.SetBytesProcessed(state.iterations() * blocks * head_dim * 8);
  state.SetItemsProcessed(state.iterations() * blocks);
  state.SetLabel(IsaName(isa));
}
BENCHMARK(BM_QuestScores)
    ->ArgsProduct({{static_cast<int>(Isa::kScalar), static_cast<int>(Isa::kAvx2),
                    static_cast<int>(Isa::kAvx512)},
                   {1, 4}})
    ->Unit(benchmark::kMillisecond);

void BM_QuestTopK(benchmark::State& state) {
  const int head_dim = 128;
  const int64_t blocks = 128 * 1024;
  const std::vector<float> q = Normal(head_dim, 1);
  const std::vector<float> mn = Normal(blocks * head_dim, 2);
  std::vector<float> mx = mn;
  for (float& x : mx) x += 1.0f;
  std::vector<float> scores(blocks);
  for (auto _ : state) {
    QuestScores(q.data(), 1, head_dim, mn.data(), mx.data(), blocks,
                scores.data());
    benchmark::DoNotOptimize(TopK(scores, 64));
  }
  state.SetBytesProcessed(state.iterations() * blocks * head_dim * 8);
}
BENCHMARK(BM_QuestTopK)->Unit(benchmark::kMillisecond);

// A 100k-document corpus: lengths 20..400 tokens, Zipf(1) over a 50k
// vocabulary, stored as an inverted index.
struct Corpus {
  std::vector<int32_t> lengths;
  std::vector<std::vector<int32_t>> docs;  // per term
  std::vector<std::vector<uint32_t>> tfs;
  float avgdl = 0;
};

const Corpus& GetCorpus() {
  static const Corpus* corpus = [] {
    auto* c = new Corpus;
    const int num_docs = 100000, vocab = 50000;
    std::mt19937 rng(5);
    std::vector<double> w(vocab);
    for (int t = 0; t < vocab; ++t) w[t] = 1.0 / (t + 1);
    std::discrete_distribution<int> term(w.begin(), w.end());
    std::uniform_int_distribution<int> len(20, 400);
    c->docs.resize(vocab);
    c->tfs.resize(vocab);
    double total = 0;
    std::map<int, uint32_t> tf;
    for (int d = 0; d < num_docs; ++d) {
      const int n = len(rng);
      tf.clear();
      for (int i = 0; i < n; ++i) ++tf[term(rng)];
      for (auto [t, f] : tf) {
        c->docs[t].push_back(d);
        c->tfs[t].push_back(f);
      }
      c->lengths.push_back(n);
      total += n;
    }
    c->avgdl = static_cast<float>(total / num_docs);
    return c;
  }();
  return *corpus;
}

// Arg: query terms. Query terms are drawn from ranks 10..5000 (stop words
// excluded, as a query parser would).
void BM_Bm25(benchmark::State& state) {
  const Corpus& c = GetCorpus();
  const int terms = static_cast<int>(state.range(0));
  std::mt19937 rng(9);
  std::uniform_int_distribution<int> pick(10, 5000);
  constexpr int kQueries = 64;
  struct Csr {
    std::vector<int64_t> offsets{0};
    std::vector<int32_t> docs;
    std::vector<uint32_t> tfs;
  };
  std::vector<Csr> queries(kQueries);
  int64_t postings = 0;
  for (Csr& q : queries) {
    for (int i = 0; i < terms; ++i) {
      const int t = pick(rng);
      q.docs.insert(q.docs.end(), c.docs[t].begin(), c.docs[t].end());
      q.tfs.insert(q.tfs.end(), c.tfs[t].begin(), c.tfs[t].end());
      q.offsets.push_back(static_cast<int64_t>(q.docs.size()));
    }
    postings += static_cast<int64_t>(q.docs.size());
  }
  std::vector<float> scores(c.lengths.size());
  int64_t done = 0;
  for (auto _ : state) {
    const Csr& q = queries[done % kQueries];
    Bm25Scores({q.offsets, q.docs, q.tfs}, c.lengths, c.avgdl,
               absl::MakeSpan(scores));
    benchmark::DoNotOptimize(TopK(scores, 10));
    ++done;
  }
  state.counters["postings/s"] = benchmark::Counter(
      static_cast<double>(postings) / kQueries * done,
      benchmark::Counter::kIsRate);
  state.counters["queries/s"] =
      benchmark::Counter(static_cast<double>(done), benchmark::Counter::kIsRate);
  state.counters["postings/query"] = static_cast<double>(postings) / kQueries;
}
BENCHMARK(BM_Bm25)->Arg(1)->Arg(4)->Arg(8)->Unit(benchmark::kMicrosecond);

// Args: isa. 100k x 384-dim embeddings (146 MiB).
void BM_DenseIp(benchmark::State& state) {
  const Isa isa = static_cast<Isa>(state.range(0));
  if (SkipIsa(state, isa)) return;
  const int dim = 384;
  const int64_t docs = 100000;
  const std::vector<float> q = Normal(dim, 1);
  const std::vector<float> d = Normal(docs * dim, 3);
  std::vector<float> scores(docs);
  for (auto _ : state) {
    DenseInnerProduct(q.data(), d.data(), docs, dim, scores.data(), isa);
    benchmark::DoNotOptimize(scores.data());
  }
  state.SetBytesProcessed(state.iterations() * docs * dim * 4);
  state.SetLabel(IsaName(isa));
}
BENCHMARK(BM_DenseIp)
    ->Arg(static_cast<int>(Isa::kScalar))
    ->Arg(static_cast<int>(Isa::kAvx2))
    ->Arg(static_cast<int>(Isa::kAvx512))
    ->Unit(benchmark::kMillisecond);

// Args: isa. One Llama-3-8B-shaped block: 32 layers, 8 KV heads, head_dim
// 128, 16 tokens, F16 (2 MiB per block, 1 MiB of keys).
void BM_KeySummary(benchmark::State& state) {
  const Isa isa = static_cast<Isa>(state.range(0));
  if (SkipIsa(state, isa)) return;
  const KvBlockShape shape{32, 8, 128, 16, KeyDtype::kF16};
  std::vector<uint16_t> block(KvBlockBytes(shape) / 2);
  std::mt19937 rng(4);
  for (uint16_t& h : block) h = static_cast<uint16_t>(rng() & 0x3BFF);  // finite
  std::vector<float> mn(32 * 8 * 128), mx(mn.size());
  for (auto _ : state) {
    BlockKeySummary(shape, block.data(), 16, mn.data(), mx.data(), isa);
    benchmark::DoNotOptimize(mn.data());
  }
  state.SetBytesProcessed(state.iterations() * KvBlockBytes(shape) / 2);
  state.SetLabel(IsaName(isa));
}
BENCHMARK(BM_KeySummary)
    ->Arg(static_cast<int>(Isa::kScalar))
    ->Arg(static_cast<int>(Isa::kAvx2))
    ->Arg(static_cast<int>(Isa::kAvx512))
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace triptych::kernels::memory
