#include "runtime/gguf/gguf_reader.h"

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/gguf/gguf_writer.h"

namespace triptych::gguf {
namespace {

using kernels::GgmlType;
using ::testing::HasSubstr;

// Builds raw GGUF bytes field by field, so tests can write files the writer
// would refuse to produce.
class Raw {
 public:
  Raw& U8(uint8_t v) { return Put(v); }
  Raw& U32(uint32_t v) { return Put(v); }
  Raw& U64(uint64_t v) { return Put(v); }
  Raw& F32(float v) { return Put(v); }
  Raw& Str(std::string_view s) {
    U64(s.size());
    bytes_.append(s);
    return *this;
  }
  Raw& Header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    U32(0x46554747);
    U32(version);
    U64(n_tensors);
    return U64(n_kv);
  }
  Raw& TensorInfo(std::string_view name, std::vector<uint64_t> dims,
                  uint32_t type, uint64_t offset) {
    Str(name);
    U32(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) U64(d);
    U32(type);
    return U64(offset);
  }
  // Pads to `align` and appends `n` data bytes.
  Raw& Data(uint64_t n, uint64_t align = 32) {
    bytes_.resize((bytes_.size() + align - 1) / align * align, '\0');
    bytes_.append(n, '\x11');
    return *this;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  template <typename T>
  Raw& Put(T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    bytes_.append(b, sizeof(T));
    return *this;
  }
  std::string bytes_;
};

std::string Bytes(size_t n, uint8_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 7);
  return s;
}

// A file with metadata of every type and tensors of several types.
std::string SampleFile(uint64_t alignment = 32) {
  GgufWriter w(WriterOptions{alignment});
  w.SetUint8("u8", 200);
  w.SetInt8("i8", -100);
  w.SetUint16("u16", 60000);
  w.SetInt16("i16", -30000);
  w.SetUint32("u32", 4000000000u);
  w.SetInt32("i32", -2000000000);
  w.SetUint64("u64", 18000000000000000000ull);
  w.SetInt64("i64", -9000000000000000000ll);
  w.SetFloat32("f32", 1.5f);
  w.SetFloat64("f64", 3.25);
  w.SetBool("bool", true);
  w.SetString("str", "hello");
  w.SetStringArray("strs", std::vector<std::string>{"<unk>", "", "z\xc3\xa9"});
  w.SetFloat32Array("floats", std::vector<float>{0.5f, -1.0f, 2.0f});
  w.SetInt32Array("ints", std::vector<int32_t>{1, -2, 3});
  w.SetUint32Array("uints", std::vector<uint32_t>{7});
  w.SetInt64Array("i64s", std::vector<int64_t>{-1ll << 40});
  // A nested array: [[1, 2], []] of int32.
  auto inner0 = std::make_shared<Array>();
  inner0->element_type = ValueType::kInt32;
  inner0->elements = {Value{ValueType::kInt32, int64_t{1}},
                      Value{ValueType::kInt32, int64_t{2}}};
  auto inner1 = std::make_shared<Array>();
  inner1->element_type = ValueType::kInt32;
  auto outer = std::make_shared<Array>();
  outer->element_type = ValueType::kArray;
  outer->elements = {Value{ValueType::kArray, inner0},
                     Value{ValueType::kArray, inner1}};
  EXPECT_TRUE(w.SetValue("nested", Value{ValueType::kArray, outer}).ok());
  EXPECT_TRUE(w.AddTensor("a.f32", {3, 2}, GgmlType::kF32, Bytes(24, 1)).ok());
  EXPECT_TRUE(w.AddTensor("b.f16", {5}, GgmlType::kF16, Bytes(10, 2)).ok());
  EXPECT_TRUE(
      w.AddTensor("c.q8", {64, 2}, GgmlType::kQ8_0, Bytes(2 * 2 * 34, 3)).ok());
  EXPECT_TRUE(w.AddTensor("d.q4k", {256, 1, 1, 2}, GgmlType::kQ4_K,
                          [](absl::Span<uint8_t> out) {
                            for (size_t i = 0; i < out.size(); ++i) {
                              out[i] = static_cast<uint8_t>(i);
                            }
                            return absl::OkStatus();
                          })
                  .ok());
  absl::StatusOr<std::string> bytes = w.WriteToString();
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

void ExpectSampleContents(const GgufFile& f) {
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.GetInt("u8"), 200);
  EXPECT_EQ(f.Find("u8")->type, ValueType::kUint8);
  EXPECT_EQ(f.GetInt("i8"), -100);
  EXPECT_EQ(f.GetInt("u16"), 60000);
  EXPECT_EQ(f.GetInt("i16"), -30000);
  EXPECT_EQ(f.GetInt("u32"), 4000000000ll);
  EXPECT_EQ(f.GetInt("i32"), -2000000000);
  // Out of int64 range: no int, but the raw payload is there.
  EXPECT_EQ(f.GetInt("u64"), std::nullopt);
  EXPECT_EQ(std::get<uint64_t>(f.Find("u64")->data), 18000000000000000000ull);
  EXPECT_EQ(f.GetInt("i64"), -9000000000000000000ll);
  EXPECT_EQ(f.GetFloat("f32"), 1.5);
  EXPECT_EQ(f.Find("f32")->type, ValueType::kFloat32);
  EXPECT_EQ(f.GetFloat("f64"), 3.25);
  EXPECT_EQ(f.GetFloat("u8"), 200.0);  // integers convert to float
  EXPECT_EQ(f.GetBool("bool"), true);
  EXPECT_EQ(f.GetBool("u8"), std::nullopt);
  EXPECT_EQ(f.GetString("str"), "hello");
  EXPECT_EQ(f.GetString("u8"), std::nullopt);
  EXPECT_EQ(f.GetString("missing"), std::nullopt);
  EXPECT_EQ(f.GetStringArray("strs"),
            (std::vector<std::string>{"<unk>", "", "z\xc3\xa9"}));
  EXPECT_EQ(f.GetStringArray("floats"), std::nullopt);
  EXPECT_EQ(f.GetFloatArray("floats"), (std::vector<float>{0.5f, -1.0f, 2.0f}));
  EXPECT_EQ(f.GetIntArray("ints"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(f.GetIntArray("uints"), (std::vector<int64_t>{7}));
  EXPECT_EQ(f.GetIntArray("i64s"), (std::vector<int64_t>{-1ll << 40}));
  EXPECT_EQ(f.GetIntArray("floats"), std::nullopt);
  EXPECT_EQ(f.GetIntArray("strs"), std::nullopt);

  const Value* nested = f.Find("nested");
  ASSERT_NE(nested, nullptr);
  const Array* outer = nested->AsArray();
  ASSERT_NE(outer, nullptr);
  EXPECT_EQ(outer->element_type, ValueType::kArray);
  ASSERT_EQ(outer->elements.size(), 2u);
  const Array* inner0 = outer->elements[0].AsArray();
  ASSERT_NE(inner0, nullptr);
  ASSERT_EQ(inner0->elements.size(), 2u);
  EXPECT_EQ(inner0->elements[1].AsInt(), 2);
  EXPECT_TRUE(outer->elements[1].AsArray()->elements.empty());

  // Metadata keeps file order.
  ASSERT_FALSE(f.metadata().empty());
  EXPECT_EQ(f.metadata()[0].first, "u8");
  if (f.alignment() != 32) {
    EXPECT_EQ(f.metadata().back().first, "general.alignment");
  }

  ASSERT_EQ(f.tensors().size(), 4u);
  const TensorInfo* a = f.FindTensor("a.f32");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dims, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(a->type, GgmlType::kF32);
  EXPECT_EQ(a->num_elements, 6);
  EXPECT_EQ(a->num_bytes, 24);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(a->data), 24),
            Bytes(24, 1));
  const TensorInfo* b = f.FindTensor("b.f16");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->num_bytes, 10);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b->data), 10),
            Bytes(10, 2));
  const TensorInfo* c = f.FindTensor("c.q8");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->type, GgmlType::kQ8_0);
  EXPECT_EQ(c->num_elements, 128);
  EXPECT_EQ(c->num_bytes, 136);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(c->data), 136),
            Bytes(136, 3));
  const TensorInfo* d = f.FindTensor("d.q4k");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->dims, (std::vector<int64_t>{256, 1, 1, 2}));
  EXPECT_EQ(d->num_bytes, 2 * 144);
  for (int i = 0; i < d->num_bytes; ++i) {
    ASSERT_EQ(d->data[i], static_cast<uint8_t>(i));
  }
  EXPECT_EQ(f.FindTensor("nope"), nullptr);
  for (const TensorInfo& t : f.tensors()) {
    EXPECT_EQ(t.offset % f.alignment(), 0u) << t.name;
  }
}

