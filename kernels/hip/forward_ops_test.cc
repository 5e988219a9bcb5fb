// The GPU forward ops (forward_ops.h) against the CPU references of this
// repository: the scalar weight kernels (kernels/quant.h), the scalar fused
// attention (kernels/attention) over a real runtime/kv cache, the sampler's
// greedy path, and the row ops of runtime/model/model.cc (private there, so
// restated below line for line). Needs a GPU: without one every device test
// skips and says why; NoDeviceErrorsAreClear runs instead. The hip-cpu
// build (HIP CPU Runtime, what CI runs) always has its device: nothing
// skips there, and a missing device fails.
//
// Tolerances, per op (the kernels keep the reference's formulas and turn
// FMA contraction off, but reorder sums):
//  * dequantization (GpuGetRows): identical values expected; 1e-6 relative.
//  * RMSNorm, SwiGLU, adds, softmax: a few float ulps (1e-5 relative).
//  * RoPE: device cosf / sinf vs glibc, 2e-5 absolute on N(0,1) inputs.
//  * matmul vs float math on the dequantized weights: float summation
//    error, 2e-4 * sum_c |w_c x_c|. Vs the model's CPU path (MatMulRows,
//    which rounds activations to F16 / BF16 / Q8_0 / Q8_K first): that
//    rounding, bounded by 1e-2 * sum_c |w_c x_c|.
//  * paged attention vs AttendOneQuery (two-pass softmax, double sum):
//    online-softmax rescaling, 1e-4 absolute on N(0,1) values.

#include "kernels/hip/forward_ops.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/attention/attention.h"
#include "kernels/hip/gpu_ops.h"
#include "kernels/quant.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/sampling/sampler.h"

namespace triptych::kernels::hip {
namespace {

std::vector<float> Normal(int64_t n, std::mt19937& rng, float sd = 1.0f) {
  std::normal_distribution<float> dist(0.0f, sd);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// --- CPU references restated from runtime/model/model.cc ---------------

void RefRmsNorm(const float* x, const float* weight, int64_t n, float eps,
                float* out) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float scale = 1.0f / std::sqrt(static_cast<float>(sum / n) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void RefRope(float* x, int64_t tokens, int heads, const int32_t* pos,
             const GpuRopeParams& p, const std::vector<float>& freq_factors) {
  const int64_t half = p.rope_dim / 2;
  const float theta_scale = std::pow(p.theta, -2.0f / p.rope_dim);
  for (int64_t t = 0; t < tokens; ++t) {
    std::vector<float> cs(half * 2);
    float theta = static_cast<float>(pos[t]) / p.linear_scale;
    for (int64_t i = 0; i < half; ++i) {
      const float ff = freq_factors.empty() ? 1.0f : freq_factors[i];
      cs[2 * i] = std::cos(theta / ff);
      cs[2 * i + 1] = std::sin(theta / ff);
      theta *= theta_scale;
    }
    for (int h = 0; h < heads; ++h) {
      float* v = x + (t * heads + h) * p.head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const int64_t a = p.neox ? i : 2 * i;
        const int64_t b = p.neox ? i + half : 2 * i + 1;
        const float x0 = v[a], x1 = v[b];
        v[a] = x0 * cs[2 * i] - x1 * cs[2 * i + 1];
        v[b] = x0 * cs[2 * i + 1] + x1 * cs[2 * i];
      }
    }
  }
}

// --- device plumbing ----------------------------------------------------

class ForwardOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (GpuDeviceCount(&why) == 0) {
      // The HIP CPU Runtime always has its one device (the host): there a
      // missing device is a failure, never a skip.
      if (std::string(GpuRuntimeName()) == "hip-cpu") {
        FAIL() << "the hip-cpu build found no device: " << why;
      }
      GTEST_SKIP() << "no GPU for the " << GpuRuntimeName()
                   << " build of the forward ops: " << why;
    }
    ASSERT_EQ(GpuSetDevice(0), "");
    std::string error;
    stream_ = GpuStream::Create(&error);
    ASSERT_TRUE(stream_.valid()) << error;
  }

