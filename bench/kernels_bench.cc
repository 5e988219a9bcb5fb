// Throughput of the CPU weight kernels, single thread, in GB/s of weight
// bytes (the figure that bounds decode speed).
//
//   BM_MatMulRows/<type>/<rows>/<m>: a rows x 2048 matrix times m tokens
//     (m = 1 decode, 8 batched decode, 64 prefill).
//     The matrix is replicated into >= 512 MiB of copies that are cycled, so
//     weights come from DRAM as in decoding a real model, not from cache.
//   BM_VecDot/<type>: one 2048-element row (in L1): kernel compute speed.
//   BM_PackedMatMul/<type>/<isa>/m:<m>: the packed layout (kernels/packed.h)
//     of a 256 x 2048 matrix (in L2: compute speed) times m tokens, per ISA.

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "kernels/packed.h"
#include "kernels/quant.h"

namespace triptych::kernels {
namespace {

constexpr int64_t kCols = 2048;
constexpr int64_t kColdBytes = int64_t{512} << 20;

const GgmlType kTypes[] = {GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16,
                           GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ4_K,
                           GgmlType::kQ6_K};

std::vector<float> RandomFloats(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

std::vector<uint8_t> Quantized(GgmlType type, int64_t rows, int64_t n,
                               uint32_t seed) {
  const std::vector<float> f = RandomFloats(rows * n, seed);
  std::vector<uint8_t> q(RowBytes(type, n) * rows);
  for (int64_t r = 0; r < rows; ++r) {
    QuantizeRow(type, f.data() + r * n, q.data() + r * RowBytes(type, n), n);
  }
  return q;
}

void BM_MatMulRows(benchmark::State& state, GgmlType type, int64_t rows,
                   int64_t m) {
  const int64_t matrix_bytes = RowBytes(type, kCols) * rows;
  const std::vector<uint8_t> one = Quantized(type, rows, kCols, 1);
  const int64_t copies = (kColdBytes + matrix_bytes - 1) / matrix_bytes;
  std::vector<uint8_t> w(matrix_bytes * copies);
  for (int64_t c = 0; c < copies; ++c) {
    std::copy(one.begin(), one.end(), w.begin() + c * matrix_bytes);
  }
  const GgmlType at = VecDotType(type);
  const int64_t act_stride = RowBytes(at, kCols);
  const std::vector<uint8_t> act = Quantized(at, m, kCols, 2);
  std::vector<float> y(rows * m);
  int64_t c = 0;
  for (auto _ : state) {
    MatMulRows(type, w.data() + c * matrix_bytes, kCols, 0, rows, act.data(),
               act_stride, m, y.data(), rows);
    benchmark::DoNotOptimize(y.data());
    c = (c + 1) % copies;
  }
  state.SetBytesProcessed(state.iterations() * matrix_bytes);
  state.SetLabel(IsaName(BestIsa()));
}

void BM_VecDot(benchmark::State& state, GgmlType type, Isa isa) {
  if (!IsaAvailable(isa)) {
    state.SkipWithError("ISA not available on this CPU");
    return;
  }
  const std::vector<uint8_t> w = Quantized(type, 1, kCols, 3);
  const std::vector<uint8_t> a = Quantized(VecDotType(type), 1, kCols, 4);
  for (auto _ : state) {
    benchmark::DoNotOptimize(VecDot(type, kCols, w.data(), a.data(), isa));
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(w.size()));
}

void BM_PackedMatMul(benchmark::State& state, GgmlType type, Isa isa, int64_t m) {
  if (!IsaAvailable(isa)) {
    state.SkipWithError("ISA not available on this CPU");
    return;
  }
  constexpr int64_t kRows = 256;
  const std::vector<uint8_t> w = Quantized(type, kRows, kCols, 6);
  std::vector<uint8_t> packed(PackedBytes(type, kRows, kCols));
  PackWeights(type, w.data(), kRows, kCols, packed.data());
  const GgmlType at = VecDotType(type);
  const int64_t act_stride = RowBytes(at, kCols);
  const std::vector<uint8_t> act = Quantized(at, m, kCols, 7);
  std::vector<float> y(kRows * m);
  for (auto _ : state) {
    PackedMatMulRows(type, packed.data(), kCols, 0, kRows, act.data(), act_stride, m, y.data(),
                     kRows, isa);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(w.size()));
}

void BM_QuantizeActivations(benchmark::State& state, GgmlType type) {
  const std::vector<float> x = RandomFloats(kCols, 5);
  std::vector<uint8_t> q(RowBytes(type, kCols));
  for (auto _ : state) {
    QuantizeRow(type, x.data(), q.data(), kCols);
    benchmark::DoNotOptimize(q.data());
  }
  state.SetBytesProcessed(state.iterations() * kCols * 4);
}

int Register() {
  for (GgmlType t : kTypes) {
    const std::string name(TypeName(t));
    for (int64_t rows : {2048, 5632}) {
      // m = 64 (prefill-sized) on the smaller matrix only, to bound run time.
      for (int64_t m : {1, 8, 64}) {
        if (m == 64 && rows != 2048) continue;
        benchmark::RegisterBenchmark(
            ("BM_MatMulRows/" + name + "/" + std::to_string(rows) +
             "x2048/m:" + std::to_string(m))
                .c_str(),
            BM_MatMulRows, t, rows, m)
            ->Unit(benchmark::kMicrosecond)
            ->MinTime(0.3);
      }
    }
    for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
      benchmark::RegisterBenchmark(
          ("BM_VecDot/" + name + "/" + IsaName(isa)).c_str(), BM_VecDot, t,
          isa);
    }
  }
  for (GgmlType t : {GgmlType::kQ4_0, GgmlType::kQ4_K}) {
    for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
      for (int64_t m : {1, 4}) {
        benchmark::RegisterBenchmark(("BM_PackedMatMul/" + std::string(TypeName(t)) + "/" +
                                      IsaName(isa) + "/m:" + std::to_string(m))
                                         .c_str(),
                                     BM_PackedMatMul, t, isa, m);
      }
    }
  }
  for (GgmlType t : {GgmlType::kQ8_0, GgmlType::kQ8_K, GgmlType::kF16}) {
    benchmark::RegisterBenchmark(
        ("BM_QuantizeActivations/" + std::string(TypeName(t))).c_str(),
        BM_QuantizeActivations, t);
  }
  return 0;
}

const int registered = Register();

}  // namespace
}  // namespace triptych::kernels
