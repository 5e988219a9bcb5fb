#include "kernels/memory/isa.h"

#include <cpuid.h>

namespace triptych::kernels::memory {
namespace {

// Read from CPUID directly (as kernels/quant.cc does): an ISA also needs the
// OS to save its registers (XCR0), which __builtin_cpu_supports ignores.
struct Features {
  bool avx2 = false;    // AVX2 + FMA + F16C, YMM state enabled
  bool avx512 = false;  // AVX-512F on top of the above, ZMM state enabled
};

Features Detect() {
  Features f;
  unsigned a, b, c, d;
  if (!__get_cpuid_count(1, 0, &a, &b, &c, &d)) return f;
  const bool fma = c & (1u << 12), osxsave = c & (1u << 27),
             avx = c & (1u << 28), f16c = c & (1u << 29);
  if (!osxsave || !avx) return f;
  unsigned xcr0_lo, xcr0_hi;
  __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  const bool ymm_state = (xcr0_lo & 0x6) == 0x6;
  const bool zmm_state = (xcr0_lo & 0xE6) == 0xE6;
  unsigned b7 = 0, c7 = 0, d7 = 0;
  if (!__get_cpuid_count(7, 0, &a, &b7, &c7, &d7)) return f;
  f.avx2 = ymm_state && (b7 & (1u << 5)) && fma && f16c;
  f.avx512 = f.avx2 && zmm_state && (b7 & (1u << 16));
  return f;
}

const Features& Cpu() {
  static const Features f = Detect();
  return f;
}

}  // namespace

Isa BestIsa() {
  return Cpu().avx512 ? Isa::kAvx512 : Cpu().avx2 ? Isa::kAvx2 : Isa::kScalar;
}

bool IsaAvailable(Isa isa) {
  switch (isa) {
    case Isa::kAuto:
    case Isa::kScalar:
      return true;
    case Isa::kAvx2:
      return Cpu().avx2;
    case Isa::kAvx512:
      return Cpu().avx512;
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
