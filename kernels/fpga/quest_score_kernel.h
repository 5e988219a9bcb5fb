#ifndef TRIPTYCH_KERNELS_FPGA_QUEST_SCORE_KERNEL_H_
#define TRIPTYCH_KERNELS_FPGA_QUEST_SCORE_KERNEL_H_

// HLS kernel `quest_score_topk`: Quest block scores of one KV head group
// plus their top-k, as one dataflow pipeline
//   read summaries (512-bit beats) -> score -> { write scores, top-k }.
// Arithmetic is exactly that of kernels/memory/quest.h (16 lane partial
// sums, tree reduction, max over heads), so C simulation is bit-identical to
// the CPU reference; the top-k equals kernels/memory/top_k.h's TopK.
//
// Argument order is the kernel's register map (xrt::kernel::group_id and
// run arguments follow it).
//   query      [num_heads][head_dim]   float   m_axi gmem0
//   mins       [num_blocks][head_dim]  float   m_axi gmem1
//   maxs       [num_blocks][head_dim]  float   m_axi gmem2
//   scores     [num_blocks]            float   m_axi gmem3 (out)
//   topk_index [k]                     int32   m_axi gmem3 (out)
//   topk_score [k]                     float   m_axi gmem3 (out)
//   num_heads <= kMaxHeads, head_dim <= kMaxHeadDim, num_blocks >= 0,
//   0 <= k <= kMaxTopK                         s_axilite
// Only the first min(k, num_blocks) top-k entries are written.

#include <cstdint>

extern "C" void quest_score_topk(const float* query, const float* mins,
                                 const float* maxs, float* scores,
                                 int32_t* topk_index, float* topk_score,
                                 int num_heads, int head_dim, int num_blocks,
                                 int k);

#endif  // TRIPTYCH_KERNELS_FPGA_QUEST_SCORE_KERNEL_H_
