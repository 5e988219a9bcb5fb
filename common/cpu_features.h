#ifndef TRIPTYCH_COMMON_CPU_FEATURES_H_
#define TRIPTYCH_COMMON_CPU_FEATURES_H_

// x86 instruction-set features usable by this process, read once from CPUID.
// __builtin_cpu_supports("f16c") and friends are not accepted by every
// compiler we build with (clang 14 rejects several names), so the bits are
// read directly; an ISA also needs the OS to save its register state (XCR0),
// which CPUID alone does not say. Thread-safe.

namespace triptych {

struct CpuFeatures {
  bool avx2 = false;  // AVX2 + FMA + F16C, YMM state enabled
  // Each AVX-512 flag implies avx2 and ZMM state enabled.
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512vnni = false;
  bool avx512bf16 = false;
};

const CpuFeatures& GetCpuFeatures();

}  // namespace triptych

#endif  // TRIPTYCH_COMMON_CPU_FEATURES_H_