TEST(GgufRoundTrip, AllValueTypesAndTensorsFromBuffer) {
  const std::string bytes = SampleFile();
  auto f = GgufFile::FromBuffer(bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->alignment(), 32u);
  ExpectSampleContents(**f);
}

TEST(GgufRoundTrip, WriteFileThenOpenMapsTheFile) {
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  ASSERT_TRUE(w.AddTensor("t", {4}, GgmlType::kF32, Bytes(16, 9)).ok());
  const std::string path = ::testing::TempDir() + "/roundtrip_" +
                           std::to_string(::getpid()) + ".gguf";
  ASSERT_TRUE(w.WriteFile(path).ok());
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->GetString("general.architecture"), "llama");
  ASSERT_NE((*f)->FindTensor("t"), nullptr);
  EXPECT_EQ(std::string(
                reinterpret_cast<const char*>((*f)->FindTensor("t")->data), 16),
            Bytes(16, 9));
  // Data section and every tensor are aligned in the file, padded at the end.
  EXPECT_EQ(std::filesystem::file_size(path) % 32, 0u);
  std::filesystem::remove(path);
}

TEST(GgufRoundTrip, CustomAlignmentIsRecordedAndHonoured) {
  const std::string bytes = SampleFile(/*alignment=*/64);
  auto f = GgufFile::FromBuffer(bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->alignment(), 64u);
  EXPECT_EQ((*f)->GetInt("general.alignment"), 64);
  ExpectSampleContents(**f);
}

