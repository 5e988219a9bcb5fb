#include "common/cpu_features.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace triptych {
namespace {

CpuFeatures Detect() {
  CpuFeatures f;
#if defined(__x86_64__)
  unsigned a, b, c, d;
  if (!__get_cpuid_count(1, 0, &a, &b, &c, &d)) return f;
  const bool fma = c & (1u << 12), osxsave = c & (1u << 27),
             avx = c & (1u << 28), f16c = c & (1u << 29);
  if (!osxsave || !avx) return f;
  unsigned xcr0_lo, xcr0_hi;
  __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  const bool ymm_state = (xcr0_lo & 0x6) == 0x6;
  const bool zmm_state = (xcr0_lo & 0xE6) == 0xE6;
  unsigned b7 = 0, c7 = 0, a71 = 0;
  if (__get_cpuid_count(7, 0, &a, &b7, &c7, &d)) {
    unsigned b71, c71, d71;
    if (a >= 1) __get_cpuid_count(7, 1, &a71, &b71, &c71, &d71);
  }
  f.avx2 = ymm_state && (b7 & (1u << 5)) && fma && f16c;
  const bool zmm = f.avx2 && zmm_state;
  f.avx512f = zmm && (b7 & (1u << 16));
  f.avx512dq = zmm && (b7 & (1u << 17));
  f.avx512bw = zmm && (b7 & (1u << 30));
  f.avx512vl = zmm && (b7 & (1u << 31));
  f.avx512vnni = zmm && (c7 & (1u << 11));
  f.avx512bf16 = zmm && (a71 & (1u << 5));
#endif
  return f;
}

}  // namespace

const CpuFeatures& GetCpuFeatures() {
  static const CpuFeatures f = Detect();
  return f;
}

}  // namespace triptych
