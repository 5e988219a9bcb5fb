// Quest block scores and key summaries: the upper-bound property on random
// blocks and queries, an independent summary reference over the KV layout,
// and every ISA variant bit-identical to the scalar reference.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/fp16.h"
#include "kernels/memory/quest.h"

namespace triptych::kernels::memory {
namespace {

const Isa kIsas[] = {Isa::kScalar, Isa::kAvx2, Isa::kAvx512};

std::vector<float> Normal(int64_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// q . k summed in the canonical order of quest.h, so that termwise
// monotonicity of float rounding makes bound >= dot exact.
float CanonicalDot(const float* q, const float* k, int n) {
  float s[16] = {};
  for (int i = 0; i < n; ++i) s[i % 16] = s[i % 16] + q[i] * k[i];
  for (int w = 8; w >= 1; w /= 2) {
    for (int j = 0; j < w; ++j) s[j] = s[j] + s[j + w];
  }
  return s[0];
}

// A block of F32 or F16 keys with random values (and values, which the
// summary must ignore).
struct Block {
  KvBlockShape shape;
  std::vector<uint8_t> bytes;
  float Key(int layer, int slot, int head, int i) const {
    const int64_t idx =
        ((int64_t{layer} * 2 * shape.block_tokens + slot) * shape.num_kv_heads +
         head) * shape.head_dim + i;
    if (shape.dtype == KeyDtype::kF32) {
      float f;
      std::memcpy(&f, bytes.data() + idx * 4, 4);
      return f;
    }
    uint16_t h;
    std::memcpy(&h, bytes.data() + idx * 2, 2);
    return ::triptych::kernels::cpu::Fp16ToFp32(h);
  }
};

Block RandomBlock(const KvBlockShape& shape, std::mt19937& rng) {
  Block b{shape, std::vector<uint8_t>(KvBlockBytes(shape))};
  const int64_t n = KvBlockBytes(shape) / (shape.dtype == KeyDtype::kF32 ? 4 : 2);
  std::vector<float> v = Normal(n, rng, 2.0f);
  for (int64_t i = 0; i < n; ++i) {
    if (shape.dtype == KeyDtype::kF32) {
      std::memcpy(b.bytes.data() + i * 4, &v[i], 4);
    } else {
      const uint16_t h = ::triptych::kernels::cpu::Fp32ToFp16(v[i]);
      std::memcpy(b.bytes.data() + i * 2, &h, 2);
    }
  }
  return b;
}

TEST(QuestScores, BoundsEveryKeyOfTheBlock) {
  std::mt19937 rng(7);
  for (KeyDtype dtype : {KeyDtype::kF32, KeyDtype::kF16}) {
    for (int head_dim : {1, 15, 64, 100, 128}) {
      const KvBlockShape shape{.num_layers = 2, .num_kv_heads = 2,
                               .head_dim = head_dim, .block_tokens = 16,
                               .dtype = dtype};
      const int num_blocks = 24, group = 4;
      std::vector<Block> blocks;
      std::vector<float> mins, maxs;
      const int64_t summary = (int64_t{shape.num_layers} * shape.num_kv_heads * shape.head_dim);
      for (int b = 0; b < num_blocks; ++b) {
        blocks.push_back(RandomBlock(shape, rng));
        std::vector<float> mn(summary), mx(summary);
        const int tokens = b == num_blocks - 1 ? 5 : 16;  // a partial last block
        BlockKeySummary(shape, blocks.back().bytes.data(), tokens, mn.data(),
                        mx.data());
        mins.insert(mins.end(), mn.begin(), mn.end());
        maxs.insert(maxs.end(), mx.begin(), mx.end());
      }
      for (int layer = 0; layer < 2; ++layer) {
        for (int head = 0; head < 2; ++head) {
          // Gather this (layer, head)'s summary table [block][head_dim].
          std::vector<float> tmin, tmax;
          const int64_t off = (int64_t{layer} * 2 + head) * head_dim;
          for (int b = 0; b < num_blocks; ++b) {
            tmin.insert(tmin.end(), mins.begin() + b * summary + off,
                        mins.begin() + b * summary + off + head_dim);
            tmax.insert(tmax.end(), maxs.begin() + b * summary + off,
                        maxs.begin() + b * summary + off + head_dim);
          }
          const std::vector<float> q = Normal(int64_t{group} * head_dim, rng);
          std::vector<float> scores(num_blocks);
          QuestScores(q.data(), group, head_dim, tmin.data(), tmax.data(),
                      num_blocks, scores.data());
          for (int b = 0; b < num_blocks; ++b) {
            const int tokens = b == num_blocks - 1 ? 5 : 16;
            for (int slot = 0; slot < tokens; ++slot) {
              std::vector<float> k(head_dim);
              for (int i = 0; i < head_dim; ++i) {
                k[i] = blocks[b].Key(layer, slot, head, i);
              }
              for (int h = 0; h < group; ++h) {
                const float* qh = q.data() + h * head_dim;
                ASSERT_GE(scores[b], CanonicalDot(qh, k.data(), head_dim))
                    << "block " << b << " slot " << slot << " head " << h;
                double dot = 0;
                for (int i = 0; i < head_dim; ++i) dot += double{qh[i]} * k[i];
                ASSERT_GE(scores[b], dot - 1e-4 * (1 + std::fabs(dot)));
              }
            }
          }
        }
      }
    }
  }
}

TEST(QuestScores, MatchesFormulaForOneHead) {
  std::mt19937 rng(3);
  const int head_dim = 8;
  std::vector<float> q = Normal(head_dim, rng);
  std::vector<float> mn = Normal(head_dim, rng), mx(head_dim);
  for (int i = 0; i < head_dim; ++i) mx[i] = mn[i] + 1.0f;
  float score;
  QuestScores(q.data(), 1, head_dim, mn.data(), mx.data(), 1, &score);
  double expect = 0;
  for (int i = 0; i < head_dim; ++i) {
    expect += std::max(double{q[i]} * mn[i], double{q[i]} * mx[i]);
  }
  EXPECT_NEAR(score, expect, 1e-5);
}

TEST(QuestScores, IsaVariantsBitIdenticalToScalar) {
  std::mt19937 rng(11);
  for (Isa isa : kIsas) {
    if (!IsaAvailable(isa)) {
      GTEST_LOG_(INFO) << "skipping " << IsaName(isa) << ": not on this CPU";
      continue;
    }
    for (int head_dim : {1, 3, 8, 16, 17, 31, 64, 100, 128, 256}) {
      for (int heads : {1, 2, 5}) {
        for (int blocks : {0, 1, 3, 4, 9, 33}) {
          const std::vector<float> q = Normal(int64_t{heads} * head_dim, rng);
          std::vector<float> mn = Normal(int64_t{blocks} * head_dim, rng);
          std::vector<float> mx = mn;
          for (float& x : mx) x += std::fabs(x) * 0.5f + 0.25f;
          std::vector<float> want(blocks), got(blocks, -1.0f);
          QuestScores(q.data(), heads, head_dim, mn.data(), mx.data(), blocks,
                      want.data(), Isa::kScalar);
          QuestScores(q.data(), heads, head_dim, mn.data(), mx.data(), blocks,
                      got.data(), isa);
          for (int b = 0; b < blocks; ++b) {
            ASSERT_EQ(::triptych::kernels::cpu::FloatBits(want[b]), ::triptych::kernels::cpu::FloatBits(got[b]))
                << IsaName(isa) << " head_dim " << head_dim << " heads "
                << heads << " block " << b;
          }
        }
      }
    }
  }
}

TEST(BlockKeySummary, MatchesIndependentReferenceOnEveryIsa) {
  std::mt19937 rng(5);
  for (KeyDtype dtype : {KeyDtype::kF32, KeyDtype::kF16}) {
    for (int head_dim : {1, 7, 8, 16, 24, 64, 130}) {
      const KvBlockShape shape{.num_layers = 3, .num_kv_heads = 2,
                               .head_dim = head_dim, .block_tokens = 16,
                               .dtype = dtype};
      const Block block = RandomBlock(shape, rng);
      for (int tokens : {1, 9, 16}) {
        const int64_t n = (int64_t{shape.num_layers} * shape.num_kv_heads * shape.head_dim);
        std::vector<float> want_min(n), want_max(n);
        for (int l = 0; l < 3; ++l) {
          for (int h = 0; h < 2; ++h) {
            for (int i = 0; i < head_dim; ++i) {
              float lo = INFINITY, hi = -INFINITY;
              for (int s = 0; s < tokens; ++s) {
                lo = std::min(lo, block.Key(l, s, h, i));
                hi = std::max(hi, block.Key(l, s, h, i));
              }
              want_min[(l * 2 + h) * head_dim + i] = lo;
              want_max[(l * 2 + h) * head_dim + i] = hi;
            }
          }
        }
        for (Isa isa : kIsas) {
          if (!IsaAvailable(isa)) continue;
          std::vector<float> mn(n), mx(n);
          BlockKeySummary(shape, block.bytes.data(), tokens, mn.data(),
                          mx.data(), isa);
          ASSERT_EQ(mn, want_min) << IsaName(isa) << " head_dim " << head_dim;
          ASSERT_EQ(mx, want_max) << IsaName(isa) << " head_dim " << head_dim;
        }
      }
    }
  }
}

TEST(BlockKeySummary, IgnoresValues) {
  const KvBlockShape shape{.num_layers = 1, .num_kv_heads = 1, .head_dim = 4,
                           .block_tokens = 2, .dtype = KeyDtype::kF32};
  // [K slot0][K slot1][V slot0][V slot1]
  const float block[16] = {1, 2, 3, 4, -1, 5, 3, 0, 100, 100, 100, 100,
                           -100, -100, -100, -100};
  float mn[4], mx[4];
  BlockKeySummary(shape, block, 2, mn, mx);
  EXPECT_EQ(std::vector<float>(mn, mn + 4), (std::vector<float>{-1, 2, 3, 0}));
  EXPECT_EQ(std::vector<float>(mx, mx + 4), (std::vector<float>{1, 5, 3, 4}));
}

}  // namespace
}  // namespace triptych::kernels::memory