TEST(GgufRoundTrip, EmptyFileAndVocabularyOnlyFile) {
  GgufWriter w;
  auto bytes = w.WriteToString();
  ASSERT_TRUE(bytes.ok());
  auto f = GgufFile::FromBuffer(*bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE((*f)->metadata().empty());
  EXPECT_TRUE((*f)->tensors().empty());
  // A file without tensors may stop right after the last metadata value.
  Raw r;
  r.Header(0, 1).Str("k").U32(8).Str("v");
  f = GgufFile::FromBuffer(r.bytes());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->GetString("k"), "v");
}

TEST(GgufRoundTrip, ReadsVersion2) {
  Raw r;
  r.Header(1, 1, /*version=*/2).Str("k").U32(4).U32(7);
  r.TensorInfo("t", {8}, 0, 0).Data(32);
  auto f = GgufFile::FromBuffer(r.bytes());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->version(), 2u);
  EXPECT_EQ((*f)->GetInt("k"), 7);
  EXPECT_EQ((*f)->FindTensor("t")->num_bytes, 32);
}

TEST(GgufRoundTrip, ZeroSizedTensorsAreAllowed) {
  Raw r;
  r.Header(2, 0).TensorInfo("empty", {0, 4}, 0, 0).TensorInfo("t", {8}, 0, 0);
  r.Data(32);
  auto f = GgufFile::FromBuffer(r.bytes());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->FindTensor("empty")->num_bytes, 0);
}

TEST(GgufWriter, RejectsInvalidTensorsAndValues) {
  GgufWriter w;
  EXPECT_FALSE(
      w.AddTensor("x", {33}, GgmlType::kQ8_0, std::string(34, 0)).ok());
  EXPECT_FALSE(w.AddTensor("x", {4}, GgmlType::kF32, std::string(15, 0)).ok());
  EXPECT_FALSE(w.AddTensor("x", {}, GgmlType::kF32, std::string()).ok());
  EXPECT_FALSE(
      w.AddTensor("x", {1, 1, 1, 1, 1}, GgmlType::kF32, std::string(4, 0))
          .ok());
  EXPECT_FALSE(
      w.AddTensor("x", {1}, static_cast<GgmlType>(99), std::string(4, 0)).ok());
  ASSERT_TRUE(w.AddTensor("x", {1}, GgmlType::kF32, std::string(4, 0)).ok());
  EXPECT_FALSE(w.AddTensor("x", {1}, GgmlType::kF32, std::string(4, 0)).ok());
  EXPECT_FALSE(w.SetValue("k", Value{ValueType::kUint8, uint64_t{256}}).ok());
  EXPECT_FALSE(w.SetValue("k", Value{ValueType::kString, int64_t{1}}).ok());
  auto mixed = std::make_shared<Array>();
  mixed->element_type = ValueType::kInt32;
  mixed->elements = {Value{ValueType::kString, std::string("s")}};
  EXPECT_FALSE(w.SetValue("k", Value{ValueType::kArray, mixed}).ok());
  EXPECT_FALSE(w.Has("k"));
}

