#include "runtime/gguf/file_type.h"

namespace triptych::gguf {

std::optional<uint32_t> LlamaFileType(kernels::GgmlType type) {
  using kernels::GgmlType;
  switch (type) {
    case GgmlType::kF32:
      return 0;  // LLAMA_FTYPE_ALL_F32
    case GgmlType::kF16:
      return 1;  // LLAMA_FTYPE_MOSTLY_F16
    case GgmlType::kQ4_0:
      return 2;  // LLAMA_FTYPE_MOSTLY_Q4_0
    case GgmlType::kQ4_1:
      return 3;  // LLAMA_FTYPE_MOSTLY_Q4_1
    case GgmlType::kQ8_0:
      return 7;  // LLAMA_FTYPE_MOSTLY_Q8_0
    case GgmlType::kQ5_0:
      return 8;  // LLAMA_FTYPE_MOSTLY_Q5_0
    case GgmlType::kQ5_1:
      return 9;  // LLAMA_FTYPE_MOSTLY_Q5_1
    case GgmlType::kQ2_K:
      return 10;  // LLAMA_FTYPE_MOSTLY_Q2_K
    case GgmlType::kQ3_K:
      return 11;  // LLAMA_FTYPE_MOSTLY_Q3_K_S
    case GgmlType::kQ4_K:
      return 14;  // LLAMA_FTYPE_MOSTLY_Q4_K_S
    case GgmlType::kQ5_K:
      return 16;  // LLAMA_FTYPE_MOSTLY_Q5_K_S
    case GgmlType::kQ6_K:
      return 18;  // LLAMA_FTYPE_MOSTLY_Q6_K
    case GgmlType::kBF16:
      return 32;  // LLAMA_FTYPE_MOSTLY_BF16
    default:
      return std::nullopt;
  }
}

}  // namespace triptych::gguf
