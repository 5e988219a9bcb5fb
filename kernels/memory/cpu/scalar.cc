// Scalar reference of the memory ops with ISA variants. The arithmetic order
// (16 lane partial sums + tree reduction, separate multiply and add) is the
// contract documented in quest.h and dense_ip.h; the ISA variants, the FPGA
// kernels and the GPU kernels reproduce it exactly.

#include <cstdint>

#include "kernels/cpu/fp16.h"
#include "kernels/memory/cpu/kernel_table.h"
#include "kernels/memory/quest.h"

namespace triptych::kernels::memory::cpu {
namespace {

constexpr int kLanes = kQuestLanes;

inline float Max(float a, float b) { return a > b ? a : b; }
inline float Min(float a, float b) { return a < b ? a : b; }

inline float ReduceLanes(float* s) {
  for (int w = kLanes / 2; w >= 1; w /= 2) {
    for (int j = 0; j < w; ++j) s[j] = s[j] + s[j + w];
  }
  return s[0];
}

float QuestBound(const float* q, const float* mn, const float* mx,
                 int head_dim) {
  float s[kLanes] = {};
  for (int i = 0; i < head_dim; ++i) {
    const float lo = q[i] * mn[i];
    const float hi = q[i] * mx[i];
    s[i % kLanes] = s[i % kLanes] + Max(lo, hi);
  }
  return ReduceLanes(s);
}

void QuestScoresScalar(const float* q, int num_heads, int head_dim,
                       const float* mins, const float* maxs,
                       int64_t num_blocks, float* scores) {
  for (int64_t b = 0; b < num_blocks; ++b) {
    const float* mn = mins + b * head_dim;
    const float* mx = maxs + b * head_dim;
    float best = QuestBound(q, mn, mx, head_dim);
    for (int h = 1; h < num_heads; ++h) {
      best = Max(QuestBound(q + static_cast<int64_t>(h) * head_dim, mn, mx,
                            head_dim),
                 best);
    }
    scores[b] = best;
  }
}

void DenseIpScalar(const float* q, const float* docs, int64_t num_docs,
                   int dim, float* scores) {
  for (int64_t d = 0; d < num_docs; ++d) {
    const float* row = docs + d * dim;
    float s[kLanes] = {};
    for (int i = 0; i < dim; ++i) {
      s[i % kLanes] = s[i % kLanes] + q[i] * row[i];
    }
    scores[d] = ReduceLanes(s);
  }
}

template <typename LoadFn>
void KeySummaryScalar(LoadFn load, int64_t token_stride, int num_tokens,
                      int head_dim, float* mins, float* maxs) {
  for (int i = 0; i < head_dim; ++i) {
    const float x = load(i);
    mins[i] = x;
    maxs[i] = x;
  }
  for (int t = 1; t < num_tokens; ++t) {
    for (int i = 0; i < head_dim; ++i) {
      const float x = load(t * token_stride + i);
      mins[i] = Min(x, mins[i]);
      maxs[i] = Max(x, maxs[i]);
    }
  }
}

void KeySummaryF32Scalar(const float* keys, int64_t token_stride,
                         int num_tokens, int head_dim, float* mins,
                         float* maxs) {
  KeySummaryScalar([keys](int64_t i) { return keys[i]; }, token_stride,
                   num_tokens, head_dim, mins, maxs);
}

void KeySummaryF16Scalar(const uint16_t* keys, int64_t token_stride,
                         int num_tokens, int head_dim, float* mins,
                         float* maxs) {
  KeySummaryScalar([keys](int64_t i) { return ::triptych::kernels::cpu::Fp16ToFp32(keys[i]); },
                   token_stride, num_tokens, head_dim, mins, maxs);
}

}  // namespace

const MemoryKernelTable& ScalarMemoryKernels() {
  static const MemoryKernelTable t = {
      .quest_scores = QuestScoresScalar,
      .dense_ip = DenseIpScalar,
      .key_summary_f32 = KeySummaryF32Scalar,
      .key_summary_f16 = KeySummaryF16Scalar,
  };
  return t;
}

}  // namespace triptych::kernels::memory::cpu
