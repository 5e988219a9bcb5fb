#ifndef TRIPTYCH_KERNELS_ATTENTION_ATTENTION_IMPL_H_
#define TRIPTYCH_KERNELS_ATTENTION_ATTENTION_IMPL_H_

// Per-ISA entry points of AttendOneQuery (attention.h); internal.

#include "kernels/attention/attention.h"

namespace triptych::kernels::attention::internal {

// scratch->rows[g] holds the number of rows KV head g reads (> 0).
void AttendScalar(const AttentionShape& shape, const float* q,
                  absl::Span<const KvRun> runs, float* out,
                  AttentionScratch* scratch);
void AttendAvx2(const AttentionShape& shape, const float* q,
                absl::Span<const KvRun> runs, float* out,
                AttentionScratch* scratch);
void AttendAvx512(const AttentionShape& shape, const float* q,
                  absl::Span<const KvRun> runs, float* out,
                  AttentionScratch* scratch);

}  // namespace triptych::kernels::attention::internal

#endif  // TRIPTYCH_KERNELS_ATTENTION_ATTENTION_IMPL_H_
