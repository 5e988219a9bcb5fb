#include "runtime/engine/engine.h"

#include <atomic>
#include <fstream>
#include <thread>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/testing/conformance.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/engine/model_bundle.h"

namespace triptych::engine {
namespace {

struct ReferenceLine {
  std::string model;
  std::string prompt;
  std::string output;
};

std::vector<ReferenceLine> ReadReference(const std::string& dir) {
  std::ifstream in(dir + "/reference/stories260K-greedy.jsonl");
  std::vector<ReferenceLine> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    lines.push_back({j["model"].get<std::string>(), j["prompt"].get<std::string>(), j["output"].get<std::string>()});
  }
  return lines;
}

struct Generated {
  std::vector<int32_t> tokens;
  std::string text;
  FinishReason finish = FinishReason::kNone;
  int64_t cached_prompt_tokens = 0;
};

// Runs the engine until every request has finished.
std::map<std::string, Generated> RunToCompletion(Engine* engine) {
  std::map<std::string, Generated> results;
  for (int guard = 0; engine->HasWork() && guard < 100000; ++guard) {
    for (const TokenOutput& o : engine->Step()) {
      Generated& g = results[o.request_id];
      if (o.token >= 0) g.tokens.push_back(o.token);
      g.text += o.text;
      if (o.finish != FinishReason::kNone) {
        g.finish = o.finish;
        g.cached_prompt_tokens = o.cached_prompt_tokens;
      }
    }
  }
  return results;
}

GenerationRequest Greedy(const std::string& id, std::vector<int32_t> prompt,
                         int64_t max_tokens) {
  GenerationRequest r;
  r.id = id;
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0.0f;
  return r;
}

class StoriesConformance : public ::testing::TestWithParam<std::string> {};

// Every reference line, generated greedily by the engine, reproduces the
// independent engine's text exactly.
TEST_P(StoriesConformance, GreedyOutputMatchesReference) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  auto bundle = ModelBundle::Load(dir + "/models/" + GetParam());
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  std::vector<ReferenceLine> lines;
  for (const auto& l : ReadReference(dir)) {
    if (l.model == GetParam()) lines.push_back(l);
  }
  ASSERT_EQ(lines.size(), 10u);
  EngineOptions eo;
  eo.num_kv_blocks = 64;
  eo.max_running = 1;
  auto engine = Engine::Create((*bundle)->model.get(), (*bundle)->tokenizer.get(), eo);
  ASSERT_TRUE(engine.ok()) << engine.status();
  for (size_t i = 0; i < lines.size(); ++i) {
    auto ids = (*bundle)->tokenizer->Encode(lines[i].prompt, true, false);
    ASSERT_TRUE((*engine)->Add(Greedy("r" + std::to_string(i), ids, 48)).ok());
    auto results = RunToCompletion(engine->get());
    EXPECT_EQ(lines[i].prompt + results["r" + std::to_string(i)].text, lines[i].output)
        << "line " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, StoriesConformance,
                         ::testing::Values("stories260K.gguf", "stories260K-F16.gguf"),
                         [](const auto& info) {
                           return info.param == "stories260K.gguf" ? std::string("F32")
                                                                   : std::string("F16");
                         });

// Eight different prompts decoded in one continuous batch give, token for
// token, what each gives alone.
TEST(Engine, BatchedDecodeEqualsAlone) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  auto bundle = ModelBundle::Load(dir + "/models/stories260K.gguf");
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  const auto lines = ReadReference(dir);
  EngineOptions eo;
  eo.num_kv_blocks = 128;
  eo.max_running = 8;
  eo.prefix_cache = false;  // each run computes everything itself
  std::map<std::string, Generated> alone;
  for (int i = 0; i < 8; ++i) {
    auto engine = Engine::Create((*bundle)->model.get(), (*bundle)->tokenizer.get(), eo);
    ASSERT_TRUE(engine.ok());
    auto ids = (*bundle)->tokenizer->Encode(lines[i].prompt, true, false);
    ASSERT_TRUE((*engine)->Add(Greedy(std::to_string(i), ids, 40)).ok());
    alone[std::to_string(i)] = RunToCompletion(engine->get())[std::to_string(i)];
  }
  eo.max_batch_tokens = 24;  // forces chunked prefill mixed with decodes
  auto engine = Engine::Create((*bundle)->model.get(), (*bundle)->tokenizer.get(), eo);
  ASSERT_TRUE(engine.ok());
  for (int i = 0; i < 8; ++i) {
    auto ids = (*bundle)->tokenizer->Encode(lines[i].prompt, true, false);
    ASSERT_TRUE((*engine)->Add(Greedy(std::to_string(i), ids, 40)).ok());
  }
  auto batched = RunToCompletion(engine->get());
  for (int i = 0; i < 8; ++i) {
    const std::string id = std::to_string(i);
    EXPECT_EQ(batched[id].tokens, alone[id].tokens) << "prompt " << i;
    EXPECT_FALSE(alone[id].tokens.empty());
  }
}

