// triptych-gpu-ops-bench: times the GPU forward ops (forward_ops.h) at
// Llama-3-8B shapes on device 0 and prints one line per case: op, shape,
// microseconds per call, and the achieved memory bandwidth (weights / KV
// read once) or compute rate. Run through bench/gpu_ops.sh, which prints the
// device and the command first (docs/BENCHMARKS.md, "GPU (issue 7)").
//
// Usage: triptych-gpu-ops-bench [--quick]   (--quick: fewer, smaller cases)
// Exit status 2 when there is no GPU (the message says why).

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/hip/forward_ops.h"
#include "kernels/hip/gpu_ops.h"
#include "kernels/quant.h"

namespace triptych::kernels::hip {
namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "gpu_ops_bench: %s\n", what.c_str());
  std::exit(1);
}

void Check(const std::string& error) {
  if (!error.empty()) Die(error);
}

GpuBuffer Alloc(size_t bytes) {
  std::string error;
  GpuBuffer b = GpuBuffer::Allocate(bytes, &error);
  if (b.data() == nullptr) Die(error);
  return b;
}

template <typename T>
GpuBuffer Up(const std::vector<T>& v) {
  GpuBuffer b = Alloc(v.size() * sizeof(T));
  Check(b.CopyFromHost(v.data(), v.size() * sizeof(T)));
  return b;
}

