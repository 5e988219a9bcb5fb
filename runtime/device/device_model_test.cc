// DeviceModel (the forward pass on the build's GPU runtime; in CI the HIP
// CPU Runtime) against the CPU Model, and through the engine: batched decode
// on the device equals each sequence alone.
//
// Tolerances: logits of the device model vs the CPU model, per weight type,
// relative to the largest |logit| of the row: F32 1e-4 (summation order),
// F16 / Q8_0 / Q4_0 / Q4_K / Q6_K 3e-2 (the CPU rounds activations to the
// weight's VecDotType before the dot product, the device keeps floats).

#include "runtime/device/device_model.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "common/testing/conformance.h"
#include "gtest/gtest.h"
#include "runtime/engine/engine.h"
#include "runtime/engine/model_bundle.h"

namespace triptych::device {
namespace {

std::unique_ptr<Device> Gpu() {
  auto d = SelectDevice("gpu");
  EXPECT_TRUE(d.ok()) << d.status();
  return d.ok() ? *std::move(d) : nullptr;
}

// GPU tests need a device; the hip-cpu build always has one, so they fail
// rather than skip there (and in CI, which builds hip-cpu).
#define REQUIRE_GPU(dev)                                                       \
  auto dev = Probe(DeviceKind::kGpu).device_count > 0 ||                       \
                     std::string(GpuRuntime()) == "hip-cpu"                    \
                 ? Gpu()                                                       \
                 : nullptr;                                                    \
  if (dev == nullptr) {                                                        \
    if (std::string(GpuRuntime()) == "hip-cpu") FAIL() << "no hip-cpu device"; \
    GTEST_SKIP() << "no GPU: " << Probe(DeviceKind::kGpu).why_unavailable;     \
  }

std::vector<int32_t> Tokens(int n, int64_t vocab, int seed) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) {
    t.push_back(
        static_cast<int32_t>(3 + (i * 7919 + seed * 104729) % (vocab - 3)));
  }
  return t;
}

// One prefill chunk of two sequences, then a second chunk, then a decode
// step of both: the device's logits follow the CPU's.
class DeviceModelVsCpu : public ::testing::TestWithParam<const char*> {};