std::vector<int32_t> RandomTokens(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back(3 + static_cast<int32_t>(rng() % (vocab - 3)));
  return t;
}

// A second request sharing a 200-token prefix attaches the cached blocks and
// generates exactly what a cold run generates.
TEST(Engine, SharedPrefixReusesCachedBlocks) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  auto bundle = ModelBundle::Load(dir + "/models/rand-llama-256-F32.gguf");
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  const int vocab = static_cast<int>((*bundle)->model->config().vocab_size);
  std::vector<int32_t> prefix = RandomTokens(200, vocab, 7);
  prefix.insert(prefix.begin(), 1);
  std::vector<int32_t> first = prefix, second = prefix;
  for (int32_t t : RandomTokens(10, vocab, 8)) first.push_back(t);
  for (int32_t t : RandomTokens(12, vocab, 9)) second.push_back(t);

  EngineOptions eo;
  eo.num_kv_blocks = 64;
  auto cold = Engine::Create((*bundle)->model.get(), (*bundle)->tokenizer.get(), eo);
  ASSERT_TRUE(cold.ok());
  ASSERT_TRUE((*cold)->Add(Greedy("b", second, 16)).ok());
  const Generated reference = RunToCompletion(cold->get())["b"];
  EXPECT_EQ(reference.cached_prompt_tokens, 0);

  auto warm = Engine::Create((*bundle)->model.get(), (*bundle)->tokenizer.get(), eo);
  ASSERT_TRUE(warm.ok());
  ASSERT_TRUE((*warm)->Add(Greedy("a", first, 4)).ok());
  RunToCompletion(warm->get());
  const int64_t computed_before = (*warm)->stats().prompt_tokens_computed;
  ASSERT_TRUE((*warm)->Add(Greedy("b", second, 16)).ok());
  const Generated reused = RunToCompletion(warm->get())["b"];
  // 201 shared tokens = 12 full blocks of 16.
  EXPECT_EQ(reused.cached_prompt_tokens, 192);
  EXPECT_EQ((*warm)->stats().prompt_tokens_computed - computed_before,
            static_cast<int64_t>(second.size()) - 192);
  EXPECT_GE((*warm)->kv_cache()->stats().prefix_hit_blocks, 12);
  EXPECT_EQ(reused.tokens, reference.tokens);
}

// With too few KV blocks for all sequences at once, the engine preempts and
// recomputes, and the outputs still equal the unconstrained run.
TEST(Engine, PreemptionByRecomputeKeepsOutputs) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  auto bundle = ModelBundle::Load(dir + "/models/stories260K.gguf");
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  const auto lines = ReadReference(dir);
  auto run = [&](int64_t blocks, EngineStats* stats) {
    EngineOptions eo;
    eo.num_kv_blocks = blocks;
    eo.max_running = 4;
    eo.prefix_cache = false;
    auto engine = Engine::Create((*bundle)->model.get(), (*bundle)->tokenizer.get(), eo);
    EXPECT_TRUE(engine.ok());
    for (int i = 0; i < 4; ++i) {
      auto ids = (*bundle)->tokenizer->Encode(lines[i].prompt, true, false);
      EXPECT_TRUE((*engine)->Add(Greedy(std::to_string(i), ids, 60)).ok());
    }
    auto results = RunToCompletion(engine->get());
    *stats = (*engine)->stats();
    EXPECT_EQ((*engine)->kv_cache()->NumAvailableBlocks(), blocks);
    return results;
  };
  EngineStats roomy_stats, tight_stats;
  auto roomy = run(64, &roomy_stats);
  auto tight = run(10, &tight_stats);
  EXPECT_EQ(roomy_stats.preemptions, 0);
  EXPECT_GT(tight_stats.preemptions, 0);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(tight[std::to_string(i)].tokens, roomy[std::to_string(i)].tokens) << i;
  }
}

