#include "kernels/attention/attention.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "common/cpu_features.h"
#include "kernels/attention/attention_impl.h"
#include "kernels/cpu/fp16.h"

namespace triptych::kernels::attention {

Isa BestIsa() {
  const CpuFeatures& f = GetCpuFeatures();
  if (f.avx512f) return Isa::kAvx512;
  if (f.avx2) return Isa::kAvx2;
  return Isa::kScalar;
}

bool IsaAvailable(Isa isa) {
  const CpuFeatures& f = GetCpuFeatures();
  switch (isa) {
    case Isa::kAuto:
    case Isa::kScalar:
      return true;
    case Isa::kAvx2:
      return f.avx2;
    case Isa::kAvx512:
      return f.avx512f;
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
  return "?";
}

namespace internal {

// The reference: plain loops, std::exp, the softmax sum in double.
void AttendScalar(const AttentionShape& s, const float* q,
                  absl::Span<const KvRun> runs, int64_t n, float* out,
                  AttentionScratch* scratch) {
  const int hd = s.head_dim;
  const bool f16 = s.elem == KvElem::kF16;
  auto load = [&](const void* base, int64_t i) {
    return f16 ? cpu::Fp16ToFp32(static_cast<const uint16_t*>(base)[i])
               : static_cast<const float*>(base)[i];
  };
  std::vector<float>& qr = scratch->q;
  qr.resize(static_cast<size_t>(s.num_heads) * hd);
  for (int64_t i = 0; i < s.num_heads * int64_t{hd}; ++i) {
    qr[i] = f16 ? cpu::Fp16ToFp32(cpu::Fp32ToFp16(q[i])) : q[i];
  }
  std::vector<float>& sc = scratch->scores;
  sc.resize(static_cast<size_t>(s.num_heads) * n);
  int64_t j = 0;
  for (const KvRun& run : runs) {
    for (int32_t r = 0; r < run.rows; ++r, ++j) {
      for (int h = 0; h < s.num_heads; ++h) {
        float dot = 0.0f;
        for (int d = 0; d < hd; ++d) {
          dot += qr[h * hd + d] * load(run.k, r * s.row_stride + d);
        }
        sc[h * n + j] = dot * s.scale;
      }
    }
  }
  for (int h = 0; h < s.num_heads; ++h) {
    float* p = sc.data() + h * n;
    float max = -INFINITY;
    for (int64_t i = 0; i < n; ++i) max = p[i] > max ? p[i] : max;
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      p[i] = std::exp(p[i] - max);
      sum += p[i];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t i = 0; i < n; ++i) p[i] *= inv;
    float* o = out + h * hd;
    for (int d = 0; d < hd; ++d) o[d] = 0.0f;
  }
  j = 0;
  for (const KvRun& run : runs) {
    for (int32_t r = 0; r < run.rows; ++r, ++j) {
      for (int d = 0; d < hd; ++d) {
        const float v = load(run.v, r * s.row_stride + d);
        for (int h = 0; h < s.num_heads; ++h) {
          out[h * hd + d] += sc[h * n + j] * v;
        }
      }
    }
  }
}

}  // namespace internal

void AttendOneQuery(const AttentionShape& shape, const float* q,
                    absl::Span<const KvRun> runs, float* out,
                    AttentionScratch* scratch, Isa isa) {
  int64_t n = 0;
  for (const KvRun& r : runs) n += r.rows;
  if (n <= 0 || shape.num_heads < 1 || shape.head_dim < 1) {
    std::fprintf(stderr, "AttendOneQuery: no rows or bad shape\n");
    std::abort();
  }
  if (isa == Isa::kAuto) {
    static const Isa best = BestIsa();
    isa = best;
  } else if (!IsaAvailable(isa)) {
    std::fprintf(stderr, "AttendOneQuery: ISA %s not available\n",
                 IsaName(isa));
    std::abort();
  }
  switch (isa) {
    case Isa::kAvx512:
      internal::AttendAvx512(shape, q, runs, n, out, scratch);
      return;
    case Isa::kAvx2:
      internal::AttendAvx2(shape, q, runs, n, out, scratch);
      return;
    default:
      internal::AttendScalar(shape, q, runs, n, out, scratch);
      return;
  }
}

}  // namespace triptych::kernels::attention
