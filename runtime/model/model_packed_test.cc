// A model whose weights are packed at load (kernels/packed.h) computes the
// same greedy tokens and the same logits up to float summation order as the
// same model on the row-major layout: a prompt with logits for every token,
// then greedy decode steps, for every quantized type, with rows that do not
// fill the last 8-row group. (The packed kernels are bit-exact with the
// scalar reference, kernels/packed_test.cc; the row-major AVX2 dots sum
// lanes in another order; a last-bit difference can flip the rounding of
// an activation quant, so a few rows differ by up to ~1.5% of the largest
// logit. With the row-major path forced to the scalar kernels the two models
// were checked to agree bit for bit.)

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "gtest/gtest.h"
#include "kernels/packed.h"
#include "runtime/gguf/gguf_reader.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/model/model.h"
#include "tools/gen_model/gen_model.h"

namespace triptych::model {
namespace {

using kernels::GgmlType;

// Prompt logits followed by `steps` greedy steps' logits.
std::vector<float> PromptAndDecode(const Model& model, ThreadPool* pool, int steps) {
  auto cache = kv::KvCache::Create(model.KvOptions(16, 16, kv::KvDtype::kF16));
  EXPECT_TRUE(cache.ok());
  kv::SequenceKv seq(cache->get());
  std::vector<int32_t> prompt;
  for (int i = 0; i < 37; ++i) prompt.push_back((i * 53 + 7) % 300);
  EXPECT_TRUE(seq.Reserve(prompt.size() + steps).ok());
  SequenceBatch b;
  b.tokens = prompt;
  b.kv = &seq;
  b.all_logits = true;
  auto logits = model.Forward({&b, 1}, cache->get(), pool);
  EXPECT_TRUE(logits.ok()) << logits.status();
  std::vector<float> all = *logits;
  const int64_t vocab = model.config().vocab_size;
  int32_t next = static_cast<int32_t>(
      std::max_element(all.end() - vocab, all.end()) - (all.end() - vocab));
  for (int s = 0; s < steps; ++s) {
    SequenceBatch d;
    d.tokens = {&next, 1};
    d.start_pos = static_cast<int64_t>(prompt.size()) + s;
    d.kv = &seq;
    auto step = model.Forward({&d, 1}, cache->get(), pool);
    EXPECT_TRUE(step.ok()) << step.status();
    all.insert(all.end(), step->begin(), step->end());
    next = static_cast<int32_t>(std::max_element(step->begin(), step->end()) -
                                step->begin());
  }
  return all;
}

class ModelPackedTest : public ::testing::TestWithParam<GgmlType> {};

TEST_P(ModelPackedTest, PackedWeightsGiveIdenticalLogits) {
  const std::string path =
      (std::filesystem::temp_directory_path() /
       ("model_packed_test_" + std::to_string(::getpid()) + ".gguf"))
          .string();
  tools::GenModelOptions g;
  g.out = path;
  g.dim = 256;
  g.layers = 2;
  g.heads = 4;
  g.kv_heads = 2;
  g.ffn = 512;
  g.vocab = 300;  // 300 output rows: the last packed group is partial
  g.type = GetParam();
  g.weight_std = 0.1f;
  ASSERT_TRUE(tools::WriteRandomLlama(g).ok());
  auto file = gguf::GgufFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  LoadOptions packed_opts, plain_opts;
  plain_opts.pack_weights = false;
  auto packed = Model::Load(**file, packed_opts);
  auto plain = Model::Load(**file, plain_opts);
  ASSERT_TRUE(packed.ok() && plain.ok());
  if (!kernels::UsePackedLayout(GetParam())) {
    std::printf("note: this CPU does not use the packed layout for %s; both "
                "models are row-major\n",
                kernels::TypeName(GetParam()).data());
  }
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    const std::vector<float> a = PromptAndDecode(**packed, &pool, 6);
    const std::vector<float> b = PromptAndDecode(**plain, &pool, 6);
    ASSERT_EQ(a.size(), b.size());
    const int64_t vocab = (*packed)->config().vocab_size;
    for (size_t row = 0; row < a.size() / vocab; ++row) {
      const float* x = a.data() + row * vocab;
      const float* y = b.data() + row * vocab;
      float mag = 0;
      for (int64_t i = 0; i < vocab; ++i) mag = std::max(mag, std::fabs(y[i]));
      for (int64_t i = 0; i < vocab; ++i) {
        ASSERT_NEAR(x[i], y[i], 5e-2f * mag)
            << "threads=" << threads << " row " << row << " token " << i;
      }
      EXPECT_EQ(std::max_element(x, x + vocab) - x, std::max_element(y, y + vocab) - y)
          << "greedy token differs, threads=" << threads << " row " << row;
    }
  }
  std::filesystem::remove(path);
}

INSTANTIATE_TEST_SUITE_P(Types, ModelPackedTest,
                         ::testing::Values(GgmlType::kQ8_0, GgmlType::kQ4_0,
                                           GgmlType::kQ4_K, GgmlType::kQ6_K),
                         [](const auto& info) {
                           return std::string(kernels::TypeName(info.param));
                         });

}  // namespace
}  // namespace triptych::model
