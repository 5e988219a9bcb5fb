#ifndef TRIPTYCH_KERNELS_MEMORY_CPU_KERNEL_TABLE_H_
#define TRIPTYCH_KERNELS_MEMORY_CPU_KERNEL_TABLE_H_

// Dispatch table of the memory ops that have ISA variants (QuestScores,
// DenseInnerProduct, BlockKeySummary). kernels/memory/ops.cc picks one table
// per call. Every table is complete: each variant implements every op.

#include <cstdint>

namespace triptych::kernels::memory::cpu {

using QuestScoresFn = void (*)(const float* q, int num_heads, int head_dim,
                               const float* mins, const float* maxs,
                               int64_t num_blocks, float* scores);
using DenseIpFn = void (*)(const float* q, const float* docs, int64_t num_docs,
                           int dim, float* scores);
// Min/max over `num_tokens` rows of `head_dim` keys, `token_stride` elements
// apart (one layer and KV head of a block).
using KeySummaryF32Fn = void (*)(const float* keys, int64_t token_stride,
                                 int num_tokens, int head_dim, float* mins,
                                 float* maxs);
using KeySummaryF16Fn = void (*)(const uint16_t* keys, int64_t token_stride,
                                 int num_tokens, int head_dim, float* mins,
                                 float* maxs);

struct MemoryKernelTable {
  QuestScoresFn quest_scores = nullptr;
  DenseIpFn dense_ip = nullptr;
  KeySummaryF32Fn key_summary_f32 = nullptr;
  KeySummaryF16Fn key_summary_f16 = nullptr;
};

const MemoryKernelTable& ScalarMemoryKernels();
// Only valid to call on CPUs with the ISA (see isa.h).
const MemoryKernelTable& Avx2MemoryKernels();
const MemoryKernelTable& Avx512MemoryKernels();

}  // namespace triptych::kernels::memory::cpu

#endif  // TRIPTYCH_KERNELS_MEMORY_CPU_KERNEL_TABLE_H_
