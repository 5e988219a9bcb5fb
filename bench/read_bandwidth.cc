// Memory read bandwidth of this host, for reading decode figures against:
// every thread streams its share of one buffer (as a decode step streams the
// weights) and the pass's bytes / wall time is printed, one JSON line per pass.
//   read_bandwidth [--threads 2] [--mb 1170] [--passes 5]
// Run it next to runtime_bench: on shared VMs the figure moves by 2x within
// minutes (docs/BENCHMARKS.md, issue 15).

#include <immintrin.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"

namespace {

// Sums 64-bit words with independent accumulators, so the loop is bound by
// loads, not by an add chain. The widest loads the CPU has: a core reaches
// its share of the bandwidth only with them (SSE2 loads stop near half).
__attribute__((target("avx512f"))) uint64_t SumWords512(const uint64_t* p,
                                                        size_t n) {
  __m512i a = _mm512_setzero_si512(), b = a;
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a = _mm512_add_epi64(a, _mm512_loadu_si512(p + i));
    b = _mm512_add_epi64(b, _mm512_loadu_si512(p + i + 8));
  }
  uint64_t s = _mm512_reduce_add_epi64(_mm512_add_epi64(a, b));
  for (; i < n; ++i) s += p[i];
  return s;
}

__attribute__((target("avx2"))) uint64_t SumWords256(const uint64_t* p,
                                                     size_t n) {
  __m256i a = _mm256_setzero_si256(), b = a;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    a = _mm256_add_epi64(
        a, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
    b = _mm256_add_epi64(
        b, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 4)));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_add_epi64(a, b));
  uint64_t s = lanes[0] + lanes[1] + lanes[2] + lanes[3];
  for (; i < n; ++i) s += p[i];
  return s;
}

uint64_t SumWordsScalar(const uint64_t* p, size_t n) {
  uint64_t acc[8] = {0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) acc[k] += p[i + k];
  }
  for (; i < n; ++i) acc[0] += p[i];
  uint64_t s = 0;
  for (uint64_t a : acc) s += a;
  return s;
}

uint64_t SumWords(const uint64_t* p, size_t n) {
  if (__builtin_cpu_supports("avx512f")) return SumWords512(p, n);
  if (__builtin_cpu_supports("avx2")) return SumWords256(p, n);
  return SumWordsScalar(p, n);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"memory read bandwidth"};
  int threads = 2, passes = 5;
  int64_t mb = 1170;  // the TinyLlama-1.1B Q8_0 weights read per decode step
  app.add_option("--threads", threads)->check(CLI::Range(1, 256));
  app.add_option("--mb", mb)->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  app.add_option("--passes", passes)->check(CLI::Range(1, 1000));
  CLI11_PARSE(app, argc, argv);

  const size_t words = static_cast<size_t>(mb) << 17;  // 8-byte words
  // Cache-line aligned: a 64-byte load across two lines costs two.
  std::unique_ptr<uint64_t, decltype(&std::free)> buf(
      static_cast<uint64_t*>(std::aligned_alloc(64, words * sizeof(uint64_t))),
      &std::free);
  if (buf == nullptr) {
    std::fprintf(stderr, "cannot allocate %lld MiB\n",
                 static_cast<long long>(mb));
    return 1;
  }
  std::memset(buf.get(), 1, words * sizeof(uint64_t));  // fault every page in
  std::vector<uint64_t> sums(threads);
  for (int pass = 0; pass < passes; ++pass) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        const size_t per = words / threads;
        sums[t] = SumWords(buf.get() + t * per, per);
      });
    }
    for (std::thread& w : workers) w.join();
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
    uint64_t check = 0;
    for (uint64_t v : sums) check += v;
    std::printf(
        "{\"threads\": %d, \"pass\": %d, \"gb_s\": %.1f, \"checksum\": %llu}\n",
        threads, pass, static_cast<double>(words * sizeof(uint64_t)) / s / 1e9,
        static_cast<unsigned long long>(check));
  }
  return 0;
}