TEST(GgufWriter, ExplicitAlignmentKeyMustMatch) {
  GgufWriter w(WriterOptions{64});
  w.SetUint8("general.alignment", 64);
  w.SetString("after", "x");
  auto bytes = w.WriteToString();
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto f = GgufFile::FromBuffer(*bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->alignment(), 64u);
  ASSERT_EQ((*f)->metadata().size(), 2u);
  EXPECT_EQ((*f)->metadata()[0].first, "general.alignment");
  w.SetUint32("general.alignment", 32);
  EXPECT_EQ(w.WriteToString().status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GgufWriter(WriterOptions{48}).WriteToString().status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Regression (fuzzer): a file whose general.alignment is not the first key
// re-serialises with its metadata order intact.
TEST(GgufWriter, RewritePreservesMetadataOrder) {
  Raw r;
  r.Header(1, 3).Str("a").U32(0).U8(1);
  r.Str("general.alignment").U32(4).U32(64);
  r.Str("b").U32(0).U8(2);
  r.TensorInfo("t", {8}, 0, 0).Data(32, 64);
  auto f = GgufFile::FromBuffer(r.bytes());
  ASSERT_TRUE(f.ok()) << f.status();
  GgufWriter w(WriterOptions{(*f)->alignment()});
  for (const auto& [key, value] : (*f)->metadata()) {
    ASSERT_TRUE(w.SetValue(key, value).ok());
  }
  const TensorInfo& t = (*f)->tensors()[0];
  ASSERT_TRUE(w.AddTensor(t.name, t.dims, t.type,
                          std::string(reinterpret_cast<const char*>(t.data),
                                      t.num_bytes))
                  .ok());
  auto bytes = w.WriteToString();
  ASSERT_TRUE(bytes.ok());
  auto g = GgufFile::FromBuffer(*bytes);
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ((*g)->metadata().size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*g)->metadata()[i].first, (*f)->metadata()[i].first);
  }
  EXPECT_EQ((*g)->alignment(), 64u);
}