TEST(Engine, RejectsBadRequests) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  auto bundle = ModelBundle::Load(dir + "/models/stories260K.gguf");
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EngineOptions eo;
  eo.num_kv_blocks = 16;
  auto engine = Engine::Create((*bundle)->model.get(), (*bundle)->tokenizer.get(), eo);
  ASSERT_TRUE(engine.ok());
  EXPECT_EQ((*engine)->Add(Greedy("a", {}, 4)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*engine)->Add(Greedy("a", {1, 99999}, 4)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*engine)->Add(Greedy("a", std::vector<int32_t>(200, 5), 4)).code(),
            absl::StatusCode::kInvalidArgument);  // past the 128-token context
  GenerationRequest bad = Greedy("a", {1, 5}, 4);
  bad.sampling.temperature = -1.0f;
  EXPECT_EQ((*engine)->Add(bad).code(), absl::StatusCode::kInvalidArgument);
  GenerationRequest preserved = Greedy("a", {1, 5}, 4);
  preserved.preserved_tokens = {1, 512};  // out of the 512-token vocabulary
  EXPECT_EQ((*engine)->Add(preserved).code(),
            absl::StatusCode::kInvalidArgument);
  preserved.preserved_tokens = std::vector<int32_t>(kMaxPreservedTokens + 1, 1);
  EXPECT_EQ((*engine)->Add(preserved).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE((*engine)->Add(Greedy("a", {1, 5}, 4)).ok());
  EXPECT_EQ((*engine)->Add(Greedy("a", {1, 5}, 4)).code(), absl::StatusCode::kAlreadyExists);
}

// Preserved tokens: a control token the request names is kept in the text
// (stories260K's only sampleable control token is BOS, forced here with a
// logit bias); without it the same tokens give no text.
TEST(Engine, PreservedControlTokensStayInTheText) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  auto bundle = ModelBundle::Load(dir + "/models/stories260K.gguf");
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EngineOptions eo;
  eo.num_kv_blocks = 16;
  auto engine =
      Engine::Create((*bundle)->model.get(), (*bundle)->tokenizer.get(), eo);
  ASSERT_TRUE(engine.ok());
  ASSERT_TRUE((*bundle)->tokenizer->IsControl(1));
  for (bool preserve : {false, true}) {
    GenerationRequest r = Greedy(preserve ? "p" : "q", {1, 5, 6}, 3);
    r.sampling.logit_bias = {{1, 100.0f}};
    if (preserve) r.preserved_tokens = {1};
    ASSERT_TRUE((*engine)->Add(r).ok());
  }
  auto results = RunToCompletion(engine->get());
  EXPECT_EQ(results["p"].tokens, (std::vector<int32_t>{1, 1, 1}));
  EXPECT_EQ(results["p"].text, "<s><s><s>");
  EXPECT_EQ(results["q"].tokens, (std::vector<int32_t>{1, 1, 1}));
  EXPECT_EQ(results["q"].text, "");
}

TEST(Engine, CancelFreesBlocks) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  auto bundle = ModelBundle::Load(dir + "/models/stories260K.gguf");
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EngineOptions eo;
  eo.num_kv_blocks = 16;
  eo.prefix_cache = false;
  auto engine = Engine::Create((*bundle)->model.get(), (*bundle)->tokenizer.get(), eo);
  ASSERT_TRUE(engine.ok());
  ASSERT_TRUE((*engine)->Add(Greedy("a", {1, 5, 6, 7}, 100)).ok());
  (*engine)->Step();
  (*engine)->Step();
  EXPECT_LT((*engine)->kv_cache()->NumAvailableBlocks(), 16);
  (*engine)->Cancel("a");
  auto outs = (*engine)->Step();
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_EQ(outs[0].finish, FinishReason::kCancelled);
  EXPECT_FALSE((*engine)->HasWork());
  EXPECT_EQ((*engine)->kv_cache()->NumAvailableBlocks(), 16);
}

