#ifndef TRIPTYCH_KERNELS_FPGA_KERNEL_LIMITS_H_
#define TRIPTYCH_KERNELS_FPGA_KERNEL_LIMITS_H_

// Compile-time sizes of the FPGA kernels' on-chip buffers. The host code
// (fpga_backend.cc) checks requests against them before a run.

namespace triptych::kernels::fpga {

// quest_score_topk
inline constexpr int kLanes = 16;          // floats per 512-bit AXI beat
inline constexpr int kMaxHeadDim = 256;    // query / summary row length
inline constexpr int kMaxHeads = 16;       // query heads per KV head group
inline constexpr int kMaxTopK = 128;       // insertion-sort slots
// bm25_score_topk
inline constexpr int kMaxTerms = 64;       // query terms per call
inline constexpr int kTileDocs = 4096;     // doc scores held on chip at once

}  // namespace triptych::kernels::fpga

#endif  // TRIPTYCH_KERNELS_FPGA_KERNEL_LIMITS_H_
