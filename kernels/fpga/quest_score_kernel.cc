// HLS C++ of quest_score_topk (see quest_score_kernel.h). Built by v++ for
// hardware (docs/FPGA.md) and by the host compiler for C simulation.
//
// Hardware notes: each summary row arrives as ceil(head_dim / 16) 512-bit
// beats; the score stage holds one block's rows in registers and computes the
// 16 lanes in parallel. The lane accumulation is a floating-point recurrence
// across a block's beats, so synthesis schedules the beat loop at the fadd
// latency unless several blocks are interleaved; interleaving blocks does not
// change any block's operation order, so the result stays bit-exact.

#include "kernels/fpga/quest_score_kernel.h"

#include <cstdint>

#include "kernels/fpga/hls_shim.h"
#include "kernels/fpga/kernel_limits.h"
#include "kernels/fpga/topk_insert.h"

namespace triptych::kernels::fpga {
namespace {

constexpr int kMaxBeats = kMaxHeadDim / kLanes;

struct Beat {
  float v[kLanes];
};

inline float Max(float a, float b) { return a > b ? a : b; }

// Streams each block's min and max rows as zero-padded beats. A padded
// element contributes max(0 * 0, 0 * 0) = +0 to its lane, which leaves the
// lane unchanged (lanes never hold -0), as the reference's shorter loop.
void ReadSummaries(const float* mins, const float* maxs, int num_blocks,
                   int head_dim, hls::stream<Beat>& min_s,
                   hls::stream<Beat>& max_s) {
  const int beats = (head_dim + kLanes - 1) / kLanes;
read_blocks:
  for (int b = 0; b < num_blocks; ++b) {
  read_beats:
    for (int c = 0; c < beats; ++c) {
#pragma HLS PIPELINE II = 1
      Beat lo, hi;
      for (int j = 0; j < kLanes; ++j) {
#pragma HLS UNROLL
        const int i = c * kLanes + j;
        const int64_t off = static_cast<int64_t>(b) * head_dim + i;
        lo.v[j] = i < head_dim ? mins[off] : 0.0f;
        hi.v[j] = i < head_dim ? maxs[off] : 0.0f;
      }
      min_s.write(lo);
      max_s.write(hi);
    }
  }
}

void ScoreBlocks(const float q[kMaxHeads][kMaxHeadDim], int num_heads,
                 int head_dim, int num_blocks, hls::stream<Beat>& min_s,
                 hls::stream<Beat>& max_s, hls::stream<float>& out_s,
                 hls::stream<ScoredItem>& topk_s) {
  const int beats = (head_dim + kLanes - 1) / kLanes;
  Beat mn[kMaxBeats], mx[kMaxBeats];
#pragma HLS ARRAY_PARTITION variable = mn complete dim = 0
#pragma HLS ARRAY_PARTITION variable = mx complete dim = 0
score_blocks:
  for (int b = 0; b < num_blocks; ++b) {
  load_block:
    for (int c = 0; c < beats; ++c) {
#pragma HLS PIPELINE II = 1
      mn[c] = min_s.read();
      mx[c] = max_s.read();
    }
    float best = 0.0f;
  heads:
    for (int h = 0; h < num_heads; ++h) {
      float s[kLanes];
#pragma HLS ARRAY_PARTITION variable = s complete
      for (int j = 0; j < kLanes; ++j) {
#pragma HLS UNROLL
        s[j] = 0.0f;
      }
    beats_loop:
      for (int c = 0; c < beats; ++c) {
#pragma HLS PIPELINE II = 1
        for (int j = 0; j < kLanes; ++j) {
#pragma HLS UNROLL
          const float qi = q[h][c * kLanes + j];
          const float lo = qi * mn[c].v[j];
          const float hi = qi * mx[c].v[j];
          s[j] = s[j] + Max(lo, hi);
        }
      }
      // The canonical tree: s[j] += s[j + w], w = 8, 4, 2, 1.
    reduce:
      for (int w = kLanes / 2; w >= 1; w /= 2) {
#pragma HLS UNROLL
        for (int j = 0; j < w; ++j) {
#pragma HLS UNROLL
          s[j] = s[j] + s[j + w];
        }
      }
      best = h == 0 ? s[0] : Max(s[0], best);
    }
    out_s.write(best);
    topk_s.write(ScoredItem{best, b});
  }
}

void WriteScores(hls::stream<float>& in, int num_blocks, float* scores) {
write_scores:
  for (int b = 0; b < num_blocks; ++b) {
#pragma HLS PIPELINE II = 1
    scores[b] = in.read();
  }
}

}  // namespace
}  // namespace triptych::kernels::fpga

extern "C" void quest_score_topk(const float* query, const float* mins,
                                 const float* maxs, float* scores,
                                 int32_t* topk_index, float* topk_score,
                                 int num_heads, int head_dim, int num_blocks,
                                 int k) {
#pragma HLS INTERFACE m_axi port = query offset = slave bundle = gmem0
#pragma HLS INTERFACE m_axi port = mins offset = slave bundle = gmem1 max_read_burst_length = 64
#pragma HLS INTERFACE m_axi port = maxs offset = slave bundle = gmem2 max_read_burst_length = 64
#pragma HLS INTERFACE m_axi port = scores offset = slave bundle = gmem3
#pragma HLS INTERFACE m_axi port = topk_index offset = slave bundle = gmem3
#pragma HLS INTERFACE m_axi port = topk_score offset = slave bundle = gmem3
#pragma HLS INTERFACE s_axilite port = query
#pragma HLS INTERFACE s_axilite port = mins
#pragma HLS INTERFACE s_axilite port = maxs
#pragma HLS INTERFACE s_axilite port = scores
#pragma HLS INTERFACE s_axilite port = topk_index
#pragma HLS INTERFACE s_axilite port = topk_score
#pragma HLS INTERFACE s_axilite port = num_heads
#pragma HLS INTERFACE s_axilite port = head_dim
#pragma HLS INTERFACE s_axilite port = num_blocks
#pragma HLS INTERFACE s_axilite port = k
#pragma HLS INTERFACE s_axilite port = return
  using namespace triptych::kernels::fpga;
  // The query is small and reused for every block: keep it on chip, zero
  // padded to kMaxHeadDim (a padded lane adds +0, see ReadSummaries).
  float q[kMaxHeads][kMaxHeadDim];
#pragma HLS ARRAY_PARTITION variable = q cyclic factor = 16 dim = 2
load_query:
  for (int h = 0; h < kMaxHeads; ++h) {
    for (int i = 0; i < kMaxHeadDim; ++i) {
#pragma HLS PIPELINE II = 1
      q[h][i] = (h < num_heads && i < head_dim)
                    ? query[static_cast<int64_t>(h) * head_dim + i]
                    : 0.0f;
    }
  }

  hls::stream<Beat> min_s("min_s"), max_s("max_s");
  hls::stream<float> score_s("score_s");
  hls::stream<ScoredItem> topk_s("topk_s");
#pragma HLS STREAM variable = min_s depth = 64
#pragma HLS STREAM variable = max_s depth = 64
#pragma HLS STREAM variable = score_s depth = 64
#pragma HLS STREAM variable = topk_s depth = 64
#pragma HLS DATAFLOW
  ReadSummaries(mins, maxs, num_blocks, head_dim, min_s, max_s);
  ScoreBlocks(q, num_heads, head_dim, num_blocks, min_s, max_s, score_s,
              topk_s);
  WriteScores(score_s, num_blocks, scores);
  TopKInsert(topk_s, num_blocks, k, topk_index, topk_score);
}
