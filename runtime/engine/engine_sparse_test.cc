// Engine-level sparse attention: node options, per-request override.

#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/testing/conformance.h"
#include "gtest/gtest.h"
#include "runtime/engine/engine.h"
#include "runtime/engine/model_bundle.h"

namespace triptych::engine {
namespace {

std::map<std::string, std::vector<int32_t>> RunAll(Engine* engine) {
  std::map<std::string, std::vector<int32_t>> out;
  for (int guard = 0; engine->HasWork() && guard < 100000; ++guard) {
    for (const TokenOutput& o : engine->Step()) {
      if (o.token >= 0) out[o.request_id].push_back(o.token);
    }
  }
  return out;
}

GenerationRequest Request(const std::string& id, std::optional<int64_t> budget) {
  GenerationRequest r;
  r.id = id;
  std::mt19937 rng(3);
  r.prompt.push_back(1);
  for (int i = 0; i < 100; ++i) r.prompt.push_back(static_cast<int32_t>(3 + rng() % 500));
  r.max_tokens = 12;
  r.sampling.temperature = 0.0f;
  r.ignore_eos = true;
  r.sparse_budget = budget;
  return r;
}

TEST(EngineSparse, RequestOverrideSelectsDenseOrSparse) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  auto bundle = ModelBundle::Load(dir + "/models/stories260K.gguf");
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EngineOptions dense_opts;
  auto dense = Engine::Create((*bundle)->model.get(), (*bundle)->tokenizer.get(), dense_opts);
  ASSERT_TRUE(dense.ok());
  const absl::Status added = (*dense)->Add(Request("a", std::nullopt));
  ASSERT_TRUE(added.ok()) << added;
  const auto ref = RunAll(dense->get())["a"];
  ASSERT_EQ(ref.size(), 12u);

  EngineOptions sparse_opts;
  sparse_opts.sparse_attention.budget_tokens = 32;
  sparse_opts.sparse_attention.dense_layers = 0;
  sparse_opts.sparse_attention.recent_blocks = 1;
  auto sparse = Engine::Create((*bundle)->model.get(), (*bundle)->tokenizer.get(), sparse_opts);
  ASSERT_TRUE(sparse.ok());
  ASSERT_TRUE((*sparse)->Add(Request("dense", 0)).ok());
  ASSERT_TRUE((*sparse)->Add(Request("wide", 4096)).ok());
  ASSERT_TRUE((*sparse)->Add(Request("node", std::nullopt)).ok());
  auto got = RunAll(sparse->get());
  EXPECT_EQ(got["dense"], ref);  // override 0: dense
  EXPECT_EQ(got["wide"], ref);   // budget above the context: dense
  EXPECT_EQ(got["node"].size(), 12u);

  EXPECT_EQ((*sparse)->Add(Request("bad", -1)).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace triptych::engine