  // Device copy of `v`; records a failure (and returns an empty buffer) on
  // a device error.
  template <typename T>
  GpuBuffer Up(const std::vector<T>& v) {
    std::string error;
    GpuBuffer b = GpuBuffer::Allocate(v.size() * sizeof(T), &error);
    if (b.data() == nullptr) {
      ADD_FAILURE() << error;
      return b;
    }
    error = b.CopyFromHost(v.data(), v.size() * sizeof(T), 0, stream_.get());
    EXPECT_EQ(error, "");
    return b;
  }
  GpuBuffer Zeros(size_t bytes) { return Up(std::vector<uint8_t>(bytes, 0)); }
  template <typename T>
  std::vector<T> Down(const GpuBuffer& b, size_t n) {
    std::vector<T> v(n);
    EXPECT_EQ(b.CopyToHost(v.data(), n * sizeof(T), 0, stream_.get()), "");
    return v;
  }

  GpuStream stream_;
};

void ExpectNear(const std::vector<float>& want, const std::vector<float>& got,
                float rel, float abs, const char* what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  int inexact = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i] != got[i]) ++inexact;
    ASSERT_NEAR(got[i], want[i], abs + rel * std::fabs(want[i]))
        << what << " [" << i << "]";
  }
  GTEST_LOG_(INFO) << what << ": " << inexact << " of " << want.size()
                   << " values differ in the last bits";
}

TEST_F(ForwardOpsTest, RmsNorm) {
  std::mt19937 rng(1);
  for (int64_t n : {64, 1000, 4096}) {
    const int64_t rows = 5;
    const std::vector<float> x = Normal(rows * n, rng), w = Normal(n, rng);
    std::vector<float> want(rows * n);
    for (int64_t r = 0; r < rows; ++r) {
      RefRmsNorm(x.data() + r * n, w.data(), n, 1e-5f, want.data() + r * n);
    }
    GpuBuffer dx = Up(x), dw = Up(w), dout = Zeros(x.size() * 4);
    ASSERT_EQ(GpuRmsNorm(dx.as<float>(), dw.as<float>(), rows, n, 1e-5f,
                         dout.as<float>(), stream_.get()),
              "");
    ExpectNear(want, Down<float>(dout, want.size()), 1e-5f, 1e-6f, "rmsnorm");
  }
}

TEST_F(ForwardOpsTest, RopeNormalNeoxPartialAndScaled) {
  std::mt19937 rng(2);
  const int64_t tokens = 7;
  const int heads = 3;
  const std::vector<int32_t> pos = {0, 1, 5, 17, 255, 1000, 4095};
  struct Case {
    int head_dim, rope_dim;
    bool neox;
    float linear_scale;
    bool freq_factors;
  };
  for (const Case& c :
       {Case{64, 64, false, 1.0f, false}, Case{64, 64, true, 1.0f, false},
        Case{128, 64, true, 1.0f, false}, Case{128, 128, false, 4.0f, true},
        Case{80, 32, false, 1.0f, false}}) {
    GpuRopeParams p;
    p.head_dim = c.head_dim;
    p.rope_dim = c.rope_dim;
    p.theta = 500000.0f;
    p.linear_scale = c.linear_scale;
    p.neox = c.neox;
    std::vector<float> ff;
    if (c.freq_factors) {
      for (int i = 0; i < c.rope_dim / 2; ++i) ff.push_back(1.0f + (i % 5));
    }
    std::vector<float> x = Normal(tokens * heads * c.head_dim, rng);
    GpuBuffer dx = Up(x), dpos = Up(pos), dff = Up(ff.empty() ? x : ff);
    if (!ff.empty()) p.freq_factors = dff.as<float>();
    ASSERT_EQ(GpuRope(dx.as<float>(), tokens, heads, dpos.as<int32_t>(), p,
                      stream_.get()),
              "");
    RefRope(x.data(), tokens, heads, pos.data(), p, ff);
    ExpectNear(x, Down<float>(dx, x.size()), 0.0f, 2e-5f, "rope");
  }
}

