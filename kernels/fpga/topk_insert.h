#ifndef TRIPTYCH_KERNELS_FPGA_TOPK_INSERT_H_
#define TRIPTYCH_KERNELS_FPGA_TOPK_INSERT_H_

// Streaming insertion-sort top-k for the HLS kernels: kMaxTopK register
// slots kept in rank order; each arriving (score, index) is compared with
// every slot in parallel and shifted in, one element per cycle (II=1). The
// rank order is the one of kernels/memory/top_k.h: higher score first, NaN
// as -inf, ties by lower index.

#include <cstdint>

#include "kernels/fpga/hls_shim.h"
#include "kernels/fpga/kernel_limits.h"

namespace triptych::kernels::fpga {

struct ScoredItem {
  float score;
  int32_t index;
};

struct TopKSlot {
  float key;  // score with NaN mapped to -inf
  float score;
  int32_t index;
  bool valid;
};

inline bool SlotBefore(const TopKSlot& a, const TopKSlot& b) {
  if (!a.valid) return false;
  if (!b.valid) return true;
  if (a.key != b.key) return a.key > b.key;
  return a.index < b.index;
}

// Consumes `n` items from `in` and writes the best min(k, n) of them, in
// rank order, to out_index / out_score. Precondition: k <= kMaxTopK.
inline void TopKInsert(hls::stream<ScoredItem>& in, int n, int k,
                       int32_t* out_index, float* out_score) {
  TopKSlot slots[kMaxTopK];
#pragma HLS ARRAY_PARTITION variable = slots complete dim = 1
init:
  for (int j = 0; j < kMaxTopK; ++j) {
#pragma HLS UNROLL
    slots[j].valid = false;
    slots[j].key = 0.0f;
    slots[j].score = 0.0f;
    slots[j].index = 0;
  }
insert:
  for (int i = 0; i < n; ++i) {
#pragma HLS PIPELINE II = 1
    const ScoredItem item = in.read();
    TopKSlot e;
    e.score = item.score;
    e.index = item.index;
    e.valid = true;
    // NaN != NaN: maps NaN to -inf without a library call.
    e.key = item.score != item.score ? -__builtin_inff() : item.score;
    // From the last slot down: slot j takes slot j-1 when e ranks before
    // slot j-1, takes e when e ranks between them, else stays. Every
    // comparison reads the old contents, so the unrolled loop is one
    // parallel compare-and-shift.
    for (int j = kMaxTopK - 1; j > 0; --j) {
#pragma HLS UNROLL
      if (SlotBefore(e, slots[j - 1])) {
        slots[j] = slots[j - 1];
      } else if (SlotBefore(e, slots[j])) {
        slots[j] = e;
      }
    }
    if (SlotBefore(e, slots[0])) slots[0] = e;
  }
  const int kept = n < k ? n : k;
emit:
  for (int j = 0; j < kept; ++j) {
#pragma HLS PIPELINE II = 1
    out_index[j] = slots[j].index;
    out_score[j] = slots[j].score;
  }
}

}  // namespace triptych::kernels::fpga

#endif  // TRIPTYCH_KERNELS_FPGA_TOPK_INSERT_H_
