#include "kernels/attention/attention.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/fp16.h"

namespace triptych::kernels::attention {
namespace {

// A fake paged layout: `blocks` blocks of `block_rows` rows, each row holding
// `kv_heads` heads of head_dim elements; K and V in separate arrays.
struct FakeKv {
  int kv_heads, head_dim, block_rows, blocks;
  KvElem elem;
  std::vector<uint8_t> k, v;

  FakeKv(int kvh, int hd, int rows, int nblocks, KvElem e, uint32_t seed)
      : kv_heads(kvh), head_dim(hd), block_rows(rows), blocks(nblocks), elem(e) {
    const int64_t n = int64_t{kvh} * hd * rows * nblocks;
    const int64_t eb = e == KvElem::kF16 ? 2 : 4;
    k.resize(n * eb);
    v.resize(n * eb);
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (int64_t i = 0; i < n; ++i) {
      for (auto* buf : {&k, &v}) {
        const float x = dist(rng);
        if (e == KvElem::kF16) {
          reinterpret_cast<uint16_t*>(buf->data())[i] = cpu::Fp32ToFp16(x);
        } else {
          reinterpret_cast<float*>(buf->data())[i] = x;
        }
      }
    }
  }
  int64_t stride() const { return int64_t{kv_heads} * head_dim; }
  // Run of rows [first, first + rows) of block b, head h.
  KvRun Run(int b, int h, int first, int rows) const {
    const int64_t eb = elem == KvElem::kF16 ? 2 : 4;
    const int64_t off = ((int64_t{b} * block_rows + first) * stride() + int64_t{h} * head_dim) * eb;
    return KvRun{k.data() + off, v.data() + off, rows};
  }
};

std::vector<float> RandomQ(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> q(n);
  for (float& x : q) x = dist(rng);
  return q;
}

struct Case {
  int heads, head_dim, kv_heads, blocks, last_rows;
  KvElem elem;
};

class AttentionIsaTest : public ::testing::TestWithParam<Isa> {};

// Every ISA agrees with the scalar reference within float rounding, over
// head counts and head sizes that exercise the vector tails.
TEST_P(AttentionIsaTest, MatchesScalarReference) {
  const Isa isa = GetParam();
  if (!IsaAvailable(isa)) GTEST_SKIP() << IsaName(isa) << " not available on this CPU";
  const Case cases[] = {
      {4, 64, 2, 9, 5, KvElem::kF16},  {1, 64, 1, 3, 16, KvElem::kF16},
      {8, 128, 1, 5, 1, KvElem::kF16}, {7, 40, 3, 4, 7, KvElem::kF16},
      {3, 18, 2, 2, 3, KvElem::kF32},  {2, 64, 2, 6, 9, KvElem::kF32},
      {16, 32, 1, 3, 2, KvElem::kF16},
  };
  uint32_t seed = 1;
  for (const Case& c : cases) {
    FakeKv kv(c.kv_heads, c.head_dim, 16, c.blocks, c.elem, seed++);
    const int h = c.kv_heads - 1;
    std::vector<KvRun> runs;
    for (int b = 0; b < c.blocks; ++b) {
      runs.push_back(kv.Run(b, h, 0, b + 1 == c.blocks ? c.last_rows : 16));
    }
    AttentionShape s;
    s.num_heads = c.heads;
    s.head_dim = c.head_dim;
    s.row_stride = kv.stride();
    s.elem = c.elem;
    s.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    std::vector<float> q = RandomQ(c.heads * c.head_dim, seed++);
    std::vector<float> ref(q.size()), got(q.size());
    AttentionScratch scratch;
    AttendOneQuery(s, q.data(), runs, ref.data(), &scratch, Isa::kScalar);
    AttendOneQuery(s, q.data(), runs, got.data(), &scratch, isa);
    for (size_t i = 0; i < ref.size(); ++i) {
      ASSERT_NEAR(got[i], ref[i], 2e-5f + 2e-5f * std::fabs(ref[i]))
          << "heads=" << c.heads << " head_dim=" << c.head_dim << " i=" << i;
    }
  }
}

// The result depends on the row sequence only: one run per block or the
// same rows split differently give identical bits.
TEST_P(AttentionIsaTest, RunSplitDoesNotChangeBits) {
  const Isa isa = GetParam();
  if (!IsaAvailable(isa)) GTEST_SKIP() << IsaName(isa) << " not available on this CPU";
  FakeKv kv(2, 64, 16, 4, KvElem::kF16, 7);
  std::vector<KvRun> whole, split;
  for (int b = 0; b < 4; ++b) {
    whole.push_back(kv.Run(b, 1, 0, 16));
    split.push_back(kv.Run(b, 1, 0, 5));
    split.push_back(kv.Run(b, 1, 5, 11));
  }
  AttentionShape s{1, 4, 64, kv.stride(), KvElem::kF16, 0.125f};
  std::vector<float> q = RandomQ(4 * 64, 3), a(q.size()), b(q.size());
  AttentionScratch scratch;
  AttendOneQuery(s, q.data(), whole, a.data(), &scratch, isa);
  AttendOneQuery(s, q.data(), split, b.data(), &scratch, isa);
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
}

// A single row attends to itself with weight 1: out = v exactly.
TEST_P(AttentionIsaTest, SingleRowReturnsValue) {
  const Isa isa = GetParam();
  if (!IsaAvailable(isa)) GTEST_SKIP() << IsaName(isa) << " not available on this CPU";
  FakeKv kv(1, 48, 16, 1, KvElem::kF16, 11);
  const KvRun run = kv.Run(0, 0, 3, 1);
  AttentionShape s{1, 2, 48, kv.stride(), KvElem::kF16, 0.1f};
  std::vector<float> q = RandomQ(2 * 48, 5), out(q.size());
  AttentionScratch scratch;
  AttendOneQuery(s, q.data(), {&run, 1}, out.data(), &scratch, isa);
  for (int h = 0; h < 2; ++h) {
    for (int d = 0; d < 48; ++d) {
      EXPECT_EQ(out[h * 48 + d],
                cpu::Fp16ToFp32(static_cast<const uint16_t*>(run.v)[d]));
    }
  }
}

// Several KV heads in one call, each with its own blocks (masks), give the
// bits of one call per KV head over just its blocks, and agree with the
// scalar reference.
TEST_P(AttentionIsaTest, KvHeadsWithMasksEqualPerHeadCalls) {
  const Isa isa = GetParam();
  if (!IsaAvailable(isa)) GTEST_SKIP() << IsaName(isa) << " not available on this CPU";
  constexpr int kKvHeads = 3, kGroup = 4, kHd = 64, kBlocks = 6;
  FakeKv kv(kKvHeads, kHd, 16, kBlocks, KvElem::kF16, 21);
  const uint32_t masks[kBlocks] = {7, 1, 6, 5, 2, 7};
  std::vector<KvRun> runs;
  for (int b = 0; b < kBlocks; ++b) {
    KvRun r = kv.Run(b, 0, 0, b + 1 == kBlocks ? 9 : 16);
    r.head_mask = masks[b];
    runs.push_back(r);
  }
  AttentionShape s{kKvHeads, kGroup, kHd, kv.stride(), KvElem::kF16, 0.125f};
  std::vector<float> q = RandomQ(kKvHeads * kGroup * kHd, 4);
  std::vector<float> all(q.size()), ref(q.size());
  AttentionScratch scratch;
  AttendOneQuery(s, q.data(), runs, all.data(), &scratch, isa);
  AttendOneQuery(s, q.data(), runs, ref.data(), &scratch, Isa::kScalar);
  for (size_t i = 0; i < ref.size(); ++i) {
    ASSERT_NEAR(all[i], ref[i], 2e-5f + 2e-5f * std::fabs(ref[i])) << i;
  }
  for (int g = 0; g < kKvHeads; ++g) {
    std::vector<KvRun> own;
    for (int b = 0; b < kBlocks; ++b) {
      if (masks[b] >> g & 1u) own.push_back(kv.Run(b, g, 0, runs[b].rows));
    }
    AttentionShape one = s;
    one.num_kv_heads = 1;
    std::vector<float> out(kGroup * kHd);
    AttendOneQuery(one, q.data() + g * kGroup * kHd, own, out.data(), &scratch, isa);
    EXPECT_EQ(0, std::memcmp(out.data(), all.data() + g * kGroup * kHd,
                             out.size() * sizeof(float)))
        << "KV head " << g;
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, AttentionIsaTest,
                         ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512),
                         [](const auto& info) { return std::string(IsaName(info.param)); });

}  // namespace
}  // namespace triptych::kernels::attention
