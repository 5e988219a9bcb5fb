#include "kernels/memory/isa.h"

#include "common/cpu_features.h"

namespace triptych::kernels::memory {
namespace {

// The memory kernels' AVX-512 variant needs only AVX-512F.
bool HasAvx2() { return GetCpuFeatures().avx2; }
bool HasAvx512() { return GetCpuFeatures().avx512f; }

}  // namespace

Isa BestIsa() {
  return HasAvx512() ? Isa::kAvx512 : HasAvx2() ? Isa::kAvx2 : Isa::kScalar;
}

bool IsaAvailable(Isa isa) {
  switch (isa) {
    case Isa::kAuto:
    case Isa::kScalar:
      return true;
    case Isa::kAvx2:
      return HasAvx2();
    case Isa::kAvx512:
      return HasAvx512();
  }
  return false;
}

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kAuto:
      return "auto";
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "unknown";
}

}  // namespace triptych::kernels::memory
