// Attention of one decode token, TinyLlama layer shape (32 query heads, 4 KV
// heads, head_dim 64, F16 KV in 16-token blocks), one thread: the former
// per-(head, position) VecDot + row conversion through the kernel dispatch
// ("old") against the fused kernel (kernels/attention). ms per layer.
//
//   attention_bench
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>
#include "kernels/attention/attention.h"
#include "kernels/quant.h"
using namespace triptych::kernels;
int main() {
  const int nh = 32, nkv = 4, hd = 64, group = nh / nkv, bs = 16;
  for (int n : {144, 1024, 4096}) {
    const int nb = (n + bs - 1) / bs;
    // block layout: [K: bs][kvh][hd] then [V: bs][kvh][hd], F16
    std::vector<uint16_t> pool(nb * 2 * bs * nkv * hd);
    std::mt19937 r(1);
    for (auto& x : pool) x = 0x3000 + r() % 0x800;
    auto kp = [&](int j) { return pool.data() + (j / bs) * 2 * bs * nkv * hd + (j % bs) * nkv * hd; };
    auto vp = [&](int j) { return kp(j) + bs * nkv * hd; };
    std::vector<float> q(nh * hd, 0.1f), out(nh * hd), scores(n), vrow(hd);
    std::vector<uint8_t> qconv(hd * 2);
    attention::AttentionScratch sc;
    std::vector<attention::KvRun> runs;
    for (int b = 0; b < nb; ++b) runs.push_back({kp(b * bs), vp(b * bs), b + 1 == nb ? n - b * bs : bs});
    attention::AttentionShape s{nkv, group, hd, nkv * hd, attention::KvElem::kF16, 0.125f};
    // Old and fused alternate, one layer each, and the best of `iters` is
    // kept: the machine these run on is shared, and the minimum is the
    // figure least disturbed by other load.
    const int iters = 100;
    double best_old = 1e30, best_fused = 1e30;
    for (int it = 0; it < iters; ++it) {
      auto t0 = std::chrono::steady_clock::now();
      for (int h = 0; h < nh; ++h) {
        const int kvh = h / group;
        QuantizeRow(GgmlType::kF16, q.data() + h * hd, qconv.data(), hd);
        for (int j = 0; j < n; ++j) scores[j] = VecDot(GgmlType::kF16, hd, kp(j) + kvh * hd, qconv.data()) * 0.125f;
        float mx = -INFINITY; for (int j = 0; j < n; ++j) mx = std::max(mx, scores[j]);
        double sum = 0; for (int j = 0; j < n; ++j) { scores[j] = std::exp(scores[j] - mx); sum += scores[j]; }
        for (int j = 0; j < n; ++j) scores[j] *= 1.0 / sum;
        float* o = out.data() + h * hd; std::fill(o, o + hd, 0.0f);
        for (int j = 0; j < n; ++j) { DequantizeRow(GgmlType::kF16, vp(j) + kvh * hd, vrow.data(), hd); for (int d = 0; d < hd; ++d) o[d] += scores[j] * vrow[d]; }
      }
      auto t1 = std::chrono::steady_clock::now();
      attention::AttendOneQuery(s, q.data(), runs, out.data(), &sc);
      auto t2 = std::chrono::steady_clock::now();
      best_old = std::min(best_old, std::chrono::duration<double, std::milli>(t1 - t0).count());
      best_fused = std::min(best_fused, std::chrono::duration<double, std::milli>(t2 - t1).count());
    }
    printf("context %5d: old %.3f ms/layer, fused %.3f ms/layer, %.1fx (best of %d; 1 thread)\n", n,
           best_old, best_fused, best_old / best_fused, iters);
  }
}