std::vector<float> Normal(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Mean microseconds per call of `launch` on `stream`: 3 warm-up calls, then
// batches of calls until 0.3 s or 500 calls have run.
double TimeUs(const GpuStream& stream,
              const std::function<std::string()>& launch) {
  for (int i = 0; i < 3; ++i) Check(launch());
  Check(stream.Synchronize());
  int calls = 0;
  const auto start = std::chrono::steady_clock::now();
  double elapsed = 0.0;
  while (elapsed < 0.3 && calls < 500) {
    for (int i = 0; i < 10; ++i) Check(launch());
    calls += 10;
    Check(stream.Synchronize());
    elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
  }
  return elapsed * 1e6 / calls;
}

void Report(const char* op, const std::string& shape, double us, double bytes,
            double flops) {
  std::printf("%-16s %-44s %10.1f us %9.1f GB/s %9.2f TFLOP/s\n", op,
              shape.c_str(), us, bytes / us / 1e3, flops / us / 1e6);
  std::fflush(stdout);
}

void BenchMatMul(const GpuStream& s, bool quick) {
  const int64_t cols = 4096;
  struct Shape {
    const char* name;
    int64_t rows;
  };
  const Shape shapes[] = {{"attn_q 4096x4096", 4096},
                          {"ffn_up 14336x4096", 14336}};
  const GgmlType types[] = {GgmlType::kF16, GgmlType::kQ8_0, GgmlType::kQ4_0,
                            GgmlType::kQ4_K, GgmlType::kQ6_K};
  for (const Shape& shape : shapes) {
    if (quick && shape.rows > 4096) continue;
    const std::vector<float> wf = Normal(shape.rows * cols, 1);
    for (GgmlType type : types) {
      const int64_t rb = RowBytes(type, cols);
      std::vector<uint8_t> w(shape.rows * rb);
      for (int64_t r = 0; r < shape.rows; ++r) {
        QuantizeRow(type, wf.data() + r * cols, w.data() + r * rb, cols);
      }
      GpuBuffer dw = Up(w);
      for (int64_t m : {1, 8, 128, 512}) {
        if (quick && m > 128) continue;
        GpuBuffer dx = Up(Normal(m * cols, 2)), dy = Alloc(m * shape.rows * 4);
        const double us = TimeUs(s, [&] {
          return GpuMatMul(type, dw.data(), shape.rows, cols, dx.as<float>(), m,
                           dy.as<float>(), s.get());
        });
        Report("matmul",
               std::string(shape.name) + " " + std::string(TypeName(type)) +
                   " m=" + std::to_string(m),
               us, static_cast<double>(w.size()), 2.0 * m * shape.rows * cols);
      }
    }
  }
}

void BenchRowOps(const GpuStream& s, bool quick) {
  const int64_t tokens = quick ? 64 : 512, dim = 4096, ffn = 14336;
  GpuBuffer x = Up(Normal(tokens * ffn, 3)), y = Up(Normal(tokens * ffn, 4)),
            w = Up(Normal(dim, 5)), out = Alloc(tokens * ffn * 4);
  std::vector<int32_t> pos(tokens);
  for (int64_t t = 0; t < tokens; ++t) pos[t] = static_cast<int32_t>(t);
  GpuBuffer dpos = Up(pos);
  const std::string n = std::to_string(tokens) + " tokens";
  double us = TimeUs(s, [&] {
    return GpuRmsNorm(x.as<float>(), w.as<float>(), tokens, dim, 1e-5f,
                      out.as<float>(), s.get());
  });
  Report("rmsnorm", n + " x 4096", us, 8.0 * tokens * dim, 0);
  GpuRopeParams p;
  p.head_dim = 128;
  p.rope_dim = 128;
  p.theta = 500000.0f;
  us = TimeUs(s, [&] {
    return GpuRope(x.as<float>(), tokens, 32, dpos.as<int32_t>(), p, s.get());
  });
  Report("rope", n + " x 32 heads x 128", us, 8.0 * tokens * dim, 0);
  us = TimeUs(s, [&] {
    return GpuSwiGlu(x.as<float>(), y.as<float>(), tokens * ffn,
                     out.as<float>(), s.get());
  });
  Report("swiglu", n + " x 14336", us, 12.0 * tokens * ffn, 0);
  us = TimeUs(s, [&] {
    return GpuAdd(out.as<float>(), y.as<float>(), tokens * dim, s.get());
  });
  Report("add", n + " x 4096", us, 12.0 * tokens * dim, 0);
}

void BenchAttention(const GpuStream& s, bool quick) {
  // Llama-3-8B attention: 32 query heads, 8 KV heads, head_dim 128, F16.
  const GpuKvLayout layout{1, 8, 128, 16, true};
  const int nh = 32;
  struct Case {
    const char* name;
    int64_t seqs, ctx;
    bool prefill;
  };
  const Case cases[] = {{"decode", 1, 1024, false},
                        {"decode", 1, 16384, false},
                        {"decode", 16, 4096, false},
                        {"prefill", 1, 512, true},
                        {"prefill", 1, 2048, true}};
  for (const Case& c : cases) {
    if (quick && c.ctx > 4096) continue;
    const int64_t blocks_per_seq = (c.ctx + 15) / 16;
    const int64_t num_blocks = c.seqs * blocks_per_seq;
    GpuBuffer pool = Alloc(num_blocks * layout.block_bytes());
    std::vector<uint16_t> halves(num_blocks * layout.block_bytes() / 2);
    std::mt19937 rng(6);
    for (uint16_t& h : halves)
      h = FloatToHalf(std::normal_distribution<float>()(rng));
    Check(pool.CopyFromHost(halves.data(), halves.size() * 2));
    std::vector<int32_t> tables(num_blocks), begin, ctx;
    for (int64_t b = 0; b < num_blocks; ++b)
      tables[b] = static_cast<int32_t>(b);
    for (int64_t q = 0; q < c.seqs; ++q) {
      if (c.prefill) {
        for (int64_t p = 0; p < c.ctx; ++p) {
          begin.push_back(static_cast<int32_t>(q * blocks_per_seq));
          ctx.push_back(static_cast<int32_t>(p + 1));
        }
      } else {
        begin.push_back(static_cast<int32_t>(q * blocks_per_seq));
        ctx.push_back(static_cast<int32_t>(c.ctx));
      }
    }
    const int64_t T = static_cast<int64_t>(begin.size());
    GpuBuffer dq = Up(Normal(T * nh * 128, 7)), dt = Up(tables), db = Up(begin),
              dc = Up(ctx), dout = Alloc(T * nh * 128 * 4);
    GpuAttentionBatch batch;
    batch.num_tokens = T;
    batch.num_heads = nh;
    batch.scale = 1.0f / std::sqrt(128.0f);
    batch.q = dq.as<float>();
    batch.block_tables = dt.as<int32_t>();
    batch.table_begin = db.as<int32_t>();
    batch.context_len = dc.as<int32_t>();
    batch.out = dout.as<float>();
    const double us = TimeUs(s, [&] {
      return GpuPagedAttention(pool.data(), layout, 0, batch, s.get());
    });
    double rows = 0;  // KV rows attended over all query tokens
    for (int32_t n : ctx) rows += n;
    Report("paged_attention",
           std::string(c.name) + " " + std::to_string(c.seqs) + " seq x ctx " +
               std::to_string(c.ctx) + " (32/8 heads, 128)",
           us, c.seqs * c.ctx * layout.token_bytes() * 2.0,
           rows * nh * 128 * 4.0);
  }
}

void BenchSampling(const GpuStream& s) {
  const int64_t rows = 16, vocab = 128256;
  GpuBuffer logits = Up(Normal(rows * vocab, 8)), ids = Alloc(rows * 4),
            probs = Alloc(rows * vocab * 4);
  double us = TimeUs(s, [&] {
    return GpuArgmax(logits.as<float>(), rows, vocab, ids.as<int32_t>(),
                     s.get());
  });
  Report("argmax", "16 x 128256", us, 4.0 * rows * vocab, 0);
  us = TimeUs(s, [&] {
    return GpuSoftmax(logits.as<float>(), rows, vocab, 0.8f, probs.as<float>(),
                      s.get());
  });
  Report("softmax", "16 x 128256, T=0.8", us, 12.0 * rows * vocab, 0);
}

int Main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  std::string why;
  if (GpuDeviceCount(&why) == 0) {
    std::fprintf(stderr, "gpu_ops_bench: no GPU for the %s build: %s\n",
                 GpuRuntimeName(), why.c_str());
    return 2;
  }
  Check(GpuSetDevice(0));
  std::printf("runtime: %s\ndevice 0: %s\n", GpuRuntimeName(),
              GpuDeviceDescription(0).c_str());
  std::printf(
      "(GB/s: weight or KV bytes read once per call; TFLOP/s: 2 m n k "
      "for matmul, 4 rows heads dim for attention)\n");
  std::string error;
  GpuStream stream = GpuStream::Create(&error);
  if (!stream.valid()) Die(error);
  BenchMatMul(stream, quick);
  BenchRowOps(stream, quick);
  BenchAttention(stream, quick);
  BenchSampling(stream);
  return 0;
}

}  // namespace
}  // namespace triptych::kernels::hip

int main(int argc, char** argv) {
  return triptych::kernels::hip::Main(argc, argv);
}
