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
                  absl::Span<const KvRun> runs, float* out,
                  AttentionScratch* scratch) {
  const int hd = s.head_dim, nh = s.num_heads, nkv = s.num_kv_heads;
  const bool f16 = s.elem == KvElem::kF16;
  auto load = [&](const void* base, int64_t i) {
    return f16 ? cpu::Fp16ToFp32(static_cast<const uint16_t*>(base)[i])
               : static_cast<const float*>(base)[i];
  };
  const int64_t nq = int64_t{nkv} * nh * hd;
  std::vector<float>& qr = scratch->q;
  qr.resize(static_cast<size_t>(nq));
  for (int64_t i = 0; i < nq; ++i) {
    qr[i] = f16 ? cpu::Fp16ToFp32(cpu::Fp32ToFp16(q[i])) : q[i];
  }
  // Scores of KV head g, query head h, its j-th row: sc[base[g] + h * n[g] + j].
  const std::vector<int64_t>& n = scratch->rows;
  std::vector<int64_t> base(nkv + 1, 0), j(nkv, 0);
  for (int g = 0; g < nkv; ++g) base[g + 1] = base[g] + nh * n[g];
  std::vector<float>& sc = scratch->scores;
  sc.resize(static_cast<size_t>(base[nkv]));
  for (const KvRun& run : runs) {
    for (int32_t r = 0; r < run.rows; ++r) {
      for (int g = 0; g < nkv; ++g) {
        if (!(run.head_mask >> g & 1u)) continue;
        for (int h = 0; h < nh; ++h) {
          const float* qh = qr.data() + (int64_t{g} * nh + h) * hd;
          float dot = 0.0f;
          for (int d = 0; d < hd; ++d) {
            dot += qh[d] * load(run.k, r * s.row_stride + int64_t{g} * hd + d);
          }
          sc[base[g] + h * n[g] + j[g]] = dot * s.scale;
        }
        ++j[g];
      }
    }
  }
  for (int g = 0; g < nkv; ++g) {
    for (int h = 0; h < nh; ++h) {
      float* p = sc.data() + base[g] + h * n[g];
      float max = -INFINITY;
      for (int64_t i = 0; i < n[g]; ++i) max = p[i] > max ? p[i] : max;
      double sum = 0.0;
      for (int64_t i = 0; i < n[g]; ++i) {
        p[i] = std::exp(p[i] - max);
        sum += p[i];
      }
      const float inv = static_cast<float>(1.0 / sum);
      for (int64_t i = 0; i < n[g]; ++i) p[i] *= inv;
    }
  }
  for (int64_t i = 0; i < nq; ++i) out[i] = 0.0f;
  for (int g = 0; g < nkv; ++g) j[g] = 0;
  for (const KvRun& run : runs) {
    for (int32_t r = 0; r < run.rows; ++r) {
      for (int g = 0; g < nkv; ++g) {
        if (!(run.head_mask >> g & 1u)) continue;
        for (int d = 0; d < hd; ++d) {
          const float v = load(run.v, r * s.row_stride + int64_t{g} * hd + d);
          for (int h = 0; h < nh; ++h) {
            out[(int64_t{g} * nh + h) * hd + d] += sc[base[g] + h * n[g] + j[g]] * v;
          }
        }
        ++j[g];
      }
    }
  }
}

}  // namespace internal

void AttendOneQuery(const AttentionShape& shape, const float* q,
                    absl::Span<const KvRun> runs, float* out,
                    AttentionScratch* scratch, Isa isa) {
  if (shape.num_heads < 1 || shape.head_dim < 1 || shape.num_kv_heads < 1 ||
      shape.num_kv_heads > kMaxKvHeadsPerCall) {
    std::fprintf(stderr, "AttendOneQuery: bad shape\n");
    std::abort();
  }
  std::vector<int64_t>& n = scratch->rows;
  n.assign(static_cast<size_t>(shape.num_kv_heads), 0);
  for (const KvRun& r : runs) {
    for (int g = 0; g < shape.num_kv_heads; ++g) {
      if (r.head_mask >> g & 1u) n[g] += r.rows;
    }
  }
  for (int64_t rows : n) {
    if (rows <= 0) {
      std::fprintf(stderr, "AttendOneQuery: a KV head has no rows\n");
      std::abort();
    }
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
      internal::AttendAvx512(shape, q, runs, out, scratch);
      return;
    case Isa::kAvx2:
      internal::AttendAvx2(shape, q, runs, out, scratch);
      return;
    default:
      internal::AttendScalar(shape, q, runs, out, scratch);
      return;
  }
}

}  // namespace triptych::kernels::attention
