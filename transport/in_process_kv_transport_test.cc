#include "transport/in_process_kv_transport.h"

#include <numeric>
#include <vector>

#include "gtest/gtest.h"
#include "transport/wire_format.h"

namespace triptych::transport {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(5);

TEST(InProcessKvTransport, PutGetRoundTrip) {
  auto fabric = std::make_shared<InProcessFabric>();
  auto prefill = InProcessKvTransport::Create(fabric, "prefill").value();
  auto decode = InProcessKvTransport::Create(fabric, "decode").value();
  std::vector<char> src(4096), dst(8192, 0), back(4096, 0);
  std::iota(src.begin(), src.end(), 0);
  auto src_region = prefill->Register(src.data(), src.size()).value();
  auto back_region = prefill->Register(back.data(), back.size()).value();
  auto dst_region = decode->Register(dst.data(), dst.size()).value();

  const uint64_t base = dst_region->base_address();
  std::vector<Copy> copies = {{src.data(), base + 4096, 1024},
                              {src.data() + 1024, base, 3072}};
  ASSERT_TRUE(prefill->Put(decode->address(), copies,
                           dst_region->packed_rkey(), kTimeout)
                  .ok());
  EXPECT_EQ(0, memcmp(dst.data() + 4096, src.data(), 1024));
  EXPECT_EQ(0, memcmp(dst.data(), src.data() + 1024, 3072));

  std::vector<GetCopy> gets = {{back.data(), base + 4096, 1024},
                               {back.data() + 1024, base, 3072}};
  ASSERT_TRUE(prefill->Get(decode->address(), gets,
                           dst_region->packed_rkey(), kTimeout)
                  .ok());
  EXPECT_EQ(src, back);
  TransferStats stats = prefill->stats();
  EXPECT_EQ(stats.bytes_put, 4096u);
  EXPECT_EQ(stats.bytes_got, 4096u);
  EXPECT_EQ(stats.ops, 2u);
  EXPECT_EQ(stats.errors, 0u);
}

TEST(InProcessKvTransport, ErrorCodes) {
  auto fabric = std::make_shared<InProcessFabric>();
  auto a = InProcessKvTransport::Create(fabric, "a").value();
  auto b = InProcessKvTransport::Create(fabric, "b").value();
  EXPECT_FALSE(InProcessKvTransport::Create(fabric, "a").ok());
  std::vector<char> src(64), dst(64), unregistered(64);
  auto src_region = a->Register(src.data(), src.size()).value();
  auto dst_region = b->Register(dst.data(), dst.size()).value();
  const std::string rkey = dst_region->packed_rkey();
  const uint64_t base = dst_region->base_address();
  std::vector<Copy> ok_copy = {{src.data(), base, 64}};

  std::string bad_rkey = rkey;
  bad_rkey[bad_rkey.size() - 1] ^= 1;
  EXPECT_EQ(a->Put(b->address(), ok_copy, bad_rkey, kTimeout).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(a->Put(b->address(), ok_copy, "garbage", kTimeout).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<Copy> out_of_range = {{src.data(), base + 1, 64}};
  EXPECT_EQ(a->Put(b->address(), out_of_range, rkey, kTimeout).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<Copy> unregistered_copy = {{unregistered.data(), base, 64}};
  EXPECT_EQ(a->Put(b->address(), unregistered_copy, rkey, kTimeout).code(),
            absl::StatusCode::kInvalidArgument);
  // An rkey of a region the target does not hold (here: a's own).
  EXPECT_EQ(a->Put(b->address(), {{src.data(), src_region->base_address(), 8}},
                   src_region->packed_rkey(), kTimeout)
                .code(),
            absl::StatusCode::kInvalidArgument);

  PeerAddress unknown = {WrapWorkerAddress("inproc:nobody"), ""};
  EXPECT_EQ(a->Put(unknown, ok_copy, rkey, kTimeout).code(),
            absl::StatusCode::kUnavailable);
  b->Kill();
  EXPECT_EQ(a->Put(b->address(), ok_copy, rkey, kTimeout).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(a->stats().errors, 7u);
}

}  // namespace
}  // namespace triptych::transport
