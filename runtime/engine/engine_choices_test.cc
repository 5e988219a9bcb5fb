// n > 1 choices: the prompt is computed once and the choices fork from its
// KV blocks; each choice samples with its own seed (seed + index).

#include <atomic>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/testing/conformance.h"
#include "gtest/gtest.h"
#include "runtime/engine/engine.h"
#include "runtime/engine/model_bundle.h"

namespace triptych::engine {
namespace {

struct Choice {
  std::vector<int32_t> tokens;
  std::string text;
  FinishReason finish = FinishReason::kNone;
  int finishes = 0;
  int64_t completion_tokens = 0;
};

struct Outputs {
  std::map<std::pair<std::string, int>, Choice> choices;  // (id, index)
  std::map<std::string, int> request_done;                // id -> count
  bool done_was_last = true;  // no output of a request after its request_done
  Choice& At(const std::string& id, int index) { return choices[{id, index}]; }
};

Outputs RunAll(Engine* engine) {
  Outputs run;
  for (int guard = 0; engine->HasWork() && guard < 100000; ++guard) {
    engine->WaitForWork(absl::Milliseconds(100));
    for (const TokenOutput& o : engine->Step()) {
      if (run.request_done[o.request_id] > 0) run.done_was_last = false;
      Choice& c = run.choices[{o.request_id, o.index}];
      if (o.token >= 0) c.tokens.push_back(o.token);
      c.text += o.text;
      if (o.finish != FinishReason::kNone) {
        c.finish = o.finish;
        ++c.finishes;
        c.completion_tokens = o.completion_tokens;
      }
      if (o.request_done) ++run.request_done[o.request_id];
    }
  }
  return run;
}

std::vector<int32_t> RandomTokens(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t = {1};
  for (int i = 1; i < n; ++i) t.push_back(3 + static_cast<int32_t>(rng() % (vocab - 3)));
  return t;
}

GenerationRequest Request(const std::string& id, std::vector<int32_t> prompt, int n,
                          float temperature, uint64_t seed) {
  GenerationRequest r;
  r.id = id;
  r.prompt = std::move(prompt);
  r.max_tokens = 24;
  r.n = n;
  r.ignore_eos = true;  // every choice runs to max_tokens
  r.sampling.temperature = temperature;
  r.sampling.seed = seed;
  return r;
}

class EngineChoices : public ::testing::Test {
 protected:
  void SetUp() override {
    TRIPTYCH_REQUIRE_CONFORMANCE(dir);
    auto bundle = ModelBundle::Load(dir + "/models/stories260K.gguf");
    ASSERT_TRUE(bundle.ok()) << bundle.status();
    bundle_ = *std::move(bundle);
  }
  std::unique_ptr<Engine> NewEngine(EngineOptions eo) {
    auto engine = Engine::Create(bundle_->model.get(), bundle_->tokenizer.get(), eo);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? *std::move(engine) : nullptr;
  }
  // One n=1 request run alone on a fresh engine.
  Choice Single(const GenerationRequest& r) {
    EngineOptions eo;
    eo.num_kv_blocks = 64;
    auto engine = NewEngine(eo);
    EXPECT_TRUE(engine->Add(r).ok());
    return RunAll(engine.get()).At(r.id, 0);
  }
  int vocab() const { return bundle_->model->config().vocab_size; }

