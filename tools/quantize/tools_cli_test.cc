// End-to-end check of the two command-line tools: triptych-gen-model writes
// a model from flags, triptych-quantize converts it.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/gguf/gguf_reader.h"

namespace triptych::tools {
namespace {

using kernels::GgmlType;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/" + std::to_string(::getpid()) + "_" + name;
}

// Runs `command` through the shell; returns its exit status and puts its
// stderr in *err.
int RunCommand(const std::string& command, std::string* err) {
  const std::string err_path = TempPath("stderr.txt");
  const int rc = std::system((command + " 2>" + err_path).c_str());
  std::FILE* f = std::fopen(err_path.c_str(), "rb");
  err->clear();
  if (f != nullptr) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) err->append(buf, n);
    std::fclose(f);
  }
  std::filesystem::remove(err_path);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(ToolsCli, GenerateThenQuantize) {
  const std::string model = TempPath("cli_f16.gguf");
  const std::string quant = TempPath("cli_q4k.gguf");
  std::string err;
  ASSERT_EQ(
      RunCommand(std::string(TRIPTYCH_GEN_MODEL_BINARY) + " --out " + model +
                     " --dim 64 --layers 1 --heads 2 --kv-heads 1 --ffn 96"
                     " --vocab 300 --ctx 64 --type F16 --seed 3"
                     " --rope-theta 500000",
                 &err),
      0)
      << err;
  {
    auto f = gguf::GgufFile::Open(model);
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ((*f)->GetInt("llama.embedding_length"), 64);
    EXPECT_EQ((*f)->GetInt("llama.context_length"), 64);
    EXPECT_EQ((*f)->GetFloat("llama.rope.freq_base"), 500000.0);
    EXPECT_EQ((*f)->FindTensor("blk.0.ffn_down.weight")->type, GgmlType::kF16);
    EXPECT_EQ((*f)->FindTensor("blk.0.ffn_down.weight")->dims,
              (std::vector<int64_t>{96, 64}));
  }
  // Rows of 64 and 96 cannot hold Q4_K blocks: everything falls back to Q8_0
  // with a note.
  ASSERT_EQ(RunCommand(std::string(TRIPTYCH_QUANTIZE_BINARY) + " " + model +
                           " " + quant + " Q4_K",
                       &err),
            0)
      << err;
  EXPECT_THAT(err, HasSubstr("not a multiple of the Q4_K block size 256"));
  {
    auto f = gguf::GgufFile::Open(quant);
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ((*f)->FindTensor("blk.0.ffn_down.weight")->type, GgmlType::kQ8_0);
    EXPECT_EQ((*f)->FindTensor("blk.0.ffn_norm.weight")->type, GgmlType::kF32);
    EXPECT_EQ((*f)->GetInt("general.file_type"), 14);
  }
  EXPECT_NE(RunCommand(std::string(TRIPTYCH_QUANTIZE_BINARY) + " " + model +
                           " " + quant + " Q9_9",
                       &err),
            0);
  EXPECT_THAT(err, HasSubstr("unknown type"));
  std::filesystem::remove(model);
  std::filesystem::remove(quant);
}

TEST(ToolsCli, PresetWithOverrides) {
  const std::string model = TempPath("cli_preset.gguf");
  std::string err;
  ASSERT_EQ(
      RunCommand(std::string(TRIPTYCH_GEN_MODEL_BINARY) + " --out " + model +
                     " --preset tinyllama-1.1b --dim 256 --layers 1 --heads 8"
                     " --ffn 256 --vocab 260 --type Q4_K",
                 &err),
      0)
      << err;
  auto f = gguf::GgufFile::Open(model);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->GetInt("llama.context_length"), 2048);        // preset
  EXPECT_EQ((*f)->GetInt("llama.attention.head_count_kv"), 4);  // preset
  EXPECT_EQ((*f)->GetInt("llama.attention.head_count"), 8);     // flag
  EXPECT_EQ((*f)->GetInt("llama.block_count"), 1);              // flag
  EXPECT_EQ((*f)->FindTensor("blk.0.attn_q.weight")->type, GgmlType::kQ4_K);
  std::filesystem::remove(model);
  EXPECT_NE(RunCommand(std::string(TRIPTYCH_GEN_MODEL_BINARY) + " --out " +
                           model + " --heads 3",
                       &err),
            0);
  EXPECT_THAT(err, HasSubstr("not a multiple of heads"));
}

}  // namespace
}  // namespace triptych::tools
