#include "tools/gen_model/gen_model.h"

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "common/testing/conformance.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/quant.h"
#include "runtime/gguf/gguf_reader.h"

namespace triptych::tools {
namespace {

using kernels::GgmlType;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/" + std::to_string(::getpid()) + "_" + name;
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

GenModelOptions Small(const std::string& out, GgmlType type) {
  GenModelOptions o;
  o.out = out;
  o.dim = 256;
  o.layers = 2;
  o.heads = 4;
  o.kv_heads = 2;
  o.ffn = 512;
  o.vocab = 300;
  o.ctx = 128;
  o.type = type;
  o.num_threads = 2;
  return o;
}

std::vector<float> Dequantize(const gguf::TensorInfo& t) {
  std::vector<float> out(static_cast<size_t>(t.num_elements));
  const int64_t cols = t.dims[0];
  const int64_t rb = kernels::RowBytes(t.type, cols);
  for (int64_t r = 0; r < t.num_elements / cols; ++r) {
    kernels::DequantizeRow(t.type, t.data + r * rb, out.data() + r * cols,
                           cols);
  }
  return out;
}

TEST(GenModel, WritesLlamaShapesAndMetadata) {
  for (GgmlType type :
       {GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16, GgmlType::kQ8_0,
        GgmlType::kQ4_0, GgmlType::kQ4_K, GgmlType::kQ6_K}) {
    SCOPED_TRACE(kernels::TypeName(type));
    const std::string path = TempPath("gen.gguf");
    ASSERT_TRUE(WriteRandomLlama(Small(path, type)).ok());
    auto f = gguf::GgufFile::Open(path);
    ASSERT_TRUE(f.ok()) << f.status();
    const gguf::GgufFile& g = **f;
    EXPECT_EQ(g.GetString("general.architecture"), "llama");
    EXPECT_EQ(g.GetInt("llama.embedding_length"), 256);
    EXPECT_EQ(g.GetInt("llama.block_count"), 2);
    EXPECT_EQ(g.GetInt("llama.feed_forward_length"), 512);
    EXPECT_EQ(g.GetInt("llama.attention.head_count"), 4);
    EXPECT_EQ(g.GetInt("llama.attention.head_count_kv"), 2);
    EXPECT_EQ(g.GetInt("llama.context_length"), 128);
    EXPECT_EQ(g.GetInt("llama.rope.dimension_count"), 64);
    EXPECT_FLOAT_EQ(*g.GetFloat("llama.rope.freq_base"), 10000.0);
    EXPECT_NEAR(*g.GetFloat("llama.attention.layer_norm_rms_epsilon"), 1e-5,
                1e-10);
    EXPECT_TRUE(g.GetInt("general.file_type").has_value());
    EXPECT_EQ(g.GetString("tokenizer.ggml.model"), "llama");
    EXPECT_EQ(g.GetInt("tokenizer.ggml.bos_token_id"), 1);
    EXPECT_EQ(g.GetInt("tokenizer.ggml.eos_token_id"), 2);
    EXPECT_EQ(g.GetStringArray("tokenizer.ggml.tokens")->size(), 300u);
    EXPECT_EQ(g.GetFloatArray("tokenizer.ggml.scores")->size(), 300u);
    EXPECT_EQ(g.GetIntArray("tokenizer.ggml.token_type")->size(), 300u);

    ASSERT_EQ(g.tensors().size(), 3u + 2u * 9u);
    struct Expect {
      const char* name;
      std::vector<int64_t> dims;
    };
    const std::vector<Expect> expected = {
        {"token_embd.weight", {256, 300}},
        {"output_norm.weight", {256}},
        {"output.weight", {256, 300}},
        {"blk.1.attn_norm.weight", {256}},
        {"blk.1.attn_q.weight", {256, 256}},
        {"blk.1.attn_k.weight", {256, 128}},
        {"blk.1.attn_v.weight", {256, 128}},
        {"blk.1.attn_output.weight", {256, 256}},
        {"blk.1.ffn_norm.weight", {256}},
        {"blk.1.ffn_gate.weight", {256, 512}},
        {"blk.1.ffn_up.weight", {256, 512}},
        {"blk.1.ffn_down.weight", {512, 256}},
    };
    for (const Expect& e : expected) {
      const gguf::TensorInfo* t = g.FindTensor(e.name);
      ASSERT_NE(t, nullptr) << e.name;
      EXPECT_EQ(t->dims, e.dims) << e.name;
      EXPECT_EQ(t->type, e.dims.size() == 1 ? GgmlType::kF32 : type) << e.name;
    }
    // Norms are 1.0; weights look like N(0, 0.02^2).
    std::vector<float> norm =
        Dequantize(*g.FindTensor("blk.0.ffn_norm.weight"));
    for (float x : norm) ASSERT_EQ(x, 1.0f);
    std::vector<float> w = Dequantize(*g.FindTensor("blk.0.ffn_gate.weight"));
    double sum = 0, sum2 = 0;
    for (float x : w) {
      sum += x;
      sum2 += double{x} * x;
    }
    const double mean = sum / w.size();
    const double std = std::sqrt(sum2 / w.size() - mean * mean);
    EXPECT_NEAR(mean, 0.0, 1e-3);
    EXPECT_NEAR(std, 0.02, 0.003);
    std::filesystem::remove(path);
  }
}

TEST(GenModel, DeterministicInSeedAndIndependentOfThreads) {
  const std::string a = TempPath("a.gguf"), b = TempPath("b.gguf"),
                    c = TempPath("c.gguf");
  GenModelOptions o = Small(a, GgmlType::kQ8_0);
  o.num_threads = 1;
  ASSERT_TRUE(WriteRandomLlama(o).ok());
  o.out = b;
  o.num_threads = 3;
  ASSERT_TRUE(WriteRandomLlama(o).ok());
  o.out = c;
  o.seed = 2;
  ASSERT_TRUE(WriteRandomLlama(o).ok());
  EXPECT_EQ(ReadAll(a), ReadAll(b));
  EXPECT_NE(ReadAll(a), ReadAll(c));
  for (const auto& p : {a, b, c}) std::filesystem::remove(p);
}

TEST(GenModel, KTypesFromTheBlockBankMatchExactQuantizationStatistics) {
  for (GgmlType type : {GgmlType::kQ4_K, GgmlType::kQ6_K}) {
    SCOPED_TRACE(kernels::TypeName(type));
    double stds[2];
    for (bool fast : {false, true}) {
      const std::string path = TempPath("kbank.gguf");
      GenModelOptions o = Small(path, type);
      o.fast_k_quant = fast;
      ASSERT_TRUE(WriteRandomLlama(o).ok());
      auto f = gguf::GgufFile::Open(path);
      ASSERT_TRUE(f.ok()) << f.status();
      std::vector<float> w = Dequantize(*(*f)->FindTensor("token_embd.weight"));
      double sum2 = 0;
      for (float x : w) sum2 += double{x} * x;
      stds[fast] = std::sqrt(sum2 / w.size());
      // Rows differ from one another.
      EXPECT_NE(std::vector<float>(w.begin(), w.begin() + 256),
                std::vector<float>(w.begin() + 256, w.begin() + 512));
      std::filesystem::remove(path);
    }
    EXPECT_NEAR(stds[0], 0.02, 0.002);
    EXPECT_NEAR(stds[1], stds[0], 0.001);
  }
}

TEST(GenModel, SyntheticVocabIsSentencePieceShaped) {
  auto v = MakeSyntheticVocab(6000);
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->tokens.size(), 6000u);
  EXPECT_EQ(v->tokens[0], "<unk>");
  EXPECT_EQ(v->tokens[1], "<s>");
  EXPECT_EQ(v->tokens[2], "</s>");
  EXPECT_EQ(v->token_types[0], 2);
  EXPECT_EQ(v->token_types[1], 3);
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
    EXPECT_EQ(v->tokens[3 + b], hex);
    EXPECT_EQ(v->token_types[3 + b], 6);
  }
  EXPECT_EQ(v->tokens[259], "\xe2\x96\x81");
  EXPECT_EQ(v->tokens[260],
            "\xe2\x96\x81"
            "a");
  EXPECT_EQ(v->tokens[261], "a");
  std::set<std::string> unique(v->tokens.begin(), v->tokens.end());
  EXPECT_EQ(unique.size(), v->tokens.size());
  for (size_t i = 260; i < v->tokens.size(); ++i) {
    EXPECT_EQ(v->token_types[i], 1);
    EXPECT_LT(v->scores[i], v->scores[i - 1]);
  }
  EXPECT_FALSE(MakeSyntheticVocab(259).ok());
}

