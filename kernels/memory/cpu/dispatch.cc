#include "kernels/memory/cpu/dispatch.h"

#include <cstdio>
#include <cstdlib>

namespace triptych::kernels::memory::cpu {

const MemoryKernelTable& TableFor(Isa isa) {
  if (isa == Isa::kAuto) isa = BestIsa();
  if (!IsaAvailable(isa)) {
    std::fprintf(stderr,
                 "triptych::kernels::memory: ISA %s not available on this CPU\n",
                 IsaName(isa));
    std::abort();
  }
  switch (isa) {
    case Isa::kAvx512:
      return Avx512MemoryKernels();
    case Isa::kAvx2:
      return Avx2MemoryKernels();
    default:
      return ScalarMemoryKernels();
  }
}

}  // namespace triptych::kernels::memory::cpu