TEST_F(ForwardOpsTest, SwiGluAddAndBias) {
  std::mt19937 rng(3);
  const int64_t rows = 9, n = 1000;
  const std::vector<float> g = Normal(rows * n, rng, 3.0f),
                           u = Normal(rows * n, rng), bias = Normal(n, rng);
  GpuBuffer dg = Up(g), du = Up(u), db = Up(bias), dout = Zeros(g.size() * 4);
  ASSERT_EQ(GpuSwiGlu(dg.as<float>(), du.as<float>(), rows * n,
                      dout.as<float>(), stream_.get()),
            "");
  std::vector<float> want(g.size());
  for (size_t i = 0; i < g.size(); ++i) {
    want[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  }
  ExpectNear(want, Down<float>(dout, want.size()), 1e-5f, 1e-7f, "swiglu");

  ASSERT_EQ(GpuAdd(dout.as<float>(), du.as<float>(), rows * n, stream_.get()),
            "");
  for (size_t i = 0; i < g.size(); ++i) want[i] += u[i];
  ASSERT_EQ(
      GpuAddBias(dout.as<float>(), db.as<float>(), rows, n, stream_.get()), "");
  for (size_t i = 0; i < g.size(); ++i) want[i] += bias[i % n];
  ExpectNear(want, Down<float>(dout, want.size()), 1e-5f, 1e-6f, "add + bias");
}

const GgmlType kWeightTypes[] = {
    GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16, GgmlType::kQ8_0,
    GgmlType::kQ4_0, GgmlType::kQ4_K, GgmlType::kQ6_K};

// `rows` x `cols` random weights quantized to `type`.
std::vector<uint8_t> RandomWeights(GgmlType type, int64_t rows, int64_t cols,
                                   std::mt19937& rng) {
  const std::vector<float> w = Normal(rows * cols, rng, 0.5f);
  const int64_t rb = RowBytes(type, cols);
  std::vector<uint8_t> q(rows * rb);
  for (int64_t r = 0; r < rows; ++r) {
    QuantizeRow(type, w.data() + r * cols, q.data() + r * rb, cols,
                Isa::kScalar);
  }
  return q;
}

TEST_F(ForwardOpsTest, GetRowsDequantizesLikeTheCpu) {
  std::mt19937 rng(4);
  const int64_t rows = 50, cols = 512;
  const std::vector<int32_t> ids = {0, 49, 7, 7, 23};
  for (GgmlType type : kWeightTypes) {
    const std::vector<uint8_t> table = RandomWeights(type, rows, cols, rng);
    const int64_t rb = RowBytes(type, cols);
    std::vector<float> want(ids.size() * cols);
    for (size_t t = 0; t < ids.size(); ++t) {
      DequantizeRow(type, table.data() + ids[t] * rb, want.data() + t * cols,
                    cols, Isa::kScalar);
    }
    GpuBuffer dt = Up(table), dids = Up(ids), dout = Zeros(want.size() * 4);
    ASSERT_EQ(GpuGetRows(type, dt.data(), cols, dids.as<int32_t>(),
                         static_cast<int64_t>(ids.size()), dout.as<float>(),
                         stream_.get()),
              "");
    ExpectNear(want, Down<float>(dout, want.size()), 1e-6f, 0.0f,
               std::string(TypeName(type)).c_str());
  }
}

TEST_F(ForwardOpsTest, MatMulAllTypesDecodeAndPrefill) {
  std::mt19937 rng(5);
  const int64_t rows = 200, cols = 512;
  for (GgmlType type : kWeightTypes) {
    const std::vector<uint8_t> w = RandomWeights(type, rows, cols, rng);
    const int64_t rb = RowBytes(type, cols);
    std::vector<float> wf(rows * cols);
    for (int64_t r = 0; r < rows; ++r) {
      DequantizeRow(type, w.data() + r * rb, wf.data() + r * cols, cols,
                    Isa::kScalar);
    }
    GpuBuffer dw = Up(w);
    for (int64_t m : {1, 2, 3, 8, 9, 70, 130}) {
      SCOPED_TRACE(std::string(TypeName(type)) + " m=" + std::to_string(m));
      const std::vector<float> x = Normal(m * cols, rng);
      GpuBuffer dx = Up(x), dy = Zeros(m * rows * 4);
      ASSERT_EQ(GpuMatMul(type, dw.data(), rows, cols, dx.as<float>(), m,
                          dy.as<float>(), stream_.get()),
                "");
      const std::vector<float> got = Down<float>(dy, m * rows);
      // The model's CPU path: activations rounded to VecDotType first.
      const GgmlType act_type = VecDotType(type);
      const int64_t ab = RowBytes(act_type, cols);
      std::vector<uint8_t> act(m * ab);
      for (int64_t t = 0; t < m; ++t) {
        QuantizeRow(act_type, x.data() + t * cols, act.data() + t * ab, cols,
                    Isa::kScalar);
      }
      std::vector<float> cpu(m * rows);
      MatMulRows(type, w.data(), cols, 0, rows, act.data(), ab, m, cpu.data(),
                 rows, Isa::kScalar);
      for (int64_t t = 0; t < m; ++t) {
        for (int64_t r = 0; r < rows; ++r) {
          double exact = 0.0, mag = 0.0;
          for (int64_t c = 0; c < cols; ++c) {
            const double p = double{wf[r * cols + c]} * x[t * cols + c];
            exact += p;
            mag += std::fabs(p);
          }
          const float g = got[t * rows + r];
          ASSERT_NEAR(g, exact, 2e-4 * mag + 1e-6)
              << "vs float, t " << t << " r " << r;
          ASSERT_NEAR(g, cpu[t * rows + r], 1e-2 * mag + 1e-6)
              << "vs MatMulRows, t " << t << " r " << r;
        }
      }
    }
  }
}

// A KV cache with two sequences whose blocks interleave, filled with random
// K / V on the CPU, and the same pool on the device.
struct KvFixture {
  std::unique_ptr<kv::KvCache> cache;
  std::unique_ptr<kv::SequenceKv> seq[2];
  GpuKvLayout layout;
};

KvFixture MakeKv(bool f16, int layers, int nkv, int hd, int64_t len0,
                 int64_t len1, std::mt19937& rng) {
  KvFixture f;
  kv::KvCacheOptions o;
  o.num_layers = layers;
  o.num_kv_heads = nkv;
  o.head_dim = hd;
  o.num_blocks = (len0 + len1) / 16 + 4;
  o.dtype = f16 ? kv::KvDtype::kF16 : kv::KvDtype::kF32;
  f.cache = *kv::KvCache::Create(o);
  for (auto& s : f.seq) s = std::make_unique<kv::SequenceKv>(f.cache.get());
  for (int64_t n = 16; n < std::max(len0, len1) + 16; n += 16) {
    if (n - 16 < len0) EXPECT_TRUE(f.seq[0]->Reserve(std::min(n, len0)).ok());
    if (n - 16 < len1) EXPECT_TRUE(f.seq[1]->Reserve(std::min(n, len1)).ok());
  }
  const GgmlType type = f16 ? GgmlType::kF16 : GgmlType::kF32;
  for (int s = 0; s < 2; ++s) {
    for (int64_t p = 0; p < (s == 0 ? len0 : len1); ++p) {
      for (int l = 0; l < layers; ++l) {
        const std::vector<float> k = Normal(nkv * hd, rng),
                                 v = Normal(nkv * hd, rng);
        const kv::BlockId b = f.seq[s]->BlockOf(p);
        QuantizeRow(type, k.data(), f.cache->KeyPtr(b, l, f.seq[s]->SlotOf(p)),
                    nkv * hd);
        QuantizeRow(type, v.data(),
                    f.cache->ValuePtr(b, l, f.seq[s]->SlotOf(p)), nkv * hd);
      }
    }
  }
  f.layout = {layers, nkv, hd, 16, f16};
  return f;
}

// CPU reference: AttendOneQuery (scalar) of query token `q` ([nh][hd]) over
// the first `ctx` rows of `seq` in layer `layer`.
std::vector<float> RefAttention(const KvFixture& f, const kv::SequenceKv& seq,
                                int layer, const float* q, int nh,
                                int64_t ctx) {
  const GpuKvLayout& L = f.layout;
  std::vector<attention::KvRun> runs;
  for (int64_t b = 0; b * 16 < ctx; ++b) {
    const kv::BlockId blk = seq.blocks()[b];
    runs.push_back(
        {f.cache->KeyPtr(blk, layer, 0), f.cache->ValuePtr(blk, layer, 0),
         static_cast<int32_t>(std::min<int64_t>(16, ctx - b * 16)), ~0u});
  }
  attention::AttentionShape shape;
  shape.num_kv_heads = L.num_kv_heads;
  shape.num_heads = nh / L.num_kv_heads;
  shape.head_dim = L.head_dim;
  shape.row_stride = int64_t{L.num_kv_heads} * L.head_dim;
  shape.elem = L.f16 ? attention::KvElem::kF16 : attention::KvElem::kF32;
  shape.scale = 1.0f / std::sqrt(static_cast<float>(L.head_dim));
  std::vector<float> out(int64_t{nh} * L.head_dim);
  attention::AttentionScratch scratch;
  attention::AttendOneQuery(shape, q, runs, out.data(), &scratch,
                            attention::Isa::kScalar);
  return out;
}

class PagedAttentionTest : public ForwardOpsTest {
 protected:
  // Runs GpuPagedAttention for query tokens given as (sequence, context
  // length) and compares each with RefAttention.
  void Check(const KvFixture& f, int layer, int nh,
             const std::vector<std::pair<int, int64_t>>& queries,
             std::mt19937& rng) {
    const int hd = f.layout.head_dim;
    const int64_t T = static_cast<int64_t>(queries.size());
    std::vector<int32_t> tables, begin(T), ctx(T);
    int32_t seq_begin[2];
    for (int s = 0; s < 2; ++s) {
      seq_begin[s] = static_cast<int32_t>(tables.size());
      for (kv::BlockId b : f.seq[s]->blocks()) tables.push_back(b);
    }
    for (int64_t t = 0; t < T; ++t) {
      begin[t] = seq_begin[queries[t].first];
      ctx[t] = static_cast<int32_t>(queries[t].second);
    }
    const std::vector<float> q = Normal(T * nh * hd, rng);
    const int64_t pool_bytes =
        f.cache->options().num_blocks * f.layout.block_bytes();
    ASSERT_EQ(pool_bytes,
              f.cache->options().num_blocks * f.cache->block_bytes());
    std::vector<uint8_t> pool(pool_bytes);
    for (int64_t b = 0; b < f.cache->options().num_blocks; ++b) {
      std::memcpy(pool.data() + b * f.layout.block_bytes(),
                  f.cache->BlockData(static_cast<kv::BlockId>(b)),
                  f.layout.block_bytes());
    }
    GpuBuffer dpool = Up(pool), dq = Up(q), dtab = Up(tables), dbeg = Up(begin),
              dctx = Up(ctx), dout = Zeros(q.size() * 4);
    GpuAttentionBatch batch;
    batch.num_tokens = T;
    batch.num_heads = nh;
    batch.scale = 1.0f / std::sqrt(static_cast<float>(hd));
    batch.q = dq.as<float>();
    batch.block_tables = dtab.as<int32_t>();
    batch.table_begin = dbeg.as<int32_t>();
    batch.context_len = dctx.as<int32_t>();
    batch.out = dout.as<float>();
    ASSERT_EQ(
        GpuPagedAttention(dpool.data(), f.layout, layer, batch, stream_.get()),
        "");
    const std::vector<float> got = Down<float>(dout, q.size());
    std::vector<float> want;
    for (int64_t t = 0; t < T; ++t) {
      const std::vector<float> o =
          RefAttention(f, *f.seq[queries[t].first], layer,
                       q.data() + t * nh * hd, nh, queries[t].second);
      want.insert(want.end(), o.begin(), o.end());
    }
    ExpectNear(want, got, 0.0f, 1e-4f, "attention");
  }
};

TEST_F(PagedAttentionTest, DecodeF16AndF32WithGqa) {
  std::mt19937 rng(6);
  for (bool f16 : {true, false}) {
    for (int hd : {64, 128}) {
      const KvFixture f = MakeKv(f16, 2, 2, hd, 300, 37, rng);
      // One query per sequence (decode), contexts crossing blocks and tiles.
      Check(f, 1, 8, {{0, 300}, {1, 37}, {0, 1}, {1, 16}, {0, 129}}, rng);
    }
  }
}

TEST_F(PagedAttentionTest, PrefillCausal) {
  std::mt19937 rng(7);
  const KvFixture f = MakeKv(true, 1, 4, 64, 70, 50, rng);
  std::vector<std::pair<int, int64_t>> queries;
  for (int64_t p = 0; p < 70; ++p) queries.push_back({0, p + 1});
  // Second sequence: prompt tokens 20..49 after a cached prefix of 20.
  for (int64_t p = 20; p < 50; ++p) queries.push_back({1, p + 1});
  Check(f, 0, 4, queries, rng);
  Check(f, 0, 12, queries, rng);  // GQA group of 3
}

TEST_F(ForwardOpsTest, WriteKvMatchesCpuLayout) {
  std::mt19937 rng(8);
  for (bool f16 : {true, false}) {
    KvFixture f = MakeKv(f16, 3, 2, 64, 40, 0, rng);
    const int64_t tokens = 40, kv_dim = 2 * 64;
    const std::vector<float> k = Normal(tokens * kv_dim, rng),
                             v = Normal(tokens * kv_dim, rng);
    std::vector<int32_t> blocks(tokens), slots(tokens);
    const GgmlType type = f16 ? GgmlType::kF16 : GgmlType::kF32;
    for (int64_t p = 0; p < tokens; ++p) {
      blocks[p] = f.seq[0]->BlockOf(p);
      slots[p] = f.seq[0]->SlotOf(p);
      QuantizeRow(type, k.data() + p * kv_dim,
                  f.cache->KeyPtr(blocks[p], 2, slots[p]), kv_dim);
      QuantizeRow(type, v.data() + p * kv_dim,
                  f.cache->ValuePtr(blocks[p], 2, slots[p]), kv_dim);
    }
    const int64_t nb = f.cache->options().num_blocks,
                  bb = f.layout.block_bytes();
    // Start the device pool from the CPU pool with layer 2 zeroed, so only
    // the write can make them equal.
    std::vector<uint8_t> pool(nb * bb);
    for (int64_t b = 0; b < nb; ++b) {
      std::memcpy(pool.data() + b * bb,
                  f.cache->BlockData(static_cast<kv::BlockId>(b)), bb);
      std::memset(pool.data() + b * bb + 2 * f.layout.layer_stride_bytes(), 0,
                  f.layout.layer_stride_bytes());
    }
    GpuBuffer dpool = Up(pool), dk = Up(k), dv = Up(v), db = Up(blocks),
              ds = Up(slots);
    ASSERT_EQ(
        GpuWriteKv(dpool.data(), f.layout, 2, dk.as<float>(), dv.as<float>(),
                   tokens, db.as<int32_t>(), ds.as<int32_t>(), stream_.get()),
        "");
    const std::vector<uint8_t> got = Down<uint8_t>(dpool, pool.size());
    for (int64_t b = 0; b < nb; ++b) {
      ASSERT_EQ(
          std::memcmp(got.data() + b * bb,
                      f.cache->BlockData(static_cast<kv::BlockId>(b)), bb),
          0)
          << "block " << b << (f16 ? " f16" : " f32");
    }
  }
}

TEST_F(ForwardOpsTest, ArgmaxMatchesGreedySampler) {
  std::mt19937 rng(9);
  const int64_t rows = 6, vocab = 32000;
  std::vector<float> logits = Normal(rows * vocab, rng, 4.0f);
  logits[1 * vocab + 10] = logits[1 * vocab + 31000] = 100.0f;  // tie: lower id
  for (int64_t i = 0; i < vocab; ++i) logits[2 * vocab + i] = -INFINITY;
  logits[2 * vocab + 5] = -1.0f;
  for (int64_t i = 0; i < vocab; ++i)
    logits[3 * vocab + i] = 0.5f;  // all equal
  GpuBuffer dl = Up(logits), dids = Zeros(rows * 4);
  ASSERT_EQ(
      GpuArgmax(dl.as<float>(), rows, vocab, dids.as<int32_t>(), stream_.get()),
      "");
  const std::vector<int32_t> got = Down<int32_t>(dids, rows);
  sampling::SamplingParams params;
  params.temperature = 0.0f;
  for (int64_t r = 0; r < rows; ++r) {
    sampling::Sampler sampler(params);
    std::vector<float> row(logits.begin() + r * vocab,
                           logits.begin() + (r + 1) * vocab);
    EXPECT_EQ(got[r], sampler.Sample(absl::MakeSpan(row), {}).token)
        << "row " << r;
  }
  EXPECT_EQ(got[1], 10);
  EXPECT_EQ(got[3], 0);
}

TEST_F(ForwardOpsTest, SoftmaxWithTemperature) {
  std::mt19937 rng(10);
  const int64_t rows = 3, vocab = 50000;
  const std::vector<float> logits = Normal(rows * vocab, rng, 3.0f);
  for (float temp : {1.0f, 0.7f, 2.0f}) {
    GpuBuffer dl = Up(logits), dp = Zeros(logits.size() * 4);
    ASSERT_EQ(GpuSoftmax(dl.as<float>(), rows, vocab, temp, dp.as<float>(),
                         stream_.get()),
              "");
    std::vector<float> want(logits.size());
    for (int64_t r = 0; r < rows; ++r) {
      const float* l = logits.data() + r * vocab;
      const float mx = *std::max_element(l, l + vocab);
      double sum = 0.0;
      for (int64_t i = 0; i < vocab; ++i) sum += std::exp((l[i] - mx) / temp);
      for (int64_t i = 0; i < vocab; ++i) {
        want[r * vocab + i] =
            static_cast<float>(std::exp((l[i] - mx) / temp) / sum);
      }
    }
    ExpectNear(want, Down<float>(dp, want.size()), 1e-4f, 1e-9f, "softmax");
  }
}

// Shapes are checked on the host before any launch, so this runs without a
// device too (not in a build without GPU kernels, where every call says so).
TEST(ForwardOps, ShapeErrorsNameTheOp) {
  if (std::string(GpuRuntimeName()) == "none") {
    GTEST_SKIP() << "this build has no GPU kernels";
  }
  EXPECT_NE(
      GpuMatMul(GgmlType::kQ5_0, nullptr, 1, 32, nullptr, 1, nullptr, nullptr)
          .find("GpuMatMul"),
      std::string::npos);
  EXPECT_NE(
      GpuMatMul(GgmlType::kQ4_K, nullptr, 4, 100, nullptr, 1, nullptr, nullptr)
          .find("multiple of 256"),
      std::string::npos);
  GpuRopeParams p;
  p.head_dim = 64;
  p.rope_dim = 65;
  EXPECT_NE(GpuRope(nullptr, 1, 1, nullptr, p, nullptr).find("GpuRope"),
            std::string::npos);
  GpuKvLayout layout{2, 2, 64, 16, true};
  GpuAttentionBatch b;
  b.num_heads = 3;  // not a multiple of num_kv_heads
  b.num_tokens = 1;
  EXPECT_NE(
      GpuPagedAttention(nullptr, layout, 0, b, nullptr).find("num_kv_heads"),
      std::string::npos);
  EXPECT_NE(GpuPagedAttention(nullptr, layout, 2, b, nullptr).find("layer 2"),
            std::string::npos);
}

// Not in the hip-cpu build, whose device (the host) is always there.
#if !defined(TRIPTYCH_TEST_HIP_CPU)
TEST(ForwardOps, NoDeviceErrorsAreClear) {
  std::string why;
  if (GpuDeviceCount(&why) > 0)
    GTEST_SKIP() << "a GPU is present; this test needs none";
  std::string error;
  GpuBuffer b = GpuBuffer::Allocate(1024, &error);
  EXPECT_EQ(b.data(), nullptr);
  EXPECT_FALSE(error.empty());
  GpuStream s = GpuStream::Create(&error);
  GTEST_LOG_(INFO) << GpuRuntimeName() << ": " << why << " / " << error;
}
#endif

}  // namespace
}  // namespace triptych::kernels::hip
