#ifndef TRIPTYCH_RUNTIME_GGUF_FILE_TYPE_H_
#define TRIPTYCH_RUNTIME_GGUF_FILE_TYPE_H_

// general.file_type values (llama.cpp's llama_ftype) for files whose 2-D
// weights are mostly of one type.

#include <cstdint>
#include <optional>

#include "kernels/ggml_type.h"

namespace triptych::gguf {

// The llama_ftype of a file whose weights are mostly `type`; nullopt for
// types without one. Q4_K maps to "Q4_K_S" (14), the all-Q4_K mix.
std::optional<uint32_t> LlamaFileType(kernels::GgmlType type);

}  // namespace triptych::gguf

#endif  // TRIPTYCH_RUNTIME_GGUF_FILE_TYPE_H_
