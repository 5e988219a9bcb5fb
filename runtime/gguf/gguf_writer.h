#ifndef TRIPTYCH_RUNTIME_GGUF_GGUF_WRITER_H_
#define TRIPTYCH_RUNTIME_GGUF_GGUF_WRITER_H_

// Writer for GGUF v3 files (little-endian), the counterpart of GgufFile.
//
// Metadata and tensor descriptions are collected in memory; tensor bytes are
// either handed over up front or produced by a callback at write time, so a
// multi-gigabyte model can be streamed to disk holding one tensor at a time.
//
// Usage:
//   GgufWriter w;
//   w.SetString("general.architecture", "llama");
//   RETURN_IF_ERROR(w.AddTensor("x", {64, 8}, GgmlType::kF32, bytes));
//   RETURN_IF_ERROR(w.WriteFile("/tmp/x.gguf"));
//
// Thread safety: none; use from one thread.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kernels/ggml_type.h"
#include "runtime/gguf/gguf_reader.h"

namespace triptych::gguf {

struct WriterOptions {
  // Alignment of the data section and of every tensor's data (a power of
  // two, at most 2^30 as the reader accepts). Values other than the GGUF
  // default 32 are recorded in the file as general.alignment (uint32, after
  // the other metadata) unless that key was set explicitly, in which case
  // it must hold the same value.
  uint64_t alignment = 32;
};

// Produces a tensor's bytes at write time: must fill all of `out` (exactly
// the tensor's byte size) or return an error, which aborts the write.
using TensorDataFn = std::function<absl::Status(absl::Span<uint8_t> out)>;

// Bytes of a tensor of `type` with `dims` (dims[0] = row length), or
// kInvalidArgument when the type is unknown, there are not 1 to 4 dims, a
// dim is negative, dims[0] is not a multiple of the block size, or the size
// overflows.
absl::StatusOr<int64_t> TensorBytes(kernels::GgmlType type,
                                    absl::Span<const int64_t> dims);

class GgufWriter {
 public:
  explicit GgufWriter(WriterOptions options = {});
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;

  // Metadata setters. Setting an existing key replaces its value and keeps
  // its position in the file; new keys are appended in call order.
  void SetUint8(std::string key, uint8_t v);
  void SetInt8(std::string key, int8_t v);
  void SetUint16(std::string key, uint16_t v);
  void SetInt16(std::string key, int16_t v);
  void SetUint32(std::string key, uint32_t v);
  void SetInt32(std::string key, int32_t v);
  void SetUint64(std::string key, uint64_t v);
  void SetInt64(std::string key, int64_t v);
  void SetFloat32(std::string key, float v);
  void SetFloat64(std::string key, double v);
  void SetBool(std::string key, bool v);
  void SetString(std::string key, std::string v);
  void SetStringArray(std::string key, absl::Span<const std::string> v);
  void SetFloat32Array(std::string key, absl::Span<const float> v);
  void SetInt32Array(std::string key, absl::Span<const int32_t> v);
  void SetUint32Array(std::string key, absl::Span<const uint32_t> v);
  void SetInt64Array(std::string key, absl::Span<const int64_t> v);

  // Sets any value, e.g. one copied from a GgufFile (nested arrays
  // included). kInvalidArgument when the value is inconsistent: payload of
  // the wrong kind or out of range for `type`, or array elements whose type
  // differs from the array's element type.
  absl::Status SetValue(std::string key, Value v);

  // Removes a key; false when it was not set.
  bool Remove(std::string_view key);
  bool Has(std::string_view key) const { return index_.count(key) != 0; }

  // Adds a tensor whose bytes are given now (`bytes.size()` must equal the
  // tensor's byte size). Tensors are laid out in call order, each at an
  // aligned offset. kInvalidArgument for a duplicate name, a size mismatch
  // or dims TensorBytes rejects.
  absl::Status AddTensor(std::string name, std::vector<int64_t> dims,
                         kernels::GgmlType type, std::string bytes);
  // Adds a tensor whose bytes `fill` produces during WriteFile/WriteToString
  // (called once per write, in tensor order).
  absl::Status AddTensor(std::string name, std::vector<int64_t> dims,
                         kernels::GgmlType type, TensorDataFn fill);

  // Writes the file to `path` (via a temporary file renamed into place, so a
  // failed write leaves no partial file). Errors: those of the fill
  // callbacks; kUnavailable / kResourceExhausted for I/O failures.
  absl::Status WriteFile(const std::string& path);
  // The whole file image in memory (for tests and small files).
  absl::StatusOr<std::string> WriteToString();

  size_t num_tensors() const { return tensors_.size(); }
  uint64_t alignment() const { return options_.alignment; }

 private:
  struct PendingTensor {
    std::string name;
    std::vector<int64_t> dims;
    kernels::GgmlType type;
    int64_t num_bytes;
    std::string bytes;  // when given up front
    TensorDataFn fill;  // otherwise
  };

  void SetChecked(std::string key, Value v);
  absl::Status AddTensorImpl(PendingTensor t);
  // Everything before the data section, padding included; fills `offsets`
  // with each tensor's offset in the data section.
  std::string SerializeHeader(std::vector<uint64_t>* offsets) const;
  // Calls `sink(data)` for every chunk of the file in order.
  absl::Status Emit(const std::function<absl::Status(std::string_view)>& sink);

  WriterOptions options_;
  std::vector<std::pair<std::string, Value>> metadata_;
  std::map<std::string, size_t, std::less<>> index_;
  std::vector<PendingTensor> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

}  // namespace triptych::gguf

#endif  // TRIPTYCH_RUNTIME_GGUF_GGUF_WRITER_H_
