#ifndef TRIPTYCH_KERNELS_GGML_TYPE_H_
#define TRIPTYCH_KERNELS_GGML_TYPE_H_

// Tensor element types as numbered by the GGUF format (ggml_type), with the
// block geometry needed to size tensors. Only the types in IsSupported() have
// kernels; the others are listed so that files using them get a clear error.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace triptych::kernels {

enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kBF16 = 30,
};

struct TypeTraits {
  std::string_view name;
  int64_t block_elems;  // elements per block (1 for plain types)
  int64_t block_bytes;  // bytes per block
};

// Traits of a known type id, or nullopt for an id this project does not know.
std::optional<TypeTraits> GetTypeTraits(uint32_t type_id);

// True for the weight types with dequantize / dot kernels:
// F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K.
bool IsSupported(GgmlType type);

// Parses a type name as printed by TypeName ("F32", "Q4_K", ...), case-insensitive.
std::optional<GgmlType> ParseTypeName(std::string_view name);

std::string_view TypeName(GgmlType type);

// Bytes of a row of `n` elements; n must be a multiple of block_elems.
int64_t RowBytes(GgmlType type, int64_t n);

}  // namespace triptych::kernels

#endif  // TRIPTYCH_KERNELS_GGML_TYPE_H_
