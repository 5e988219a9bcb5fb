// XRT KernelRunner: the device path. Built only when CMake found libxrt-dev
// (TRIPTYCH_WITH_XRT); xrt_stub.cc replaces it otherwise.
//
// Per run: one xrt::bo per pointer argument in the memory bank the compute
// unit's port is connected to (kernel.group_id), inputs written and synced to
// the device, the kernel started with the scalar arguments and waited for,
// outputs synced back and read. XRT reports errors by throwing; they become
// kInternal here (kFailedPrecondition / kInvalidArgument while opening).

#include <algorithm>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include <experimental/xrt_system.h>
#include <xrt/xrt_bo.h>
#include <xrt/xrt_device.h>
#include <xrt/xrt_kernel.h>

#include "absl/strings/str_cat.h"
#include "kernels/fpga/kernel_runner.h"

namespace triptych::kernels::fpga {
namespace {

// XRT rejects zero-sized buffers; empty inputs get a small one.
constexpr size_t kMinBoBytes = 64;

class XrtRunner final : public KernelRunner {
 public:
  XrtRunner(xrt::device device, xrt::kernel quest, xrt::kernel bm25,
            std::string description)
      : device_(std::move(device)),
        quest_(std::move(quest)),
        bm25_(std::move(bm25)),
        description_(std::move(description)) {}

  std::string description() const override { return description_; }

  absl::Status RunQuest(const QuestKernelArgs& a) override {
    try {
      const size_t q_bytes = sizeof(float) * a.num_heads * a.head_dim;
      const size_t s_bytes = sizeof(float) * a.num_blocks * a.head_dim;
      const size_t out_bytes = sizeof(float) * a.num_blocks;
      const size_t k_bytes = sizeof(float) * a.k;
      xrt::bo q = Input(quest_, 0, a.query, q_bytes);
      xrt::bo mn = Input(quest_, 1, a.mins, s_bytes);
      xrt::bo mx = Input(quest_, 2, a.maxs, s_bytes);
      xrt::bo sc = Output(quest_, 3, out_bytes);
      xrt::bo ti = Output(quest_, 4, k_bytes);
      xrt::bo ts = Output(quest_, 5, k_bytes);
      xrt::run run = quest_(q, mn, mx, sc, ti, ts, a.num_heads, a.head_dim,
                            a.num_blocks, a.k);
      if (const auto state = run.wait(); state != ERT_CMD_STATE_COMPLETED) {
        return absl::InternalError(
            absl::StrCat("quest_score_topk ended in state ", state));
      }
      Read(sc, a.scores, out_bytes);
      const size_t kept = sizeof(float) * std::min(a.k, a.num_blocks);
      Read(ti, a.topk_index, kept);
      Read(ts, a.topk_score, kept);
      return absl::OkStatus();
    } catch (const std::exception& e) {
      return absl::InternalError(
          absl::StrCat("FPGA quest_score_topk failed: ", e.what()));
    }
  }

  absl::Status RunBm25(const Bm25KernelArgs& a) override {
    try {
      const size_t p = static_cast<size_t>(a.num_postings);
      xrt::bo offsets = Input(bm25_, 0, a.term_offsets,
                              sizeof(int64_t) * (a.num_terms + 1));
      xrt::bo docs = Input(bm25_, 1, a.doc_ids, sizeof(int32_t) * p);
      xrt::bo tfs = Input(bm25_, 2, a.term_freqs, sizeof(uint32_t) * p);
      xrt::bo idf = Input(bm25_, 3, a.idf, sizeof(float) * a.num_terms);
      xrt::bo lens =
          Input(bm25_, 4, a.doc_lengths, sizeof(int32_t) * a.num_docs);
      const size_t out_bytes = sizeof(float) * a.num_docs;
      xrt::bo sc = Output(bm25_, 5, out_bytes);
      xrt::bo ti = Output(bm25_, 6, sizeof(int32_t) * a.k);
      xrt::bo ts = Output(bm25_, 7, sizeof(float) * a.k);
      xrt::run run = bm25_(offsets, docs, tfs, idf, lens, sc, ti, ts,
                           a.num_terms, a.num_docs, a.avg_doc_length, a.k1,
                           a.b, a.k);
      if (const auto state = run.wait(); state != ERT_CMD_STATE_COMPLETED) {
        return absl::InternalError(
            absl::StrCat("bm25_score_topk ended in state ", state));
      }
      Read(sc, a.scores, out_bytes);
      const size_t kept = sizeof(float) * std::min(a.k, a.num_docs);
      Read(ti, a.topk_index, kept);
      Read(ts, a.topk_score, kept);
      return absl::OkStatus();
    } catch (const std::exception& e) {
      return absl::InternalError(
          absl::StrCat("FPGA bm25_score_topk failed: ", e.what()));
    }
  }

 private:
  xrt::bo Input(xrt::kernel& kernel, int arg, const void* data, size_t bytes) {
    xrt::bo bo(device_, std::max(bytes, kMinBoBytes), kernel.group_id(arg));
    if (bytes > 0) {
      bo.write(data, bytes, 0);
      bo.sync(XCL_BO_SYNC_BO_TO_DEVICE, bytes, 0);
    }
    return bo;
  }
  xrt::bo Output(xrt::kernel& kernel, int arg, size_t bytes) {
    return xrt::bo(device_, std::max(bytes, kMinBoBytes), kernel.group_id(arg));
  }
  static void Read(xrt::bo& bo, void* dst, size_t bytes) {
    if (bytes == 0) return;
    bo.sync(XCL_BO_SYNC_BO_FROM_DEVICE, bytes, 0);
    bo.read(dst, bytes, 0);
  }

  xrt::device device_;
  xrt::kernel quest_;
  xrt::kernel bm25_;
  const std::string description_;
};

}  // namespace

bool BuiltWithXrt() { return true; }

int XrtDeviceCount() {
  try {
    return static_cast<int>(xrt::system::enumerate_devices());
  } catch (const std::exception&) {
    return 0;
  }
}

absl::StatusOr<std::unique_ptr<KernelRunner>> MakeXrtRunner(
    const std::string& xclbin_path, int device_index) {
  const int count = XrtDeviceCount();
  if (device_index < 0 || device_index >= count) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no FPGA device with index ", device_index, ": XRT found ", count,
        " device(s) (is the xocl/xclmgmt driver loaded and the card "
        "flashed?)"));
  }
  xrt::device device;
  try {
    device = xrt::device(static_cast<unsigned int>(device_index));
  } catch (const std::exception& e) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot open FPGA device ", device_index, ": ", e.what()));
  }
  xrt::uuid uuid;
  try {
    uuid = device.load_xclbin(xclbin_path);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot load xclbin '", xclbin_path, "' on device ", device_index,
        ": ", e.what()));
  }
  try {
    xrt::kernel quest(device, uuid, "quest_score_topk");
    xrt::kernel bm25(device, uuid, "bm25_score_topk");
    std::string description =
        absl::StrCat("fpga (device ", device_index, ", ", xclbin_path, ")");
    return std::unique_ptr<KernelRunner>(
        new XrtRunner(std::move(device), std::move(quest), std::move(bm25),
                      std::move(description)));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "xclbin '", xclbin_path,
        "' lacks the quest_score_topk / bm25_score_topk kernels: ", e.what()));
  }
}

}  // namespace triptych::kernels::fpga