TEST(Engine, StopStringEndsGenerationAndIsNotEmitted) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  auto bundle = ModelBundle::Load(dir + "/models/stories260K.gguf");
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  const auto lines = ReadReference(dir);
  EngineOptions eo;
  eo.num_kv_blocks = 32;
  auto engine = Engine::Create((*bundle)->model.get(), (*bundle)->tokenizer.get(), eo);
  ASSERT_TRUE(engine.ok());
  // Reference line 0 continues "Once upon a time, there was a little girl
  // named Lily." so stopping at "Lily" leaves the text before it.
  GenerationRequest r = Greedy("s", (*bundle)->tokenizer->Encode(lines[0].prompt, true, false), 48);
  r.stop = {"Lily"};
  ASSERT_TRUE((*engine)->Add(r).ok());
  auto g = RunToCompletion(engine->get())["s"];
  EXPECT_EQ(g.finish, FinishReason::kStop);
  EXPECT_EQ(g.text, ", there was a little girl named ");
}

}  // namespace
}  // namespace triptych::engine

namespace triptych::engine {
namespace {

// A stand-in for a prefill node in the same process: computes the prompt's
// KV with its own cache, copies the blocks into the decode engine's cache
// (the bytes UCX would move) and reports the last logits, on another thread.
class InProcessPrefiller {
 public:
  InProcessPrefiller(const model::Model* model, Engine** decode, bool fail)
      : model_(model), decode_(decode), fail_(fail) {}
  ~InProcessPrefiller() {
    for (auto& t : threads_) t.join();
  }
  RemotePrefillFn Fn() {
    return [this](RemotePrefillJob job, RemotePrefillDone done) {
      threads_.emplace_back([this, job = std::move(job), done = std::move(done)] {
        if (fail_) {
          done(absl::UnavailableError("prefill node down"));
          return;
        }
        auto cache = kv::KvCache::Create(model_->KvOptions(64, 16, kv::KvDtype::kF16));
        kv::SequenceKv seq(cache->get());
        ASSERT_TRUE(seq.Reserve(static_cast<int64_t>(job.tokens.size())).ok());
        ThreadPool pool(1);
        model::SequenceBatch b;
        b.tokens = job.tokens;
        b.kv = &seq;
        auto logits = model_->Forward({&b, 1}, cache->get(), &pool);
        const int64_t first = job.skip_tokens / 16;
        std::vector<kv::BlockId> src(seq.blocks().begin() + first, seq.blocks().end());
        std::vector<kv::BlockId> dst(job.blocks.begin() + first, job.blocks.end());
        std::vector<uint8_t> bytes(src.size() * (*cache)->block_bytes());
        ASSERT_TRUE((*cache)->ExportBlocks(src, absl::MakeSpan(bytes)).ok());
        ASSERT_TRUE((*decode_)->kv_cache()->ImportBlocks(dst, bytes).ok());
        ++jobs;
        done(std::move(logits));
      });
    };
  }
  std::atomic<int> jobs{0};