TEST_P(DeviceModelVsCpu, PrefillChunksAndBatchedDecode) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  REQUIRE_GPU(dev);
  const std::string name = GetParam();
  auto bundle = engine::ModelBundle::Load(dir + "/models/" + name);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  const model::Model& cpu = *(*bundle)->model;
  auto gpu = DeviceModel::Create(cpu, *dev);
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  EXPECT_GT((*gpu)->weight_bytes(), 0);
  const float tol = name.find("F32") != std::string::npos ? 1e-4f : 3e-2f;

  kv::KvCacheOptions ko = cpu.KvOptions(32, 16, kv::KvDtype::kF16);
  ko.enable_prefix_cache = false;
  auto cpu_cache = model::NewKvCache(cpu, ko);
  auto gpu_cache = model::NewKvCache(**gpu, ko);
  ASSERT_TRUE(cpu_cache.ok() && gpu_cache.ok());
  ThreadPool pool(1);
  const int64_t vocab = cpu.config().vocab_size;
  const std::vector<int32_t> a = Tokens(40, vocab, 1), b = Tokens(23, vocab, 2);
  auto run = [&](kv::KvCache* cache, const model::ForwardModel& m) {
    std::vector<std::vector<float>> out;
    kv::SequenceKv ka(cache), kb(cache);
    EXPECT_TRUE(ka.Reserve(41).ok());
    EXPECT_TRUE(kb.Reserve(24).ok());
    // Chunk 1: a[0, 30) and b[0, 23) (all logits for b); chunk 2: a[30, 40).
    std::vector<model::SequenceBatch> c1(2);
    c1[0].tokens = absl::MakeConstSpan(a).subspan(0, 30);
    c1[0].kv = &ka;
    c1[1].tokens = b;
    c1[1].kv = &kb;
    c1[1].all_logits = true;
    auto l1 = m.Forward(c1, cache, &pool);
    EXPECT_TRUE(l1.ok()) << l1.status();
    std::vector<model::SequenceBatch> c2(1);
    c2[0].tokens = absl::MakeConstSpan(a).subspan(30, 10);
    c2[0].start_pos = 30;
    c2[0].kv = &ka;
    auto l2 = m.Forward(c2, cache, &pool);
    EXPECT_TRUE(l2.ok()) << l2.status();
    const std::vector<int32_t> next = {5, 9};
    std::vector<model::SequenceBatch> d(2);
    d[0].tokens = absl::MakeConstSpan(next).subspan(0, 1);
    d[0].start_pos = 40;
    d[0].kv = &ka;
    d[1].tokens = absl::MakeConstSpan(next).subspan(1, 1);
    d[1].start_pos = 23;
    d[1].kv = &kb;
    auto l3 = m.Forward(d, cache, &pool);
    EXPECT_TRUE(l3.ok()) << l3.status();
    if (l1.ok()) out.push_back(*l1);
    if (l2.ok()) out.push_back(*l2);
    if (l3.ok()) out.push_back(*l3);
    return out;
  };
  const auto want = run(cpu_cache->get(), cpu);
  const auto got = run(gpu_cache->get(), **gpu);
  ASSERT_EQ(want.size(), 3u);
  ASSERT_EQ(got.size(), 3u);
  const size_t rows[3] = {1 + 23, 1, 2};
  for (int call = 0; call < 3; ++call) {
    ASSERT_EQ(want[call].size(), rows[call] * vocab);
    ASSERT_EQ(got[call].size(), want[call].size());
    for (size_t r = 0; r < rows[call]; ++r) {
      const float* w = want[call].data() + r * vocab;
      const float* g = got[call].data() + r * vocab;
      float scale = 0.0f, worst = 0.0f;
      for (int64_t i = 0; i < vocab; ++i)
        scale = std::max(scale, std::fabs(w[i]));
      for (int64_t i = 0; i < vocab; ++i)
        worst = std::max(worst, std::fabs(w[i] - g[i]));
      EXPECT_LE(worst, tol * scale) << name << " call " << call << " row " << r;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Types, DeviceModelVsCpu,
    ::testing::Values("stories260K.gguf", "stories260K-F16.gguf",
                      "rand-llama-256-F32.gguf", "rand-llama-256-Q8_0.gguf",
                      "rand-llama-256-Q4_0.gguf", "rand-llama-256-Q4_K_M.gguf",
                      "rand-llama-256-Q6_K.gguf"),
    [](const auto& info) {
      std::string n = info.param;
      n = n.substr(0, n.find('.'));
      for (char& ch : n) {
        if (ch == '-') ch = '_';
      }
      return n;
    });

// A cache whose pool is host memory is refused, not written through.
TEST(DeviceModel, RefusesAHostCache) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  REQUIRE_GPU(dev);
  auto bundle = engine::ModelBundle::Load(dir + "/models/stories260K.gguf");
  ASSERT_TRUE(bundle.ok());
  auto gpu = DeviceModel::Create(*(*bundle)->model, *dev);
  ASSERT_TRUE(gpu.ok());
  auto cache = kv::KvCache::Create((*gpu)->KvOptions(4, 16, kv::KvDtype::kF16));
  ASSERT_TRUE(cache.ok());
  kv::SequenceKv kv(cache->get());
  ASSERT_TRUE(kv.Reserve(2).ok());
  const std::vector<int32_t> t = {1, 2};
  model::SequenceBatch sb;
  sb.tokens = t;
  sb.kv = &kv;
  ThreadPool pool(1);
  auto r = (*gpu)->Forward({&sb, 1}, cache->get(), &pool);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
}

