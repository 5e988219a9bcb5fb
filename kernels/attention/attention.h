#ifndef TRIPTYCH_KERNELS_ATTENTION_ATTENTION_H_
#define TRIPTYCH_KERNELS_ATTENTION_ATTENTION_H_

// Fused attention of one query token over a list of KV row runs, for a
// range of KV heads and the group of query heads that share each (GQA):
//
//   out[g][h] = sum_j softmax_j(scale * q'[g][h] . k_j[g]) * v_j[g]
//
// over the rows j of the runs whose head_mask has bit g, in order. The KV
// rows are read in place from the paged cache (runtime/kv/kv_cache.h): a run
// is a block's consecutive token slots, rows `row_stride` elements apart,
// KV head g at g * head_dim elements into the row. Reading every KV head of
// a row together keeps the reads contiguous (a row of the cache interleaves
// the heads); the masks let each KV head attend its own subset of blocks
// (sparse attention) in the same pass. For F16 keys the query is first
// rounded to F16 (q'), as ggml does before its F16 dot.
//
// Two passes: all scores (kept in the scratch), then max, exp, sum and the
// weighted sum of V. The result for KV head g depends only on its own
// sequence of rows, not on how they are split into runs, on the other
// heads, or on the head range of the call: attending over every block of a
// context gives the same bits as any split of it or any selection that
// keeps all of its blocks.
//
// Implementations: a scalar reference (std::exp, double sum) and AVX2 /
// AVX-512 variants (F16C conversion, FMA, a polynomial exp within 2 ulp),
// chosen at run time. The SIMD variants agree with the reference within
// float rounding, not bit for bit.
//
// Thread-safe (pure) given a scratch per thread.

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace triptych::kernels::attention {

enum class KvElem { kF16, kF32 };
enum class Isa { kAuto, kScalar, kAvx2, kAvx512 };

// The best ISA this CPU runs, and whether `isa` runs here.
Isa BestIsa();
bool IsaAvailable(Isa isa);
const char* IsaName(Isa isa);

// Consecutive rows: row r's key for KV head g starts at
// k + r * row_stride + g * head_dim elements, its value likewise from v.
struct KvRun {
  const void* k = nullptr;
  const void* v = nullptr;
  int32_t rows = 0;
  uint32_t head_mask = ~0u;  // bit g: KV head g (of the call's range) reads these rows
};

inline constexpr int kMaxKvHeadsPerCall = 32;

struct AttentionShape {
  int num_kv_heads = 1;    // KV heads in this call, 1..kMaxKvHeadsPerCall
  int num_heads = 1;       // query heads per KV head (the group, >= 1)
  int head_dim = 0;        // >= 1
  int64_t row_stride = 0;  // elements between consecutive rows of a run
  KvElem elem = KvElem::kF16;
  float scale = 1.0f;      // usually 1 / sqrt(head_dim)
};

// Reused buffers; one per thread.
struct AttentionScratch {
  std::vector<float> scores;
  std::vector<float> q;
  std::vector<int64_t> rows;  // per KV head
};

// q and out: [num_kv_heads][num_heads][head_dim] floats (out may not alias
// q). Preconditions (aborts otherwise): every KV head of the call has at
// least one row, positive shape, num_kv_heads <= kMaxKvHeadsPerCall; an
// unavailable `isa` aborts (check IsaAvailable first).
void AttendOneQuery(const AttentionShape& shape, const float* q,
                    absl::Span<const KvRun> runs, float* out,
                    AttentionScratch* scratch, Isa isa = Isa::kAuto);

}  // namespace triptych::kernels::attention

#endif  // TRIPTYCH_KERNELS_ATTENTION_ATTENTION_H_