 private:
  const model::Model* model_;
  Engine** decode_;
  bool fail_;
  std::vector<std::thread> threads_;
};

std::map<std::string, Generated> RunWithWaits(Engine* engine) {
  std::map<std::string, Generated> results;
  for (int guard = 0; engine->HasWork() && guard < 100000; ++guard) {
    engine->WaitForWork(absl::Milliseconds(100));
    for (const TokenOutput& o : engine->Step()) {
      Generated& g = results[o.request_id];
      if (o.token >= 0) g.tokens.push_back(o.token);
      g.text += o.text;
      if (o.finish != FinishReason::kNone) {
        g.finish = o.finish;
        g.cached_prompt_tokens = o.cached_prompt_tokens;
      }
    }
  }
  return results;
}

TEST(Engine, RemotePrefillGivesSameOutputWithoutLocalPromptCompute) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  auto bundle = ModelBundle::Load(dir + "/models/stories260K.gguf");
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  const auto lines = ReadReference(dir);
  for (bool fail : {false, true}) {
    Engine* decode = nullptr;
    InProcessPrefiller prefiller((*bundle)->model.get(), &decode, fail);
    EngineOptions eo;
    eo.num_kv_blocks = 64;
    eo.max_running = 4;
    eo.remote_prefill = prefiller.Fn();
    auto engine = Engine::Create((*bundle)->model.get(), (*bundle)->tokenizer.get(), eo);
    ASSERT_TRUE(engine.ok());
    decode = engine->get();
    for (int i = 0; i < 4; ++i) {
      GenerationRequest r = Greedy(std::to_string(i),
                                   (*bundle)->tokenizer->Encode(lines[i].prompt, true, false), 48);
      r.prefill_address = "prefill-0";
      ASSERT_TRUE((*engine)->Add(r).ok());
    }
    auto results = RunWithWaits(engine->get());
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(lines[i].prompt + results[std::to_string(i)].text, lines[i].output)
          << "fail=" << fail << " line " << i;
    }
    const EngineStats st = (*engine)->stats();
    if (!fail) {
      EXPECT_EQ(prefiller.jobs.load(), 4);
      EXPECT_EQ(st.prompt_tokens_computed, 0);
      EXPECT_GT(st.remote_prefill_tokens, 0);
    } else {
      EXPECT_EQ(st.remote_prefill_failures, 4);  // fell back to local prefill
      EXPECT_GT(st.prompt_tokens_computed, 0);
    }
    EXPECT_EQ((*engine)->kv_cache()->NumAvailableBlocks(), 64);
  }
}

TEST(Engine, KvEventsReportStoredBlocks) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  auto bundle = ModelBundle::Load(dir + "/models/stories260K.gguf");
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EngineOptions eo;
  eo.num_kv_blocks = 16;
  auto engine = Engine::Create((*bundle)->model.get(), (*bundle)->tokenizer.get(), eo);
  ASSERT_TRUE(engine.ok());
  std::vector<int32_t> prompt(40, 7);
  prompt[0] = 1;
  ASSERT_TRUE((*engine)->Add(Greedy("a", prompt, 2)).ok());
  RunToCompletion(engine->get());
  auto events = (*engine)->DrainKvEvents();
  // 41 tokens hold 2 full blocks.
  int stored = 0;
  for (const auto& e : events) stored += e.kind == kv::BlockEvent::Kind::kStored;
  EXPECT_EQ(stored, 2);
  EXPECT_EQ(events[0].hash, kv::KvCache::ChainHash(0, absl::MakeConstSpan(prompt).subspan(0, 16)));
  EXPECT_TRUE((*engine)->DrainKvEvents().empty());
}

// A KV history in a map, answering from its own threads: what a memory node
// does for the engine, without the network.
class MapHistory {
 public:
  explicit MapHistory(kv::KvCache** cache) : cache_(cache) {}
  ~MapHistory() {
    for (auto& t : threads_) t.join();
  }
  HistoryFetchFn FetchFn() {
    return [this](HistoryFetchJob job, HistoryFetchDone done) {
      threads_.emplace_back([this, job = std::move(job), done = std::move(done)] {
        absl::MutexLock lock(&mu_);
        int64_t n = 0;
        kv::KvCache* cache = *cache_;
        while (n < static_cast<int64_t>(job.chain.size()) && blocks_.contains(job.chain[n])) {
          const auto& bytes = blocks_[job.chain[n]];
          std::copy(bytes.begin(), bytes.end(), cache->BlockData(job.blocks[n]));
          ++n;
        }
        ++fetches_;
        done(n);
      });
    };
  }
  HistoryStoreFn StoreFn(kv::KvCache** cache) {
    return [this, cache](HistoryStoreJob job, HistoryStoreDone done) {
      absl::MutexLock lock(&mu_);
      for (size_t i = 0; i < job.hashes.size(); ++i) {
        const uint8_t* p = (*cache)->BlockData(job.blocks[i]);
        blocks_[job.hashes[i]].assign(p, p + (*cache)->block_bytes());
      }
      done();
    };
  }
  size_t size() {
    absl::MutexLock lock(&mu_);
    return blocks_.size();
  }

