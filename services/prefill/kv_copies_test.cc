#include "services/prefill/kv_copies.h"

#include <cstring>
#include <numeric>
#include <set>

#include "gtest/gtest.h"

namespace triptych::prefill {
namespace {

// L = 3 layers, B = 4 slots, 8 bytes per token row: 64-byte layer slabs,
// 192-byte blocks.
BlockLayout Layout() { return BlockLayout{3, 4, 8}; }

struct Pools {
  std::vector<uint8_t> local, remote;
  std::vector<const uint8_t*> local_blocks;
  std::vector<int32_t> remote_blocks;
};

// Sender holds 3 blocks (positions 0..11) at local blocks 0,1,2; the
// receiver maps them to its blocks 5, 2, 7.
Pools MakePools() {
  const BlockLayout l = Layout();
  Pools p;
  p.local.resize(3 * l.block_bytes());
  std::iota(p.local.begin(), p.local.end(), 1);
  p.remote.assign(8 * l.block_bytes(), 0);
  for (int b = 0; b < 3; ++b) p.local_blocks.push_back(p.local.data() + b * l.block_bytes());
  p.remote_blocks = {5, 2, 7};
  return p;
}

void Apply(const std::vector<transport::Copy>& copies, Pools* p) {
  const uint64_t base = reinterpret_cast<uint64_t>(p->remote.data());
  for (const transport::Copy& c : copies) {
    ASSERT_GE(c.remote_addr, base);
    ASSERT_LE(c.remote_addr + c.length, base + p->remote.size());
    std::memcpy(p->remote.data() + (c.remote_addr - base), c.local, c.length);
  }
}

// Byte offset in a block of (layer, kind, slot).
uint64_t Off(int64_t l, int kind, int64_t s) {
  const BlockLayout x = Layout();
  return l * x.layer_stride() + kind * x.block_size * x.token_bytes + s * x.token_bytes;
}

TEST(KvCopies, LayerByLayerChunksRebuildTheWholeSequence) {
  Pools p = MakePools();
  const BlockLayout l = Layout();
  const uint64_t base = reinterpret_cast<uint64_t>(p.remote.data());
  std::vector<transport::Copy> copies;
  uint64_t bytes = 0;
  // Chunks [0, 6) and [6, 11), each layer separately, as prefill streams.
  for (auto [t0, t1] : {std::pair<int64_t, int64_t>{0, 6}, {6, 11}}) {
    for (int64_t layer = 0; layer < l.num_layers; ++layer) {
      bytes += AppendKvCopies(l, layer, layer + 1, t0, t1, p.local_blocks, base,
                              p.remote_blocks, &copies);
    }
  }
  EXPECT_EQ(bytes, 11 * 2 * 3 * l.token_bytes);  // every (token, K|V, layer) once
  // No two ranges overlap, so the puts may land in any order.
  std::set<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& c : copies) ranges.insert({c.remote_addr, c.remote_addr + c.length});
  uint64_t end = 0;
  for (auto [a, b] : ranges) {
    EXPECT_GE(a, end);
    end = b;
  }
  Apply(copies, &p);
  for (int b = 0; b < 3; ++b) {
    const uint8_t* src = p.local_blocks[b];
    const uint8_t* dst = p.remote.data() + p.remote_blocks[b] * l.block_bytes();
    for (int64_t layer = 0; layer < 3; ++layer) {
      for (int kind = 0; kind < 2; ++kind) {
        for (int64_t s = 0; s < 4; ++s) {
          const bool sent = b * 4 + s < 11;
          const uint64_t o = Off(layer, kind, s);
          if (sent) {
            EXPECT_EQ(0, std::memcmp(src + o, dst + o, l.token_bytes)) << b << layer << kind << s;
          } else {
            EXPECT_EQ(dst[o], 0) << "slot past the prompt was written";
          }
        }
      }
    }
  }
}

TEST(KvCopies, WholeBlocksOfAllLayersAreOneRangeEach) {
  Pools p = MakePools();
  const BlockLayout l = Layout();
  std::vector<transport::Copy> copies;
  AppendKvCopies(l, 0, 3, 4, 12, p.local_blocks, 1000, p.remote_blocks, &copies);
  ASSERT_EQ(copies.size(), 2u);
  EXPECT_EQ(copies[0].local, p.local_blocks[1]);
  EXPECT_EQ(copies[0].remote_addr, 1000 + 2 * l.block_bytes());
  EXPECT_EQ(copies[0].length, l.block_bytes());
  EXPECT_EQ(copies[1].remote_addr, 1000 + 7 * l.block_bytes());
}

TEST(KvCopies, PartialBlockSendsKAndVSlotsOfEachLayer) {
  Pools p = MakePools();
  const BlockLayout l = Layout();
  std::vector<transport::Copy> copies;
  // Positions 5..6 of block 1, layer 2 only.
  EXPECT_EQ(AppendKvCopies(l, 2, 3, 5, 7, p.local_blocks, 0, p.remote_blocks, &copies),
            2 * 2 * l.token_bytes);
  ASSERT_EQ(copies.size(), 2u);
  EXPECT_EQ(copies[0].local, p.local_blocks[1] + Off(2, 0, 1));
  EXPECT_EQ(copies[1].local, p.local_blocks[1] + Off(2, 1, 1));
  EXPECT_EQ(copies[1].remote_addr, 2 * l.block_bytes() + Off(2, 1, 1));
  EXPECT_EQ(copies[1].length, 2 * l.token_bytes);
}

TEST(KvCopies, EmptyRangesAddNothing) {
  Pools p = MakePools();
  std::vector<transport::Copy> copies;
  EXPECT_EQ(AppendKvCopies(Layout(), 0, 3, 5, 5, p.local_blocks, 0, p.remote_blocks, &copies), 0u);
  EXPECT_EQ(AppendKvCopies(Layout(), 1, 1, 0, 8, p.local_blocks, 0, p.remote_blocks, &copies), 0u);
  EXPECT_TRUE(copies.empty());
}

TEST(UseKvStaging, StagesExactlyWhenThePoolNeedsIt) {
  // auto: only a device pool the transport cannot take is staged.
  EXPECT_EQ(*UseKvStaging("auto", /*host=*/true, /*ucx_gpu=*/false), false);
  EXPECT_EQ(*UseKvStaging("auto", false, true), false);
  EXPECT_EQ(*UseKvStaging("auto", false, false), true);
  EXPECT_EQ(*UseKvStaging("on", true, false), true);
  EXPECT_EQ(*UseKvStaging("off", true, false), false);
  EXPECT_EQ(*UseKvStaging("off", false, true), false);
  EXPECT_EQ(UseKvStaging("off", false, false).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(UseKvStaging("yes", true, false).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace triptych::prefill