TEST(GenModel, RejectsInconsistentOptions) {
  GenModelOptions o = Small(TempPath("bad.gguf"), GgmlType::kF32);
  o.heads = 3;
  EXPECT_THAT(std::string(WriteRandomLlama(o).message()),
              HasSubstr("not a multiple of heads"));
  o = Small(TempPath("bad.gguf"), GgmlType::kF32);
  o.kv_heads = 3;
  EXPECT_FALSE(WriteRandomLlama(o).ok());
  o = Small(TempPath("bad.gguf"), GgmlType::kQ4_K);
  o.ffn = 288;
  EXPECT_THAT(std::string(WriteRandomLlama(o).message()),
              HasSubstr("multiples of 256"));
  o = Small(TempPath("bad.gguf"), GgmlType::kQ4_1);
  EXPECT_FALSE(WriteRandomLlama(o).ok());
  o = Small(TempPath("bad.gguf"), GgmlType::kF32);
  o.vocab = 100;
  EXPECT_FALSE(WriteRandomLlama(o).ok());
  o = Small("", GgmlType::kF32);
  EXPECT_FALSE(WriteRandomLlama(o).ok());
  EXPECT_FALSE(std::filesystem::exists(TempPath("bad.gguf")));
}

TEST(GenModel, TinyLlamaPreset) {
  auto o = PresetOptions("tinyllama-1.1b");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->dim, 2048);
  EXPECT_EQ(o->layers, 22);
  EXPECT_EQ(o->heads, 32);
  EXPECT_EQ(o->kv_heads, 4);
  EXPECT_EQ(o->ffn, 5632);
  EXPECT_EQ(o->vocab, 32000);
  EXPECT_EQ(o->ctx, 2048);
  EXPECT_FALSE(PresetOptions("gpt-5").ok());
}

TEST(GenModel, VocabFromCopiesTokenizer) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  const std::string src = dir + "/models/stories260K.gguf";
  const std::string path = TempPath("vocab_from.gguf");
  GenModelOptions o = Small(path, GgmlType::kF32);
  o.vocab_from = src;
  ASSERT_TRUE(WriteRandomLlama(o).ok());
  auto f = gguf::GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  auto s = gguf::GgufFile::Open(src);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*f)->GetStringArray("tokenizer.ggml.tokens"),
            (*s)->GetStringArray("tokenizer.ggml.tokens"));
  EXPECT_EQ((*f)->GetFloatArray("tokenizer.ggml.scores"),
            (*s)->GetFloatArray("tokenizer.ggml.scores"));
  EXPECT_EQ((*f)->FindTensor("token_embd.weight")->dims,
            (std::vector<int64_t>{256, 512}));
  EXPECT_EQ((*f)->GetInt("llama.vocab_size"), 512);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace triptych::tools
