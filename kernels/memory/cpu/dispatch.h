#ifndef TRIPTYCH_KERNELS_MEMORY_CPU_DISPATCH_H_
#define TRIPTYCH_KERNELS_MEMORY_CPU_DISPATCH_H_

#include "kernels/memory/cpu/kernel_table.h"
#include "kernels/memory/isa.h"

namespace triptych::kernels::memory::cpu {

// The table of `isa` (kAuto: the best available). Aborts with a message when
// the CPU lacks the ISA: asking for it is a programming error (callers check
// IsaAvailable first).
const MemoryKernelTable& TableFor(Isa isa);

}  // namespace triptych::kernels::memory::cpu

#endif  // TRIPTYCH_KERNELS_MEMORY_CPU_DISPATCH_H_