TEST(GgufWriter, SetReplacesAndRemoveDeletes) {
  GgufWriter w;
  w.SetUint32("a", 1);
  w.SetString("b", "x");
  w.SetUint32("a", 2);
  EXPECT_TRUE(w.Remove("b"));
  EXPECT_FALSE(w.Remove("b"));
  auto bytes = w.WriteToString();
  ASSERT_TRUE(bytes.ok());
  auto f = GgufFile::FromBuffer(*bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_EQ((*f)->metadata().size(), 1u);
  EXPECT_EQ((*f)->GetInt("a"), 2);
}

TEST(GgufWriter, FillErrorAbortsTheWrite) {
  GgufWriter w;
  ASSERT_TRUE(w.AddTensor("t", {4}, GgmlType::kF32, [](absl::Span<uint8_t>) {
                 return absl::InternalError("boom");
               }).ok());
  const std::string path =
      ::testing::TempDir() + "/fillerr_" + std::to_string(::getpid()) + ".gguf";
  absl::Status s = w.WriteFile(path);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'t'"));
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

// --- Malformed input -------------------------------------------------------

void ExpectInvalid(const std::string& bytes, const std::string& message_part,
                   const ReaderOptions& options = {}) {
  auto f = GgufFile::FromBuffer(bytes, options);
  ASSERT_FALSE(f.ok()) << "accepted a malformed file; expected: "
                       << message_part;
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(f.status().message()), HasSubstr(message_part));
}

TEST(GgufMalformed, TruncatedAtEveryOffsetFailsCleanly) {
  const std::string bytes = SampleFile();
  auto full = GgufFile::FromBuffer(bytes);
  ASSERT_TRUE(full.ok());
  // The writer pads every tensor to 32 bytes, so the file is the data
  // section start plus the padded end of the last tensor. Any cut before the
  // end of the last tensor's data must be rejected.
  uint64_t data_end = 0;
  uint64_t padded_end = 0;
  for (const TensorInfo& t : (*full)->tensors()) {
    data_end = std::max<uint64_t>(data_end, t.offset + t.num_bytes);
    padded_end =
        std::max<uint64_t>(padded_end, (t.offset + t.num_bytes + 31) / 32 * 32);
  }
  const size_t cut_limit = bytes.size() - padded_end + data_end;
  ASSERT_LE(cut_limit, bytes.size());
  for (size_t n = 0; n < cut_limit; ++n) {
    auto f = GgufFile::FromBuffer(std::string_view(bytes.data(), n));
    ASSERT_FALSE(f.ok()) << "accepted a file truncated to " << n << " bytes";
    ASSERT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << n;
  }
  EXPECT_TRUE(
      GgufFile::FromBuffer(std::string_view(bytes.data(), cut_limit)).ok());
}

TEST(GgufMalformed, BadMagic) {
  std::string bytes = SampleFile();
  bytes[0] = 'X';
  ExpectInvalid(bytes, "bad magic");
  ExpectInvalid("", "truncated file: magic");
  ExpectInvalid("GGU", "truncated file: magic");
}

TEST(GgufMalformed, UnsupportedVersions) {
  for (uint32_t version : {0u, 1u, 4u, 99u}) {
    Raw r;
    r.Header(0, 0, version);
    ExpectInvalid(r.bytes(), "unsupported version " + std::to_string(version));
  }
  Raw big_endian;
  big_endian.Header(0, 0, 0x03000000);
  ExpectInvalid(big_endian.bytes(), "big-endian");
}

TEST(GgufMalformed, AbsurdCounts) {
  Raw tensors;
  tensors.Header(uint64_t{1} << 60, 0);
  ExpectInvalid(tensors.bytes(), "tensor count 1152921504606846976");
  Raw kvs;
  kvs.Header(0, uint64_t{1} << 60);
  ExpectInvalid(kvs.bytes(), "metadata count 1152921504606846976");
  // Within the limits but more than the remaining bytes can hold.
  Raw few_bytes;
  few_bytes.Header(1000, 0).Data(64);
  ExpectInvalid(few_bytes.bytes(), "tensor count 1000 cannot fit");
  Raw limited;
  limited.Header(3, 0).Data(1000);
  ReaderOptions options;
  options.max_tensors = 2;
  ExpectInvalid(limited.bytes(), "exceeds the limit of 2", options);
}

TEST(GgufMalformed, StringLengthPastEnd) {
  Raw key;
  key.Header(0, 1).U64(1000).U32(0).Data(32);
  ExpectInvalid(key.bytes(), "string length 1000");
  Raw value;
  value.Header(0, 1).Str("k").U32(8).U64(uint64_t{1} << 63);
  ExpectInvalid(value.bytes(), "metadata 'k'");
  Raw name;
  name.Header(1, 0).U64(UINT64_MAX).U32(1).U64(1).U32(0).U64(0);
  ExpectInvalid(name.bytes(), "tensor #0 name");
}

TEST(GgufMalformed, BadArrays) {
  Raw huge;
  huge.Header(0, 1).Str("a").U32(9).U32(0).U64(uint64_t{1} << 62);
  ExpectInvalid(huge.bytes(), "array count 4611686018427387904");
  Raw past_end;
  past_end.Header(0, 1).Str("a").U32(9).U32(4).U64(100).U32(1).U32(2);
  ExpectInvalid(past_end.bytes(), "array of 100 uint32");
  Raw bad_element;
  bad_element.Header(0, 1).Str("a").U32(9).U32(13).U64(0);
  ExpectInvalid(bad_element.bytes(), "unknown value type 13");
  // Arrays of arrays nested past max_array_depth.
  Raw deep;
  deep.Header(0, 1).Str("a").U32(9);
  for (int i = 0; i < 20; ++i) deep.U32(9).U64(1);
  deep.U32(0).U64(0);
  ExpectInvalid(deep.bytes(), "nested deeper");
}

TEST(GgufMalformed, BadValues) {
  Raw type;
  type.Header(0, 1).Str("k").U32(77).U32(0);
  ExpectInvalid(type.bytes(), "unknown value type 77");
  Raw boolean;
  boolean.Header(0, 1).Str("k").U32(7).U8(2);
  ExpectInvalid(boolean.bytes(), "bool value 2");
  Raw dup;
  dup.Header(0, 2).Str("k").U32(0).U8(1).Str("k").U32(0).U8(2);
  ExpectInvalid(dup.bytes(), "duplicate metadata key 'k'");
}

TEST(GgufMalformed, BadAlignment) {
  for (uint32_t a : {0u, 3u, 48u}) {
    Raw r;
    r.Header(0, 1).Str("general.alignment").U32(4).U32(a);
    ExpectInvalid(r.bytes(), "general.alignment " + std::to_string(a));
  }
  Raw f;
  f.Header(0, 1).Str("general.alignment").U32(6).F32(32.0f);
  ExpectInvalid(f.bytes(), "general.alignment has type float32");
}

TEST(GgufMalformed, TensorOffsetPastEnd) {
  Raw r;
  r.Header(1, 0).TensorInfo("t", {8}, 0, 64).Data(32);
  ExpectInvalid(r.bytes(), "tensor 't' data [64, +32) runs past the end");
  Raw huge;
  huge.Header(1, 0).TensorInfo("t", {8}, 0, UINT64_MAX - 31).Data(32);
  ExpectInvalid(huge.bytes(), "runs past the end");
  Raw no_data;
  no_data.Header(1, 0).TensorInfo("t", {8}, 0, 0);
  ExpectInvalid(no_data.bytes(), "runs past the end");
}

TEST(GgufMalformed, MisalignedOffset) {
  Raw r;
  r.Header(2, 0)
      .TensorInfo("a", {8}, 0, 0)
      .TensorInfo("b", {8}, 0, 36)
      .Data(96);
  ExpectInvalid(r.bytes(), "tensor 'b': data offset 36 is not a multiple");
}

TEST(GgufMalformed, OverlappingTensors) {
  Raw r;
  r.Header(2, 0)
      .TensorInfo("a", {16}, 0, 0)
      .TensorInfo("b", {8}, 0, 32)
      .Data(96);
  ExpectInvalid(r.bytes(), "tensors 'a' [0, +64) and 'b' [32) overlap");
  Raw same;
  same.Header(2, 0)
      .TensorInfo("a", {8}, 0, 0)
      .TensorInfo("b", {8}, 0, 0)
      .Data(32);
  ExpectInvalid(same.bytes(), "overlap");
}

TEST(GgufMalformed, UnknownTensorType) {
  Raw r;
  r.Header(1, 0).TensorInfo("t", {8}, 99, 0).Data(32);
  ExpectInvalid(r.bytes(), "tensor 't': unknown tensor type 99");
  Raw removed;  // 4 and 5 (Q4_2, Q4_3) were removed from ggml
  removed.Header(1, 0).TensorInfo("t", {32}, 4, 0).Data(32);
  ExpectInvalid(removed.bytes(), "unknown tensor type 4");
}

TEST(GgufMalformed, BadDims) {
  Raw overflow;
  overflow.Header(1, 0)
      .TensorInfo("t", {uint64_t{1} << 32, uint64_t{1} << 32}, 0, 0)
      .Data(32);
  ExpectInvalid(overflow.bytes(), "element count overflows");
  Raw bytes_overflow;  // elements fit in int64, bytes do not
  bytes_overflow.Header(1, 0)
      .TensorInfo("t", {uint64_t{1} << 31, uint64_t{1} << 31}, 0, 0)
      .Data(32);
  ExpectInvalid(bytes_overflow.bytes(), "byte size overflows");
  Raw negative;
  negative.Header(1, 0).TensorInfo("t", {uint64_t{1} << 63}, 0, 0).Data(32);
  ExpectInvalid(negative.bytes(), "out of range");
  Raw block;
  block.Header(1, 0).TensorInfo("t", {48, 2}, 8, 0).Data(128);
  ExpectInvalid(block.bytes(),
                "row length 48 is not a multiple of the Q8_0 block size 32");
  Raw five;
  five.Header(1, 0).TensorInfo("t", {1, 1, 1, 1, 1}, 0, 0).Data(32);
  ExpectInvalid(five.bytes(), "n_dims 5");
  Raw zero;
  zero.Header(1, 0).TensorInfo("t", {}, 0, 0).Data(32);
  ExpectInvalid(zero.bytes(), "n_dims 0");
}

TEST(GgufMalformed, DuplicateTensorNames) {
  Raw r;
  r.Header(2, 0)
      .TensorInfo("t", {8}, 0, 0)
      .TensorInfo("t", {8}, 0, 32)
      .Data(64);
  ExpectInvalid(r.bytes(), "duplicate tensor name 't'");
}

TEST(GgufOpen, MissingFileIsNotFound) {
  auto f = GgufFile::Open("/nonexistent/dir/model.gguf");
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound);
}

TEST(GgufOpen, DirectoryAndEmptyFileAreRejected) {
  EXPECT_FALSE(GgufFile::Open(::testing::TempDir()).ok());
  const std::string path =
      ::testing::TempDir() + "/empty_" + std::to_string(::getpid()) + ".gguf";
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    std::fclose(f);
  }
  auto f = GgufFile::Open(path);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(f.status().message()), HasSubstr(path));
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace triptych::gguf
