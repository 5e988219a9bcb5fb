#ifndef TRIPTYCH_KERNELS_ATTENTION_ATTENTION_H_
#define TRIPTYCH_KERNELS_ATTENTION_ATTENTION_H_

// Fused attention of one query token over a list of KV row runs, for one KV
// head and the group of query heads that share it (GQA):
//
//   out[h] = sum_j softmax_j(scale * q'[h] . k_j) * v_j
//
// over the rows j of `runs`, in order. The KV rows are read in place from the
// paged cache (runtime/kv/kv_cache.h): a run is a block's consecutive token
// slots of one KV head, rows `row_stride` elements apart. For F16 keys the
// query is first rounded to F16 (q'), as ggml does before its F16 dot.
//
// Two passes: all scores (kept in the scratch), then max, exp, sum and the
// weighted sum of V. The result depends only on the sequence of rows, not on
// how they are split into runs, so attending over every block of a context
// as one list or as any split of it gives the same bits.
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

// Consecutive rows of one KV head: row r's key starts at
// k + r * row_stride elements, its value at v + r * row_stride.
struct KvRun {
  const void* k = nullptr;
  const void* v = nullptr;
  int32_t rows = 0;
};

struct AttentionShape {
  int num_heads = 1;       // query heads in the group (>= 1)
  int head_dim = 0;        // >= 1
  int64_t row_stride = 0;  // elements between consecutive rows of a run
  KvElem elem = KvElem::kF16;
  float scale = 1.0f;      // usually 1 / sqrt(head_dim)
};

// Reused buffers; one per thread.
struct AttentionScratch {
  std::vector<float> scores;
  std::vector<float> q;
};

// q: [num_heads][head_dim] floats; out: [num_heads][head_dim] floats (may not
// alias q). Preconditions (aborts otherwise): at least one row in `runs`,
// positive shape; an unavailable `isa` aborts (check IsaAvailable first).
void AttendOneQuery(const AttentionShape& shape, const float* q,
                    absl::Span<const KvRun> runs, float* out,
                    AttentionScratch* scratch, Isa isa = Isa::kAuto);

}  // namespace triptych::kernels::attention

#endif  // TRIPTYCH_KERNELS_ATTENTION_ATTENTION_H_
