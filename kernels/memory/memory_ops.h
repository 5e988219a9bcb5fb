#ifndef TRIPTYCH_KERNELS_MEMORY_MEMORY_OPS_H_
#define TRIPTYCH_KERNELS_MEMORY_MEMORY_OPS_H_

// The memory pipeline's ops in one include: Quest block scores and key
// summaries (quest.h), top-k and budget selection (top_k.h), BM25 (bm25.h),
// dense inner products (dense_ip.h). These are the CPU entry points (scalar
// reference + ISA variants chosen at run time); memory_backend.h is the
// device-independent interface that also has FPGA and GPU implementations.

#include "kernels/memory/bm25.h"      // IWYU pragma: export
#include "kernels/memory/dense_ip.h"  // IWYU pragma: export
#include "kernels/memory/isa.h"       // IWYU pragma: export
#include "kernels/memory/quest.h"     // IWYU pragma: export
#include "kernels/memory/top_k.h"     // IWYU pragma: export

#endif  // TRIPTYCH_KERNELS_MEMORY_MEMORY_OPS_H_
