#ifndef TRIPTYCH_KERNELS_MEMORY_QUEST_H_
#define TRIPTYCH_KERNELS_MEMORY_QUEST_H_

// Quest-style relevancy of KV blocks (Prepare Memory + Compute Relevancy).
//
// A block's summary, per layer and KV head, is the per-channel min and max of
// its keys. Its score against a query q is the upper bound
//   bound(q, b) = sum_i max(q_i * min[b][i], q_i * max[b][i])  >=  q . k
// for every key k of block b (each term bounds q_i * k_i).
//
// GQA: a KV head serves a group of `num_heads` query heads, and one block
// selection is shared by the group, so the score is the MAX over the group's
// heads of the per-head bound: it bounds q_h . k for every head h and key k,
// and a block that any head would attend to strongly ranks high. (Quest itself
// is per head; summing over heads would rank a block needed by one head below
// blocks mildly liked by all.)
//
// Exact arithmetic order (every backend reproduces it bit for bit: scalar,
// AVX2, AVX-512, the FPGA C simulation, and the GPU kernels): element i of a
// row is added to lane (i mod 16) of 16 float partial sums that start at +0,
// in increasing i; the lanes are then reduced as a tree, s[j] += s[j + w] for
// w = 8, 4, 2, 1. Products and sums are separate float operations (no FMA).
// The max of two floats is `a > b ? a : b`.
//
// All functions are thread-safe (pure).

#include <cstdint>

#include "kernels/memory/isa.h"

namespace triptych::kernels::memory {

// Width of the canonical partial-sum layout described above.
inline constexpr int kQuestLanes = 16;

// scores[b] = max over h < num_heads of bound(q[h], b), for b < num_blocks.
// q: [num_heads][head_dim]; mins, maxs: [num_blocks][head_dim].
// Preconditions: num_heads >= 1, head_dim >= 1, num_blocks >= 0, no aliasing
// of `scores` with the inputs.
void QuestScores(const float* q, int num_heads, int head_dim,
                 const float* mins, const float* maxs, int64_t num_blocks,
                 float* scores, Isa isa = Isa::kAuto);

// Element type of the KV cache (runtime/kv/kv_cache.h).
enum class KeyDtype { kF16, kF32 };

// Geometry of one KV block in the cache layout
//   [layer][K = 0 | V = 1][token slot][kv_head][head_dim].
struct KvBlockShape {
  int num_layers = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int block_tokens = 0;  // token slots per block
  KeyDtype dtype = KeyDtype::kF16;
};

// Bytes of one block of `shape`.
int64_t KvBlockBytes(const KvBlockShape& shape);

// Prepare Memory: per-channel min and max of the keys in token slots
// [0, num_tokens) of `block` (a partially filled last block passes fewer
// tokens than block_tokens). Writes mins and maxs as
// [num_layers][num_kv_heads][head_dim] floats; F16 keys are widened exactly.
// The min of two values is `x < m ? x : m` and the max `x > m ? x : m`,
// folded in slot order from slot 0, so all ISAs agree bit for bit.
// Preconditions: positive geometry, 1 <= num_tokens <= block_tokens,
// `block` holds KvBlockBytes(shape) bytes (any alignment).
void BlockKeySummary(const KvBlockShape& shape, const void* block,
                     int num_tokens, float* mins, float* maxs,
                     Isa isa = Isa::kAuto);

}  // namespace triptych::kernels::memory

#endif  // TRIPTYCH_KERNELS_MEMORY_QUEST_H_
