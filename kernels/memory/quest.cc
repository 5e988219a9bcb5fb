#include "kernels/memory/quest.h"

#include <cstdint>

#include "kernels/memory/cpu/dispatch.h"

namespace triptych::kernels::memory {

void QuestScores(const float* q, int num_heads, int head_dim,
                 const float* mins, const float* maxs, int64_t num_blocks,
                 float* scores, Isa isa) {
  cpu::TableFor(isa).quest_scores(q, num_heads, head_dim, mins, maxs,
                                  num_blocks, scores);
}

int64_t KvBlockBytes(const KvBlockShape& shape) {
  const int64_t elem = shape.dtype == KeyDtype::kF16 ? 2 : 4;
  return int64_t{shape.num_layers} * 2 * shape.block_tokens *
         shape.num_kv_heads * shape.head_dim * elem;
}

void BlockKeySummary(const KvBlockShape& shape, const void* block,
                     int num_tokens, float* mins, float* maxs, Isa isa) {
  const cpu::MemoryKernelTable& t = cpu::TableFor(isa);
  const int64_t token_stride = int64_t{shape.num_kv_heads} * shape.head_dim;
  // K and V of one layer: 2 * block_tokens token rows.
  const int64_t layer_stride = 2 * shape.block_tokens * token_stride;
  for (int l = 0; l < shape.num_layers; ++l) {
    for (int h = 0; h < shape.num_kv_heads; ++h) {
      const int64_t src = l * layer_stride + int64_t{h} * shape.head_dim;
      const int64_t dst =
          (int64_t{l} * shape.num_kv_heads + h) * shape.head_dim;
      if (shape.dtype == KeyDtype::kF16) {
        t.key_summary_f16(static_cast<const uint16_t*>(block) + src,
                          token_stride, num_tokens, shape.head_dim,
                          mins + dst, maxs + dst);
      } else {
        t.key_summary_f32(static_cast<const float*>(block) + src, token_stride,
                          num_tokens, shape.head_dim, mins + dst, maxs + dst);
      }
    }
  }
}

}  // namespace triptych::kernels::memory
