// Opens the GGUF files written by llama.cpp under ../shared/conformance.

#include <filesystem>
#include <string>
#include <vector>

#include "common/testing/conformance.h"
#include "gtest/gtest.h"
#include "runtime/gguf/gguf_reader.h"

namespace triptych::gguf {
namespace {

using kernels::GgmlType;

std::unique_ptr<GgufFile> OpenOrDie(const std::string& path) {
  auto f = GgufFile::Open(path);
  EXPECT_TRUE(f.ok()) << path << ": " << f.status();
  return f.ok() ? std::move(*f) : nullptr;
}

TEST(GgufConformance, Stories260K) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  for (const char* name : {"stories260K.gguf", "stories260K-F16.gguf"}) {
    SCOPED_TRACE(name);
    auto f = OpenOrDie(dir + "/models/" + name);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->version(), 3u);
    EXPECT_EQ(f->alignment(), 32u);
    EXPECT_EQ(f->GetString("general.architecture"), "llama");
    EXPECT_EQ(f->GetInt("llama.block_count"), 5);
    EXPECT_EQ(f->GetInt("llama.embedding_length"), 64);
    EXPECT_EQ(f->GetInt("llama.feed_forward_length"), 172);
    EXPECT_EQ(f->GetInt("llama.attention.head_count"), 8);
    EXPECT_EQ(f->GetInt("llama.attention.head_count_kv"), 4);
    EXPECT_NEAR(*f->GetFloat("llama.attention.layer_norm_rms_epsilon"), 1e-5,
                1e-9);
    EXPECT_EQ(f->GetString("tokenizer.ggml.model"), "llama");
    EXPECT_EQ(f->GetInt("tokenizer.ggml.bos_token_id"), 1);
    EXPECT_EQ(f->GetInt("tokenizer.ggml.eos_token_id"), 2);
    auto tokens = f->GetStringArray("tokenizer.ggml.tokens");
    ASSERT_TRUE(tokens.has_value());
    ASSERT_EQ(tokens->size(), 512u);
    EXPECT_EQ((*tokens)[0], "<unk>");
    EXPECT_EQ((*tokens)[1], "<s>");
    EXPECT_EQ((*tokens)[2], "</s>");
    EXPECT_EQ(f->GetFloatArray("tokenizer.ggml.scores")->size(), 512u);
    EXPECT_EQ(f->GetIntArray("tokenizer.ggml.token_type")->size(), 512u);

    EXPECT_EQ(f->tensors().size(), 3u + 5u * 9u);
    const TensorInfo* embd = f->FindTensor("token_embd.weight");
    ASSERT_NE(embd, nullptr);
    EXPECT_EQ(embd->dims, (std::vector<int64_t>{64, 512}));
    const TensorInfo* gate = f->FindTensor("blk.4.ffn_gate.weight");
    ASSERT_NE(gate, nullptr);
    EXPECT_EQ(gate->dims, (std::vector<int64_t>{64, 172}));
    const TensorInfo* norm = f->FindTensor("blk.0.attn_norm.weight");
    ASSERT_NE(norm, nullptr);
    EXPECT_EQ(norm->type, GgmlType::kF32);
    EXPECT_EQ(norm->dims, (std::vector<int64_t>{64}));
    const bool f16 = std::string(name).find("F16") != std::string::npos;
    EXPECT_EQ(gate->type, f16 ? GgmlType::kF16 : GgmlType::kF32);
    EXPECT_EQ(gate->num_bytes, 64 * 172 * (f16 ? 2 : 4));
  }
}

TEST(GgufConformance, RandLlama256AllTypes) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  for (const char* type : {"F32", "Q8_0", "Q4_0", "Q6_K", "Q4_K_M"}) {
    SCOPED_TRACE(type);
    auto f = OpenOrDie(dir + "/models/rand-llama-256-" + type + ".gguf");
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->GetInt("llama.block_count"), 2);
    EXPECT_EQ(f->GetInt("llama.embedding_length"), 256);
    EXPECT_EQ(f->GetInt("llama.feed_forward_length"), 768);
    EXPECT_EQ(f->GetInt("llama.attention.head_count"), 4);
    EXPECT_EQ(f->GetInt("llama.attention.head_count_kv"), 2);
    EXPECT_EQ(f->GetStringArray("tokenizer.ggml.tokens")->size(), 512u);
    EXPECT_EQ(f->tensors().size(), 3u + 2u * 9u);
    const TensorInfo* k = f->FindTensor("blk.0.attn_k.weight");
    ASSERT_NE(k, nullptr);
    EXPECT_EQ(k->dims, (std::vector<int64_t>{256, 128}));
    const TensorInfo* down = f->FindTensor("blk.1.ffn_down.weight");
    ASSERT_NE(down, nullptr);
    EXPECT_EQ(down->dims, (std::vector<int64_t>{768, 256}));
    EXPECT_EQ(down->num_bytes, kernels::RowBytes(down->type, 768) * 256);
  }
}

TEST(GgufConformance, EveryConformanceFileOpens) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  int opened = 0;
  for (const char* sub : {"/models", "/tokenizer"}) {
    for (const auto& entry : std::filesystem::directory_iterator(dir + sub)) {
      if (entry.path().extension() != ".gguf") continue;
      SCOPED_TRACE(entry.path().string());
      auto f = OpenOrDie(entry.path().string());
      ASSERT_NE(f, nullptr);
      EXPECT_TRUE(f->GetStringArray("tokenizer.ggml.tokens").has_value());
      ++opened;
    }
  }
  EXPECT_GE(opened, 17);
}

}  // namespace
}  // namespace triptych::gguf