  std::unique_ptr<ModelBundle> bundle_;
};

// n=4 greedy: every choice is token for token the n=1 greedy output, the
// prompt's tokens are computed once (a prompt ending inside a block, and
// one filling whole blocks), and every block comes back.
TEST_F(EngineChoices, GreedyChoicesEqualOneGreedyRequestAndPromptComputedOnce) {
  for (int len : {21, 32}) {
    SCOPED_TRACE(len);
    const std::vector<int32_t> prompt = RandomTokens(len, vocab(), 7);
    const Choice single = Single(Request("one", prompt, 1, 0.0f, 0));
    ASSERT_EQ(single.tokens.size(), 24u);
    for (bool prefix_cache : {false, true}) {
      EngineOptions eo;
      eo.num_kv_blocks = 64;
      eo.prefix_cache = prefix_cache;
      auto engine = NewEngine(eo);
      ASSERT_TRUE(engine->Add(Request("four", prompt, 4, 0.0f, 0)).ok());
      Outputs run = RunAll(engine.get());
      ASSERT_EQ(run.choices.size(), 4u);
      for (int i = 0; i < 4; ++i) {
        const Choice& c = run.At("four", i);
        EXPECT_EQ(c.tokens, single.tokens) << "choice " << i;
        EXPECT_EQ(c.text, single.text) << "choice " << i;
        EXPECT_EQ(c.finishes, 1);
        EXPECT_EQ(c.finish, FinishReason::kLength);
        EXPECT_EQ(c.completion_tokens, 24);
      }
      EXPECT_EQ(run.request_done["four"], 1);
      EXPECT_TRUE(run.done_was_last);
      const EngineStats st = engine->stats();
      EXPECT_EQ(st.prompt_tokens_computed, len);
      EXPECT_EQ(st.forked_choices, 3);
      EXPECT_EQ(st.decode_tokens_computed, 4 * 23);
      EXPECT_EQ(engine->kv_cache()->NumAvailableBlocks(), 64);
    }
  }
}

// n=4 sampled with a seed: each choice i is what an n=1 request with seed
// + i gives, the run is reproducible, and the four streams differ.
TEST_F(EngineChoices, SeededChoicesAreReproduciblePerIndexAndDistinct) {
  const std::vector<int32_t> prompt = RandomTokens(19, vocab(), 11);
  std::vector<std::vector<int32_t>> first;
  for (int attempt = 0; attempt < 2; ++attempt) {
    EngineOptions eo;
    eo.num_kv_blocks = 64;
    auto engine = NewEngine(eo);
    ASSERT_TRUE(engine->Add(Request("s", prompt, 4, 1.0f, 42)).ok());
    Outputs run = RunAll(engine.get());
    EXPECT_EQ(engine->stats().prompt_tokens_computed, 19);
    std::vector<std::vector<int32_t>> streams;
    for (int i = 0; i < 4; ++i) streams.push_back(run.At("s", i).tokens);
    if (attempt == 0) {
      first = streams;
    } else {
      EXPECT_EQ(streams, first);
    }
  }
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(first[i], Single(Request("one", prompt, 1, 1.0f, 42 + i)).tokens) << i;
    for (int j = 0; j < i; ++j) EXPECT_NE(first[i], first[j]) << i << " vs " << j;
  }
}

// With no block free for the copy of the partial last block, the choices
// that cannot fork wait and compute their prompt later; the outputs stay.
TEST_F(EngineChoices, ChoicesWithoutABlockToForkComputeTheirPromptLater) {
  const std::vector<int32_t> prompt = RandomTokens(20, vocab(), 3);
  GenerationRequest r = Request("tight", prompt, 4, 0.0f, 0);
  r.max_tokens = 10;  // 30 tokens: two blocks per choice
  const Choice single = Single(Request("one", prompt, 1, 0.0f, 0));
  EngineOptions eo;
  eo.num_kv_blocks = 3;
  auto engine = NewEngine(eo);
  ASSERT_TRUE(engine->Add(r).ok());
  Outputs run = RunAll(engine.get());
  for (int i = 0; i < 4; ++i) {
    const Choice& c = run.At("tight", i);
    EXPECT_EQ(c.tokens, std::vector<int32_t>(single.tokens.begin(), single.tokens.begin() + 10))
        << "choice " << i;
    EXPECT_EQ(c.finishes, 1);
  }
  EXPECT_EQ(run.request_done["tight"], 1);
  EXPECT_EQ(engine->kv_cache()->NumAvailableBlocks(), 3);
}

// Cancelling before the prompt is computed ends every choice.
TEST_F(EngineChoices, CancelBeforeTheForkEndsEveryChoice) {
  EngineOptions eo;
  eo.num_kv_blocks = 64;
  auto engine = NewEngine(eo);
  ASSERT_TRUE(engine->Add(Request("c", RandomTokens(40, vocab(), 5), 3, 0.0f, 0)).ok());
  engine->Cancel("c");
  Outputs run = RunAll(engine.get());
  ASSERT_EQ(run.choices.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(run.At("c", i).finish, FinishReason::kCancelled);
    EXPECT_EQ(run.At("c", i).finishes, 1);
  }
  EXPECT_EQ(run.request_done["c"], 1);
  // The id is free again.
  EXPECT_TRUE(engine->Add(Request("c", RandomTokens(8, vocab(), 5), 2, 0.0f, 0)).ok());
  RunAll(engine.get());
  EXPECT_EQ(engine->kv_cache()->NumAvailableBlocks(), 64);
}

TEST_F(EngineChoices, RejectsOutOfRangeN) {
  EngineOptions eo;
  auto engine = NewEngine(eo);
  EXPECT_EQ(engine->Add(Request("a", {1, 5}, 0, 0.0f, 0)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->Add(Request("b", {1, 5}, kMaxChoices + 1, 0.0f, 0)).code(),
            absl::StatusCode::kInvalidArgument);
}

// Disaggregated: another node computes the prompt once (one job) and the
// choices fork from the KV it wrote; nothing of the prompt runs here.
TEST_F(EngineChoices, RemotePrefillOnceThenForkHere) {
  const std::vector<int32_t> prompt = RandomTokens(37, vocab(), 9);
  const Choice single = Single(Request("one", prompt, 1, 0.0f, 0));
  std::atomic<int> jobs{0};
  std::vector<std::thread> threads;
  Engine* decode = nullptr;
  const model::Model* model = bundle_->model.get();
  EngineOptions eo;
  eo.num_kv_blocks = 64;
  eo.remote_prefill = [&](RemotePrefillJob job, RemotePrefillDone done) {
    threads.emplace_back([&, job = std::move(job), done = std::move(done)] {
      auto cache = kv::KvCache::Create(model->KvOptions(64, 16, kv::KvDtype::kF16));
      kv::SequenceKv seq(cache->get());
      ASSERT_TRUE(seq.Reserve(static_cast<int64_t>(job.tokens.size())).ok());
      ThreadPool pool(1);
      model::SequenceBatch b;
      b.tokens = job.tokens;
      b.kv = &seq;
      auto logits = model->Forward({&b, 1}, cache->get(), &pool);
      std::vector<uint8_t> bytes(seq.blocks().size() * (*cache)->block_bytes());
      ASSERT_TRUE((*cache)->ExportBlocks(seq.blocks(), absl::MakeSpan(bytes)).ok());
      ASSERT_TRUE(decode->kv_cache()->ImportBlocks(job.blocks, bytes).ok());
      ++jobs;
      done(std::move(logits));
    });
  };
  auto engine = NewEngine(eo);
  decode = engine.get();
  GenerationRequest r = Request("d", prompt, 3, 0.0f, 0);
  r.prefill_address = "prefill-0";
  ASSERT_TRUE(engine->Add(r).ok());
  Outputs run = RunAll(engine.get());
  for (auto& t : threads) t.join();
  EXPECT_EQ(jobs.load(), 1);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(run.At("d", i).tokens, single.tokens) << i;
  const EngineStats st = engine->stats();
  EXPECT_EQ(st.prompt_tokens_computed, 0);
  EXPECT_EQ(st.remote_prefill_tokens, 37);
  EXPECT_EQ(st.forked_choices, 2);
  EXPECT_EQ(engine->kv_cache()->NumAvailableBlocks(), 64);
}

}  // namespace
}  // namespace triptych::engine
