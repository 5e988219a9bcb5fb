#ifndef TRIPTYCH_RUNTIME_GGUF_GGUF_READER_H_
#define TRIPTYCH_RUNTIME_GGUF_GGUF_READER_H_

// Reader for GGUF v2/v3 files (the llama.cpp model format).
//
// The file is memory-mapped read-only; metadata is parsed into owned values
// and tensor data is exposed as views into the mapping. Every count, length,
// offset and size is checked against the file before use, so a malformed or
// hostile file yields an error status, never a crash or an out-of-bounds read.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kernels/ggml_type.h"

namespace triptych::gguf {

// GGUF metadata value types, numbered as in the specification.
enum class ValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

struct Value;

// An array value: element type plus elements (arrays may nest).
struct Array {
  ValueType element_type = ValueType::kUint8;
  std::vector<Value> elements;
};

// One metadata value. Integers of every width are held widened; `type`
// records the width that was in the file.
struct Value {
  ValueType type = ValueType::kUint8;
  std::variant<uint64_t, int64_t, double, bool, std::string,
               std::shared_ptr<Array>>
      data;

  // Typed accessors: nullopt / nullptr when the value is not of a compatible
  // kind (any integer width converts to an integer when in range).
  std::optional<int64_t> AsInt() const;
  std::optional<double> AsFloat() const;  // float or integer
  std::optional<bool> AsBool() const;
  const std::string* AsString() const;
  const Array* AsArray() const;
};

struct TensorInfo {
  std::string name;
  std::vector<int64_t> dims;  // dims[0] is the contiguous (row) dimension
  kernels::GgmlType type = kernels::GgmlType::kF32;
  uint64_t offset = 0;        // relative to the start of the data section
  int64_t num_elements = 0;
  int64_t num_bytes = 0;
  const uint8_t* data = nullptr;  // points into the mapping
};

struct ReaderOptions {
  // Upper bounds that reject absurd files before allocating for them.
  int64_t max_tensors = 1 << 20;
  int64_t max_metadata_entries = 1 << 20;
  int64_t max_array_elements = 1 << 26;
  int64_t max_string_bytes = 1 << 30;
  int max_array_depth = 8;
};

// An opened GGUF file. Immutable after Open(); thread-safe for concurrent
// reads. Tensor data views stay valid while the GgufFile lives.
class GgufFile {
 public:
  // Opens and validates `path`. Errors: kNotFound (no file),
  // kInvalidArgument (malformed: bad magic, unsupported version, truncated,
  // counts or offsets out of range, overlapping tensors, unknown types,
  // misaligned offsets).
  static absl::StatusOr<std::unique_ptr<GgufFile>> Open(
      const std::string& path, const ReaderOptions& options = {});

  // Same validation over an in-memory image (the bytes are copied); used by
  // the fuzzer and tests.
  static absl::StatusOr<std::unique_ptr<GgufFile>> FromBuffer(
      std::string_view bytes, const ReaderOptions& options = {});

  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }

  // Metadata in file order and by key.
  const std::vector<std::pair<std::string, Value>>& metadata() const {
    return metadata_;
  }
  const Value* Find(std::string_view key) const;

  // Convenience getters; nullopt when missing or of the wrong kind.
  std::optional<int64_t> GetInt(std::string_view key) const;
  std::optional<double> GetFloat(std::string_view key) const;
  std::optional<bool> GetBool(std::string_view key) const;
  std::optional<std::string> GetString(std::string_view key) const;
  // A string array (e.g. tokenizer.ggml.tokens); nullopt when missing or not
  // an array of strings.
  std::optional<std::vector<std::string>> GetStringArray(
      std::string_view key) const;
  std::optional<std::vector<float>> GetFloatArray(std::string_view key) const;
  std::optional<std::vector<int64_t>> GetIntArray(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* FindTensor(std::string_view name) const;

 private:
  GgufFile() = default;
  absl::Status Parse(const ReaderOptions& options);

  // Either a mapping (munmap on destruction) or an owned buffer.
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  void* mapping_ = nullptr;
  std::string buffer_;

  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::vector<std::pair<std::string, Value>> metadata_;
  std::map<std::string, size_t, std::less<>> metadata_index_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

}  // namespace triptych::gguf

#endif  // TRIPTYCH_RUNTIME_GGUF_GGUF_READER_H_
