// Constrained decoding in the engine: every output parses and follows the
// schema, the mask holds on the first token of a remotely prefilled prompt,
// and a migrated request continues the automaton from its generated tokens.

#include <map>
#include <string>
#include <vector>

#include "common/testing/conformance.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/engine/engine.h"
#include "runtime/engine/model_bundle.h"

namespace triptych::engine {
namespace {

constexpr char kSchema[] =
    R"({"type":"object","properties":{"mood":{"enum":["happy","sad"]},)"
    R"("n":{"type":"integer"},"tag":{"type":"string","maxLength":4}},)"
    R"("required":["mood","n"],"additionalProperties":false})";

struct Result {
  std::vector<int32_t> tokens;
  std::string text;
  FinishReason finish = FinishReason::kNone;
  std::string error;
};

std::map<std::string, Result> RunAll(Engine* engine) {
  std::map<std::string, Result> out;
  for (int guard = 0; engine->HasWork() && guard < 100000; ++guard) {
    for (const TokenOutput& o : engine->Step()) {
      Result& r = out[o.request_id];
      if (o.token >= 0) r.tokens.push_back(o.token);
      r.text += o.text;
      if (o.finish != FinishReason::kNone) {
        r.finish = o.finish;
        r.error = o.error;
      }
    }
  }
  return out;
}

GenerationRequest Constrained(const std::string& id, const std::vector<int32_t>& prompt,
                              uint64_t seed) {
  GenerationRequest r;
  r.id = id;
  r.prompt = prompt;
  r.max_tokens = 100;
  r.sampling.temperature = 1.0f;
  r.sampling.seed = seed;
  r.constraint.kind = grammar::ConstraintKind::kJsonSchema;
  r.constraint.schema_json = kSchema;
  return r;
}

void ExpectValid(const Result& r) {
  ASSERT_EQ(r.finish, FinishReason::kStop) << r.text << " " << r.error;
  nlohmann::json j = nlohmann::json::parse(r.text, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << "[" << r.text << "] tokens " << r.tokens.size();
  ASSERT_TRUE(j.is_object()) << r.text;
  EXPECT_TRUE(j["mood"] == "happy" || j["mood"] == "sad") << r.text;
  EXPECT_TRUE(j["n"].is_number_integer()) << r.text;
  if (j.contains("tag")) EXPECT_LE(j["tag"].get<std::string>().size(), 4u) << r.text;
  for (auto it = j.begin(); it != j.end(); ++it) {
    EXPECT_TRUE(it.key() == "mood" || it.key() == "n" || it.key() == "tag") << r.text;
  }
}

TEST(EngineConstraint, SampledOutputsFollowTheSchema) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  auto bundle = ModelBundle::Load(dir + "/models/stories260K.gguf");
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  auto engine = Engine::Create((*bundle)->model.get(), (*bundle)->tokenizer.get(), {});
  ASSERT_TRUE(engine.ok());
  const std::vector<int32_t> prompt = (*bundle)->tokenizer->Encode("Once upon", true, false);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE((*engine)->Add(Constrained("r" + std::to_string(i), prompt, 100 + i)).ok());
  }
  std::map<std::string, Result> out = RunAll(engine->get());
  ASSERT_EQ(out.size(), 20u);
  for (const auto& [id, r] : out) ExpectValid(r);
  EXPECT_GT((*engine)->stats().constrained_tokens, 20 * 10);
}

TEST(EngineConstraint, BadSchemaIsInvalidArgument) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  auto bundle = ModelBundle::Load(dir + "/models/stories260K.gguf");
  ASSERT_TRUE(bundle.ok());
  auto engine = Engine::Create((*bundle)->model.get(), (*bundle)->tokenizer.get(), {});
  ASSERT_TRUE(engine.ok());
  GenerationRequest r = Constrained("bad", {1, 5}, 1);
  r.constraint.schema_json = R"({"type":"integer","minimum":0})";
  EXPECT_EQ((*engine)->Add(r).code(), absl::StatusCode::kInvalidArgument);
  r.constraint.schema_json = kSchema;
  r.constraint_replay = 1;  // token 5 is not the start of a JSON object
  EXPECT_EQ((*engine)->Add(r).code(), absl::StatusCode::kInvalidArgument);
}

// The first token of a remotely prefilled prompt (sampled here from the
// prefill node's logits) obeys the mask, and a request migrated with its
// generated tokens appended continues the same automaton.
TEST(EngineConstraint, RemotePrefillAndReplayKeepTheConstraint) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  auto bundle = ModelBundle::Load(dir + "/models/stories260K.gguf");
  ASSERT_TRUE(bundle.ok());
  const model::Model* model = (*bundle)->model.get();
  const int64_t vocab = model->config().vocab_size;
  EngineOptions eo;
  int remote_calls = 0;
  // A "prefill node" whose logits favour token 5 (not JSON) overwhelmingly.
  eo.remote_prefill = [&](RemotePrefillJob, RemotePrefillDone done) {
    ++remote_calls;
    std::vector<float> logits(vocab, 0.0f);
    logits[5] = 1000.0f;
    done(std::move(logits));
  };
  auto engine = Engine::Create(model, (*bundle)->tokenizer.get(), eo);
  ASSERT_TRUE(engine.ok());
  const std::vector<int32_t> prompt = (*bundle)->tokenizer->Encode("Once upon a time", true, false);
  GenerationRequest r = Constrained("remote", prompt, 7);
  r.prefill_address = "prefill:1";
  ASSERT_TRUE((*engine)->Add(r).ok());
  std::map<std::string, Result> out = RunAll(engine->get());
  EXPECT_EQ(remote_calls, 1);
  {
    std::string pieces;
    for (int32_t t : out["remote"].tokens) pieces += (*bundle)->tokenizer->TokenToPiece(t) + "|";
    SCOPED_TRACE(pieces);
    ExpectValid(out["remote"]);
  }

  // Migration: the first 3 generated tokens join the prompt.
  const Result first = out["remote"];
  ASSERT_GT(first.tokens.size(), 3u);
  GenerationRequest moved = Constrained("moved", prompt, 7);
  moved.prompt.insert(moved.prompt.end(), first.tokens.begin(), first.tokens.begin() + 3);
  moved.constraint_replay = 3;
  ASSERT_TRUE((*engine)->Add(moved).ok());
  out = RunAll(engine->get());
  Result whole = out["moved"];
  std::string head;
  for (int i = 0; i < 3; ++i) head += (*bundle)->tokenizer->TokenToPiece(first.tokens[i]);
  whole.text = head + whole.text;
  ExpectValid(whole);
}

}  // namespace
}  // namespace triptych::engine