 private:
  kv::KvCache** cache_;
  absl::Mutex mu_;
  absl::flat_hash_map<kv::BlockHash, std::vector<uint8_t>> blocks_ ABSL_GUARDED_BY(mu_);
  int fetches_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::thread> threads_;
};

// Turn one runs on engine A, which stores its blocks in history; turn two
// (turn one's tokens + new ones) runs on a fresh engine B that fetches them:
// B computes only the tokens history did not hold, and the output equals a
// full recompute on an engine without history.
TEST(Engine, HistoryFetchSkipsStoredPrefixAndKeepsOutput) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  auto bundle = ModelBundle::Load(dir + "/models/stories260K.gguf");
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  const auto& tok = *(*bundle)->tokenizer;
  kv::KvCache* a_cache = nullptr;
  kv::KvCache* b_cache = nullptr;
  MapHistory history(&b_cache);
  EngineOptions ea;
  ea.num_kv_blocks = 64;
  ea.history_store = history.StoreFn(&a_cache);
  auto a = Engine::Create((*bundle)->model.get(), &tok, ea);
  ASSERT_TRUE(a.ok());
  a_cache = (*a)->kv_cache();
  const std::vector<int32_t> turn1 = tok.Encode("Once upon a time, there was a little dog", true, false);
  GenerationRequest t1 = Greedy("t1", turn1, 40);
  t1.ignore_eos = true;
  ASSERT_TRUE((*a)->Add(t1).ok());
  auto r1 = RunWithWaits(a->get());
  ASSERT_EQ(r1["t1"].tokens.size(), 40u);
  EXPECT_EQ((*a)->stats().history_store_jobs, 1);
  // 40 + n1 - 1 tokens have KV: their full blocks were stored.
  const int64_t with_kv = static_cast<int64_t>(turn1.size()) + 39;
  EXPECT_EQ(static_cast<int64_t>(history.size()), with_kv / 16);
  EXPECT_EQ((*a)->kv_cache()->stats().used_blocks, 0);  // store refs dropped

  std::vector<int32_t> turn2 = turn1;
  turn2.insert(turn2.end(), r1["t1"].tokens.begin(), r1["t1"].tokens.end());
  const std::vector<int32_t> more = tok.Encode(" The dog said", false, false);
  turn2.insert(turn2.end(), more.begin(), more.end());

  EngineOptions eb;
  eb.num_kv_blocks = 64;
  eb.history_fetch = history.FetchFn();
  auto b = Engine::Create((*bundle)->model.get(), &tok, eb);
  ASSERT_TRUE(b.ok());
  b_cache = (*b)->kv_cache();
  ASSERT_TRUE((*b)->Add(Greedy("t2", turn2, 24)).ok());
  auto r2 = RunWithWaits(b->get());

  EngineOptions ec;
  ec.num_kv_blocks = 64;
  auto c = Engine::Create((*bundle)->model.get(), &tok, ec);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->Add(Greedy("t2", turn2, 24)).ok());
  auto ref = RunWithWaits(c->get());

  EXPECT_EQ(r2["t2"].tokens, ref["t2"].tokens);
  EXPECT_EQ(r2["t2"].text, ref["t2"].text);
  const int64_t fetched = (with_kv / 16) * 16;
  const EngineStats st = (*b)->stats();
  EXPECT_EQ(st.history_fetched_tokens, fetched);
  EXPECT_EQ(st.prompt_tokens_computed, static_cast<int64_t>(turn2.size()) - fetched);
  EXPECT_EQ(r2["t2"].cached_prompt_tokens, fetched);
  EXPECT_EQ((*c)->stats().prompt_tokens_computed, static_cast<int64_t>(turn2.size()));
}

}  // namespace
}  // namespace triptych::engine
