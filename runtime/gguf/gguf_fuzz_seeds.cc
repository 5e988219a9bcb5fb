// gguf_fuzz_seeds OUT_DIR [GGUF...]: writes a seed corpus for gguf_fuzzer:
// small files made by GgufWriter (every value type, nested arrays, several
// tensor types, custom alignment, no tensors) plus the first 4 KiB of each
// GGUF given on the command line (real llama.cpp headers).

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "runtime/gguf/gguf_writer.h"

namespace {

using triptych::gguf::Array;
using triptych::gguf::GgufWriter;
using triptych::gguf::Value;
using triptych::gguf::ValueType;
using triptych::gguf::WriterOptions;
using triptych::kernels::GgmlType;

bool WriteSeed(const std::string& dir, const std::string& name,
               const std::string& bytes) {
  std::ofstream out(dir + "/" + name, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

std::string Sample(uint64_t alignment, bool tensors) {
  GgufWriter w(WriterOptions{alignment});
  w.SetString("general.architecture", "llama");
  w.SetUint8("u8", 1);
  w.SetInt8("i8", -1);
  w.SetUint16("u16", 2);
  w.SetInt16("i16", -2);
  w.SetUint32("llama.block_count", 2);
  w.SetInt32("i32", -3);
  w.SetUint64("u64", 4);
  w.SetInt64("i64", -4);
  w.SetFloat32("f32", 0.5f);
  w.SetFloat64("f64", 0.25);
  w.SetBool("b", true);
  w.SetStringArray("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a"});
  w.SetFloat32Array("tokenizer.ggml.scores", {0.f, 0.f, 0.f, -1.f});
  w.SetInt32Array("tokenizer.ggml.token_type", {2, 3, 3, 1});
  auto inner = std::make_shared<Array>();
  inner->element_type = ValueType::kUint8;
  inner->elements = {Value{ValueType::kUint8, uint64_t{7}}};
  auto outer = std::make_shared<Array>();
  outer->element_type = ValueType::kArray;
  outer->elements = {Value{ValueType::kArray, inner}};
  (void)w.SetValue("nested", Value{ValueType::kArray, outer});
  if (tensors) {
    (void)w.AddTensor("norm", {8}, GgmlType::kF32, std::string(32, '\1'));
    (void)w.AddTensor("w.f16", {4, 2}, GgmlType::kF16, std::string(16, '\2'));
    (void)w.AddTensor("w.q8", {32, 1}, GgmlType::kQ8_0, std::string(34, '\3'));
    (void)w.AddTensor("w.q4k", {256}, GgmlType::kQ4_K, std::string(144, '\4'));
    (void)w.AddTensor("w.bf16", {2, 1, 1, 2}, GgmlType::kBF16,
                      std::string(8, '\5'));
  }
  auto bytes = w.WriteToString();
  return bytes.ok() ? *bytes : std::string();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: gguf_fuzz_seeds OUT_DIR [FILE.gguf...]\n";
    return 2;
  }
  const std::string dir = argv[1];
  bool ok = WriteSeed(dir, "sample_a32.gguf", Sample(32, true)) &&
            WriteSeed(dir, "sample_a64.gguf", Sample(64, true)) &&
            WriteSeed(dir, "sample_a8.gguf", Sample(8, true)) &&
            WriteSeed(dir, "metadata_only.gguf", Sample(32, false));
  GgufWriter empty;
  auto e = empty.WriteToString();
  ok = ok && e.ok() && WriteSeed(dir, "empty.gguf", *e);
  for (int i = 2; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    std::string head(4096, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<size_t>(in.gcount()));
    std::string name = argv[i];
    name = name.substr(name.find_last_of('/') + 1);
    ok = ok && WriteSeed(dir, "head_" + name, head);
  }
  if (!ok) {
    std::cerr << "failed writing seeds to " << dir << "\n";
    return 1;
  }
  return 0;
}
