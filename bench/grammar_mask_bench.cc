// Cost of structured outputs per generated token: the logit mask the
// engine's sampler applies to a constrained sequence
// (grammar::ApplyLogitMask, called by Engine::ApplyConstraint) plus the
// matcher's Advance over the sampled token, on real vocabularies.
//
//   BM_Mask/<schema>/<vocab>: one iteration replays a whole constrained
//   output (a fresh Matcher, then per token: ApplyLogitMask over a full
//   logit row, Advance). `per_token` (seconds per
//   token, SI prefix: 250u = 250 us) is the figure to read.
//
// Vocabularies, built as Engine::Trie builds the trie (TokenToPiece of every
// id that is neither end-of-generation nor control):
//   32k:  ggml-vocab-llama-spm.gguf (SentencePiece, 32000 ids);
//   128k: ggml-vocab-deepseek-llm.gguf (byte-level BPE, 102400 ids) padded
//         to 128256 ids (Llama 3's size) with the pieces it lacks from the
//         GPT-2, Falcon, StarCoder and MPT BPE vocabularies, in id order.
// The files come from ../shared/conformance/tokenizer (run from the
// repository root, or set TRIPTYCH_TOKENIZER_DIR).
//
// Outputs: a fixed valid document per schema (Output()), split into the
// vocabulary's pieces by longest match (Trace()), then end of
// generation (allowed by the mask only there).

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "benchmark/benchmark.h"
#include "runtime/gguf/gguf_reader.h"
#include "runtime/grammar/json_schema.h"
#include "runtime/grammar/logit_mask.h"
#include "runtime/grammar/matcher.h"
#include "runtime/grammar/token_trie.h"
#include "runtime/tokenizer/tokenizer.h"

