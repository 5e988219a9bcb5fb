#ifndef TRIPTYCH_KERNELS_CPU_SCALAR_QUANTIZE_H_
#define TRIPTYCH_KERNELS_CPU_SCALAR_QUANTIZE_H_

// Reference quantizers: the rounding of ggml's quantize_row_*_ref (the
// non-imatrix path llama-quantize uses), so that a row quantized here has the
// same bytes as one quantized by llama.cpp. `n` is a multiple of the block
// size. Compiled without ISA flags; the ISA variants call these for the types
// they do not vectorize.

#include <cstdint>

namespace triptych::kernels::cpu {

void QuantizeRowF32Ref(const float* src, void* dst, int64_t n);
void QuantizeRowF16Ref(const float* src, void* dst, int64_t n);
void QuantizeRowBf16Ref(const float* src, void* dst, int64_t n);
void QuantizeRowQ8_0Ref(const float* src, void* dst, int64_t n);
void QuantizeRowQ4_0Ref(const float* src, void* dst, int64_t n);
void QuantizeRowQ4KRef(const float* src, void* dst, int64_t n);
void QuantizeRowQ6KRef(const float* src, void* dst, int64_t n);
void QuantizeRowQ8KRef(const float* src, void* dst, int64_t n);

}  // namespace triptych::kernels::cpu

#endif  // TRIPTYCH_KERNELS_CPU_SCALAR_QUANTIZE_H_
