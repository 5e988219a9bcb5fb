#ifndef TRIPTYCH_KERNELS_MEMORY_ISA_H_
#define TRIPTYCH_KERNELS_MEMORY_ISA_H_

// CPU instruction-set variants of the memory ops (relevancy scoring, key
// summaries, dense inner products). Unlike the weight kernels
// (kernels/quant.h, whose AVX-512 path also needs VNNI and BF16), these need
// only AVX2+FMA+F16C or AVX-512F, so availability is detected separately.
//
// Thread-safe (pure; detection runs once).

namespace triptych::kernels::memory {

enum class Isa { kAuto, kScalar, kAvx2, kAvx512 };

// The variant kAuto resolves to on this CPU.
Isa BestIsa();
// True when this CPU (and OS register state) can run `isa`.
bool IsaAvailable(Isa isa);
const char* IsaName(Isa isa);

}  // namespace triptych::kernels::memory

#endif  // TRIPTYCH_KERNELS_MEMORY_ISA_H_