namespace triptych::grammar {
namespace {

struct Vocabulary {
  std::unique_ptr<TokenTrie> trie;
  std::vector<int32_t> eog_ids;
  std::vector<std::string> pieces;  // what Advance() is given per sampled id
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;  // of the first file
};

std::string TokenizerDir() {
  const char* dir = std::getenv("TRIPTYCH_TOKENIZER_DIR");
  return dir != nullptr ? dir : "../shared/conformance/tokenizer";
}

// Appends the trie bytes of every id of `file` (as Engine::Trie does) to
// *bytes, skipping pieces in *seen when `distinct`, until `limit` ids.
bool AddVocab(const std::string& file, size_t limit, bool distinct, Vocabulary* v,
              std::vector<std::string>* bytes, absl::flat_hash_set<std::string>* seen) {
  auto gguf = gguf::GgufFile::Open(TokenizerDir() + "/" + file);
  if (!gguf.ok()) {
    std::fprintf(stderr, "%s: %s\n", file.c_str(), gguf.status().ToString().c_str());
    return false;
  }
  auto tok = tokenizer::Tokenizer::FromGguf(**gguf);
  if (!tok.ok()) {
    std::fprintf(stderr, "%s: %s\n", file.c_str(), tok.status().ToString().c_str());
    return false;
  }
  const tokenizer::Tokenizer& t = **tok;
  for (int32_t id = 0; id < t.vocab_size() && bytes->size() < limit; ++id) {
    std::string piece;
    const bool eog = t.IsEog(id);
    if (!eog && !t.IsControl(id)) piece = t.TokenToPiece(id);
    if (distinct && (piece.empty() || !seen->insert(piece).second)) continue;
    if (!distinct) seen->insert(piece);
    if (eog && !distinct) v->eog_ids.push_back(static_cast<int32_t>(bytes->size()));
    bytes->push_back(piece);
  }
  if (v->tokenizer == nullptr) v->tokenizer = std::move(*tok);
  return true;
}

const Vocabulary* GetVocabulary(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Vocabulary>>* cache =
      new std::map<std::string, std::unique_ptr<Vocabulary>>();
  auto it = cache->find(name);
  if (it != cache->end()) return it->second.get();
  auto v = std::make_unique<Vocabulary>();
  std::vector<std::string> bytes;
  absl::flat_hash_set<std::string> seen;
  bool ok;
  if (name == "32k") {
    ok = AddVocab("ggml-vocab-llama-spm.gguf", 32000, false, v.get(), &bytes, &seen);
  } else {
    constexpr size_t k128 = 128256;
    ok = AddVocab("ggml-vocab-deepseek-llm.gguf", k128, false, v.get(), &bytes, &seen) &&
         AddVocab("ggml-vocab-gpt-2.gguf", k128, true, v.get(), &bytes, &seen) &&
         AddVocab("ggml-vocab-falcon.gguf", k128, true, v.get(), &bytes, &seen) &&
         AddVocab("ggml-vocab-starcoder.gguf", k128, true, v.get(), &bytes, &seen) &&
         AddVocab("ggml-vocab-mpt.gguf", k128, true, v.get(), &bytes, &seen) &&
         bytes.size() == k128;
    if (!ok) std::fprintf(stderr, "128k: only %zu distinct pieces\n", bytes.size());
  }
  if (!ok) return nullptr;
  v->pieces = bytes;
  v->trie = std::make_unique<TokenTrie>(bytes);
  return (*cache)[name] = std::move(v), (*cache)[name].get();
}

const char* SchemaJson(const std::string& name) {
  if (name == "object") {
    // tests/structured/validate.mjs "person".
    return R"({"type":"object","properties":{"name":{"type":"string","minLength":1,)"
           R"("maxLength":12},"age":{"type":"integer"},"email":{"type":"string",)"
           R"("pattern":"^[a-z]{1,8}@[a-z]{1,8}\\.(com|org)$"}},"required":["name","age"],)"
           R"("additionalProperties":false})";
  }
  if (name == "enum") {
    return R"({"enum":["red","green","blue","yellow","cyan","magenta","black","white"]})";
  }
  return nullptr;  // json_object
}

std::shared_ptr<const Grammar> Compile(const std::string& schema) {
  OutputConstraint c;
  if (const char* json = SchemaJson(schema)) {
    c.kind = ConstraintKind::kJsonSchema;
    c.schema_json = json;
  } else {
    c.kind = ConstraintKind::kJsonObject;
  }
  auto g = CompileConstraint(c);
  return g.ok() ? *g : nullptr;
}

// A model's output under each schema (compact, as the grammar generates).
const char* Output(const std::string& schema) {
  if (schema == "object") return R"({"name":"Ada Lovelace","age":36,"email":"ada@math.org"})";
  if (schema == "enum") return R"("magenta")";
  return R"({"order":"req-1842","items":[{"sku":"A-100","qty":2,"price":19.99},)"
         R"({"sku":"B-7","qty":1,"price":5.5}],"note":"leave it at the front door, thanks",)"
         R"("paid":true,"tags":["gift","express"]})";
}

// Output(schema) split into the vocabulary's pieces by longest match (close
// to what a BPE model emits, and free of tokenizer-specific prefixes such as
// SentencePiece's leading space), then end of generation. Empty when the
// matcher rejects a piece.
std::vector<int32_t> Trace(const Vocabulary& v, std::shared_ptr<const Grammar> g,
                           const std::string& schema) {
  absl::flat_hash_map<std::string, int32_t> ids;
  size_t longest = 0;
  for (int32_t id = 0; id < static_cast<int32_t>(v.pieces.size()); ++id) {
    if (!v.pieces[id].empty() && ids.emplace(v.pieces[id], id).second) {
      longest = std::max(longest, v.pieces[id].size());
    }
  }
  const std::string text = Output(schema);
  std::vector<int32_t> out;
  Matcher m(g);
  for (size_t pos = 0; pos < text.size();) {
    size_t len = std::min(longest, text.size() - pos);
    for (; len > 0; --len) {
      if (ids.contains(text.substr(pos, len))) break;
    }
    if (len == 0) return {};
    const int32_t id = ids.at(text.substr(pos, len));
    if (!m.Advance(v.pieces[id])) {
      std::fprintf(stderr, "%s: the grammar rejects piece '%s' at %zu\n", schema.c_str(),
                   v.pieces[id].c_str(), pos);
      return {};
    }
    out.push_back(id);
    pos += len;
  }
  if (!m.IsComplete() || v.eog_ids.empty()) return {};
  out.push_back(v.eog_ids[0]);
  return out;
}

void BM_Mask(benchmark::State& state, std::string schema, std::string vocab) {
  const Vocabulary* v = GetVocabulary(vocab);
  if (v == nullptr) {
    state.SkipWithError("tokenizer vocabularies missing or too small (run from the repository root)");
    return;
  }
  std::shared_ptr<const Grammar> g = Compile(schema);
  if (g == nullptr) {
    state.SkipWithError("schema does not compile");
    return;
  }
  const std::vector<int32_t> trace = Trace(*v, g, schema);
  if (trace.empty()) {
    state.SkipWithError("the tokenized output does not follow the grammar");
    return;
  }
  std::vector<float> row(v->pieces.size(), 0.0f);
  std::vector<uint64_t> bits;
  int64_t allowed = 0;
  {
    Matcher m(g);
    for (int32_t t : trace) {
      ApplyLogitMask(m, *v->trie, v->eog_ids, true, absl::MakeSpan(row), &bits);
      for (uint64_t w : bits) allowed += __builtin_popcountll(w);
      m.Advance(v->pieces[t]);
    }
  }
  for (auto _ : state) {
    Matcher m(g);
    for (int32_t t : trace) {
      ApplyLogitMask(m, *v->trie, v->eog_ids, true, absl::MakeSpan(row), &bits);
      m.Advance(v->pieces[t]);
    }
    benchmark::DoNotOptimize(row.data());
  }
  const double tokens = static_cast<double>(trace.size());
  state.counters["tokens"] = tokens;
  state.counters["allowed_per_token"] = tokens > 0 ? allowed / tokens : 0;
  // Seconds per token, printed with an SI prefix (e.g. 250u = 250 us).
  state.counters["per_token"] = benchmark::Counter(
      tokens * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void Register() {
  for (const char* schema : {"object", "enum", "json_object"}) {
    for (const char* vocab : {"32k", "128k"}) {
      benchmark::RegisterBenchmark(
          (std::string("BM_Mask/") + schema + "/" + vocab).c_str(),
          [schema, vocab](benchmark::State& s) { BM_Mask(s, schema, vocab); })
          ->Unit(benchmark::kMillisecond);
    }
  }
}

}  // namespace
}  // namespace triptych::grammar

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  triptych::grammar::Register();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