// The per-layer callback runs in layer order, while Forward is still on the
// call, and when it runs that layer's KV is complete on the device: what
// the pool's copy stream reads then equals the layer after the whole pass.
// The pool's CopyOut / CopyIn round-trip, and a device pool is
// host-accessible only with hip-cpu.
TEST(DeviceModel, LayerCallbacksSeeCompletedKvAndPoolCopiesRoundTrip) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  REQUIRE_GPU(dev);
  auto bundle = engine::ModelBundle::Load(dir + "/models/stories260K.gguf");
  ASSERT_TRUE(bundle.ok());
  auto gpu = DeviceModel::Create(*(*bundle)->model, *dev);
  ASSERT_TRUE(gpu.ok());
  kv::KvCacheOptions ko = (*gpu)->KvOptions(8, 16, kv::KvDtype::kF16);
  ko.enable_prefix_cache = false;
  auto cache = model::NewKvCache(**gpu, ko);
  ASSERT_TRUE(cache.ok()) << cache.status();
  kv::KvCache* c = cache->get();
  EXPECT_EQ(c->host_accessible(), std::string(GpuRuntime()) == "hip-cpu");
  const int64_t layers = ko.num_layers;
  const uint64_t bb = static_cast<uint64_t>(c->block_bytes());
  const uint64_t stride = static_cast<uint64_t>(c->layer_stride_bytes());
  kv::SequenceKv kv(c);
  ASSERT_TRUE(kv.Reserve(40).ok());
  const std::vector<int32_t> t =
      Tokens(40, (*bundle)->model->config().vocab_size, 3);
  model::SequenceBatch sb;
  sb.tokens = t;
  sb.kv = &kv;
  // At layer l's callback: layer l of the three blocks, copied out.
  std::vector<int64_t> order;
  std::vector<std::vector<uint8_t>> at_callback(layers);
  model::LayerKvDoneFn on_layer = [&](int64_t l) {
    order.push_back(l);
    std::vector<uint8_t>& out = at_callback[l];
    out.resize(3 * stride);
    std::vector<kv::PoolCopy> copies;
    for (int b = 0; b < 3; ++b) {
      copies.push_back(
          {kv.blocks()[b] * bb + l * stride, out.data() + b * stride, stride});
    }
    EXPECT_TRUE(c->CopyOut(copies).ok());
  };
  ThreadPool pool(1);
  auto logits = (*gpu)->Forward({&sb, 1}, c, &pool, &on_layer);
  ASSERT_TRUE(logits.ok()) << logits.status();
  ASSERT_EQ(static_cast<int64_t>(order.size()), layers);
  for (int64_t l = 0; l < layers; ++l) EXPECT_EQ(order[l], l);
  std::vector<uint8_t> all(3 * bb);
  ASSERT_TRUE(c->ExportBlocks(absl::MakeConstSpan(kv.blocks()).subspan(0, 3),
                              absl::MakeSpan(all))
                  .ok());
  for (int64_t l = 0; l < layers; ++l) {
    for (int b = 0; b < 3; ++b) {
      const uint8_t* want = all.data() + b * bb + l * stride;
      const uint8_t* got = at_callback[l].data() + b * stride;
      EXPECT_TRUE(std::equal(got, got + stride, want))
          << "layer " << l << " block " << b;
      // Written: some element of the used slots is non-zero.
      EXPECT_TRUE(
          std::any_of(want, want + stride, [](uint8_t x) { return x != 0; }));
    }
  }
  // CopyIn then CopyOut of one block returns the bytes.
  std::vector<uint8_t> pattern(bb), back(bb);
  for (uint64_t i = 0; i < bb; ++i)
    pattern[i] = static_cast<uint8_t>(i * 31 + 7);
  const uint64_t off = static_cast<uint64_t>(kv.blocks()[2]) * bb;
  ASSERT_TRUE(c->CopyIn({{off, pattern.data(), bb}}).ok());
  ASSERT_TRUE(c->CopyOut({{off, back.data(), bb}}).ok());
  EXPECT_EQ(back, pattern);
  EXPECT_EQ(c->CopyOut({{8 * bb - 1, back.data(), 2}}).code(),
            absl::StatusCode::kInvalidArgument);
}

// Eight prompts decoded greedily in one continuous batch on the device (with
// chunked prefill mixed in) give, token for token, what each gives alone.
TEST(DeviceModel, BatchedDecodeEqualsAlone) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  REQUIRE_GPU(dev);
  auto bundle = engine::ModelBundle::Load(dir + "/models/stories260K.gguf");
  ASSERT_TRUE(bundle.ok());
  auto gpu = DeviceModel::Create(*(*bundle)->model, *dev);
  ASSERT_TRUE(gpu.ok());
  const auto& tok = *(*bundle)->tokenizer;
  const std::vector<std::string> prompts = {"Once upon a time",
                                            "Lily and Tom went to the park",
                                            "The cat sat on",
                                            "One day, a little boy named Max",
                                            "The sun was shining and the birds",
                                            "Tim had a red",
                                            "The dog",
                                            "Mom said"};
  auto request = [&](int i) {
    engine::GenerationRequest r;
    r.id = std::to_string(i);
    r.prompt = tok.Encode(prompts[i], true, false);
    r.max_tokens = 32;
    r.sampling.temperature = 0.0f;
    return r;
  };
  auto run = [&](engine::Engine* e) {
    std::map<std::string, std::vector<int32_t>> out;
    while (e->HasWork()) {
      for (const auto& o : e->Step()) {
        EXPECT_NE(o.finish, engine::FinishReason::kError) << o.error;
        if (o.token >= 0) out[o.request_id].push_back(o.token);
      }
    }
    return out;
  };
  engine::EngineOptions eo;
  eo.num_kv_blocks = 128;
  eo.max_running = 8;
  eo.prefix_cache = false;
  std::map<std::string, std::vector<int32_t>> alone;
  for (int i = 0; i < 8; ++i) {
    auto e = engine::Engine::Create(gpu->get(), &tok, eo);
    ASSERT_TRUE(e.ok()) << e.status();
    ASSERT_TRUE((*e)->Add(request(i)).ok());
    alone[std::to_string(i)] = run(e->get())[std::to_string(i)];
  }
  eo.max_batch_tokens = 24;  // chunked prefill mixed with decodes
  auto e = engine::Engine::Create(gpu->get(), &tok, eo);
  ASSERT_TRUE(e.ok());
  for (int i = 0; i < 8; ++i) ASSERT_TRUE((*e)->Add(request(i)).ok());
  auto batched = run(e->get());
  for (int i = 0; i < 8; ++i) {
    const std::string id = std::to_string(i);
    EXPECT_FALSE(alone[id].empty());
    EXPECT_EQ(batched[id], alone[id]) << "prompt " << i;
  }
}

}  // namespace
}  // namespace triptych::device
