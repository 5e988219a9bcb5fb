// libFuzzer target for the GGUF reader (built with -DTRIPTYCH_FUZZ=ON and
// clang; see docs/FUZZING.md).
//
// Parses arbitrary bytes, touches every parsed value and every tensor byte
// range, and for files that parse, checks that the writer re-serialises
// them into a file the reader accepts with the same contents.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "runtime/gguf/gguf_reader.h"
#include "runtime/gguf/gguf_writer.h"

namespace {

using triptych::gguf::Array;
using triptych::gguf::GgufFile;
using triptych::gguf::GgufWriter;
using triptych::gguf::TensorInfo;
using triptych::gguf::Value;
using triptych::gguf::WriterOptions;

// Keeps the compiler from discarding reads.
volatile uint64_t g_sink;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void Touch(const Value& v) {
  uint64_t h = static_cast<uint64_t>(v.type);
  if (auto i = v.AsInt()) h += static_cast<uint64_t>(*i);
  if (auto f = v.AsFloat()) h += static_cast<uint64_t>(*f != 0);
  if (auto b = v.AsBool()) h += *b;
  if (const std::string* s = v.AsString()) {
    for (char c : *s) h += static_cast<uint8_t>(c);
  }
  if (const Array* a = v.AsArray()) {
    h += static_cast<uint64_t>(a->element_type);
    for (const Value& e : a->elements) {
      Check(e.type == a->element_type);
      Touch(e);
    }
  }
  g_sink = g_sink + h;
}

void TouchFile(const GgufFile& f) {
  for (const auto& [key, value] : f.metadata()) {
    Check(f.Find(key) == &value);
    Touch(value);
    (void)f.GetStringArray(key);
    (void)f.GetFloatArray(key);
    (void)f.GetIntArray(key);
    (void)f.GetString(key);
  }
  for (const TensorInfo& t : f.tensors()) {
    Check(f.FindTensor(t.name) == &t);
    Check(t.dims.size() >= 1 && t.dims.size() <= 4);
    Check(t.offset % f.alignment() == 0);
    if (t.num_bytes > 0) {
      // First and last byte: ASan reports any view outside the image.
      g_sink = g_sink + t.data[0] + t.data[t.num_bytes - 1];
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = GgufFile::FromBuffer(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (!file.ok()) {
    Check(file.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  const GgufFile& f = **file;
  TouchFile(f);

  // Round trip through the writer.
  GgufWriter w(WriterOptions{f.alignment()});
  for (const auto& [key, value] : f.metadata()) {
    Check(w.SetValue(key, value).ok());
  }
  for (const TensorInfo& t : f.tensors()) {
    Check(w.AddTensor(t.name, t.dims, t.type,
                      std::string(reinterpret_cast<const char*>(t.data),
                                  static_cast<size_t>(t.num_bytes)))
              .ok());
  }
  auto bytes = w.WriteToString();
  Check(bytes.ok());
  auto again = GgufFile::FromBuffer(*bytes);
  Check(again.ok());
  const GgufFile& g = **again;
  Check(g.metadata().size() == f.metadata().size());
  Check(g.tensors().size() == f.tensors().size());
  Check(g.alignment() == f.alignment());
  for (size_t i = 0; i < f.metadata().size(); ++i) {
    Check(g.metadata()[i].first == f.metadata()[i].first);
    Check(g.metadata()[i].second.type == f.metadata()[i].second.type);
  }
  for (size_t i = 0; i < f.tensors().size(); ++i) {
    const TensorInfo& a = f.tensors()[i];
    const TensorInfo& b = g.tensors()[i];
    Check(a.name == b.name && a.dims == b.dims && a.type == b.type &&
          a.num_bytes == b.num_bytes);
    Check(a.num_bytes == 0 ||
          std::memcmp(a.data, b.data, static_cast<size_t>(a.num_bytes)) == 0);
  }
  return 0;
}
