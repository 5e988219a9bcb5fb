#include "kernels/cpu/blas_matmul.h"

#include <cblas.h>

#include <algorithm>
#include <mutex>
#include <vector>

namespace triptych::kernels::cpu {
namespace {

void LimitBlasThreads() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

// Rows of converted weights per sgemm call: about 512 KiB of floats (stays
// in L2 while sgemm packs it), at least 16 rows. (2 MiB panels, which halve
// sgemm's repacking of the activations, measured no faster.)
int64_t PanelRows(int64_t n) {
  const int64_t rows = (int64_t{512} << 10) / (4 * n);
  return std::clamp<int64_t>(rows / 16 * 16, 16, 256);
}

}  // namespace

void BlasMatMulRows(DequantizeFn weight_to_f32, DequantizeFn act_to_f32,
                    int64_t elem_bytes, const void* w, int64_t n,
                    int64_t row_begin, int64_t row_end, const void* act,
                    int64_t act_stride, int64_t m, float* y, int64_t y_stride) {
  LimitBlasThreads();
  const char* ab = static_cast<const char*>(act);
  const float* a = nullptr;
  int64_t lda = 0;
  thread_local std::vector<float> abuf, wbuf;
  if (act_to_f32 == nullptr && act_stride % sizeof(float) == 0) {
    a = reinterpret_cast<const float*>(ab);
    lda = act_stride / static_cast<int64_t>(sizeof(float));
  } else {
    abuf.resize(m * n);
    for (int64_t t = 0; t < m; ++t) {
      if (act_to_f32) {
        act_to_f32(ab + t * act_stride, abuf.data() + t * n, n);
      } else {
        std::copy_n(reinterpret_cast<const float*>(ab + t * act_stride), n,
                    abuf.data() + t * n);
      }
    }
    a = abuf.data();
    lda = n;
  }
  const char* wb = static_cast<const char*>(w);
  const int64_t row_bytes = n * elem_bytes;
  if (weight_to_f32 == nullptr) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, row_end - row_begin,
                n, 1.0f, a, lda,
                reinterpret_cast<const float*>(wb + row_begin * row_bytes), n,
                0.0f, y + row_begin, y_stride);
    return;
  }
  const int64_t panel = PanelRows(n);
  wbuf.resize(panel * n);
  for (int64_t r0 = row_begin; r0 < row_end; r0 += panel) {
    const int64_t rows = std::min(panel, row_end - r0);
    for (int64_t r = 0; r < rows; ++r) {
      weight_to_f32(wb + (r0 + r) * row_bytes, wbuf.data() + r * n, n);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, rows, n, 1.0f, a,
                lda, wbuf.data(), n, 0.0f, y + r0, y_stride);
  }
}

}  // namespace triptych::kernels::cpu
