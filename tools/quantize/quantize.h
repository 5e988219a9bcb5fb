#ifndef TRIPTYCH_TOOLS_QUANTIZE_QUANTIZE_H_
#define TRIPTYCH_TOOLS_QUANTIZE_QUANTIZE_H_

// Converts an F32 / F16 / BF16 GGUF model to another weight type.
//
// 2-D (and higher) float tensors whose row length is a multiple of the
// target's block size get the target type; K types need rows that are a
// multiple of 256 and otherwise fall back to Q8_0 (rows a multiple of 32) or
// F16; other block types fall back to F16. 1-D tensors become F32. Tensors
// already quantized are copied unchanged. All metadata is copied, with
// general.file_type (and general.quantization_version) updated. The output
// is streamed one tensor at a time.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/ggml_type.h"
#include "runtime/gguf/gguf_reader.h"

namespace triptych::tools {

struct QuantizeOptions {
  std::string in;
  std::string out;
  // F32, F16, BF16, Q8_0, Q4_0, Q4_K or Q6_K.
  kernels::GgmlType type = kernels::GgmlType::kQ8_0;
  int num_threads = 0;  // 0: all hardware threads
};

// What happened to one tensor.
struct TensorConversion {
  std::string name;
  kernels::GgmlType from;
  kernels::GgmlType to;
  std::string note;  // non-empty when `to` is not the requested type
};

// The type `tensor` gets when converting to `target`; sets `*note` (when
// non-null) to the reason for a fallback.
kernels::GgmlType ChooseTensorType(const gguf::TensorInfo& tensor,
                                   kernels::GgmlType target, std::string* note);

// Converts options.in to options.out. Returns one entry per tensor in file
// order. Errors: kInvalidArgument for an unsupported target type, errors
// opening the input, writer I/O errors.
absl::StatusOr<std::vector<TensorConversion>> QuantizeGguf(
    const QuantizeOptions& options);

}  // namespace triptych::tools

#endif  // TRIPTYCH_TOOLS_QUANTIZE_QUANTIZE_H_
