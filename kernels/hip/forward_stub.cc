// Stand-in for the forward-op .hip files when neither hipcc nor nvcc is
// installed: every call reports that the build has no GPU kernels.

#include <string>

#include "kernels/hip/forward_ops.h"

namespace triptych::kernels::hip {
namespace {
const char kNoGpu[] =
    "this build has no GPU kernels (neither hipcc nor nvcc was found at "
    "configure time)";
}  // namespace

std::string GpuDeviceDescription(int) { return kNoGpu; }

GpuStream GpuStream::Create(std::string* error) {
  *error = kNoGpu;
  return GpuStream();
}
GpuStream::~GpuStream() = default;
GpuStream::GpuStream(GpuStream&& other) noexcept : stream_(other.stream_) {
  other.stream_ = nullptr;
}
GpuStream& GpuStream::operator=(GpuStream&& other) noexcept {
  stream_ = other.stream_;
  other.stream_ = nullptr;
  return *this;
}
std::string GpuStream::Synchronize() const { return kNoGpu; }

GpuBuffer GpuBuffer::Allocate(size_t, std::string* error) {
  *error = kNoGpu;
  return GpuBuffer();
}
GpuBuffer::~GpuBuffer() = default;
GpuBuffer::GpuBuffer(GpuBuffer&& other) noexcept
    : ptr_(other.ptr_), bytes_(other.bytes_) {
  other.ptr_ = nullptr;
  other.bytes_ = 0;
}
GpuBuffer& GpuBuffer::operator=(GpuBuffer&& other) noexcept {
  ptr_ = other.ptr_;
  bytes_ = other.bytes_;
  other.ptr_ = nullptr;
  other.bytes_ = 0;
  return *this;
}
std::string GpuBuffer::CopyFromHost(const void*, size_t, size_t, StreamHandle) {
  return kNoGpu;
}
std::string GpuBuffer::CopyToHost(void*, size_t, size_t, StreamHandle) const {
  return kNoGpu;
}

GpuEvent GpuEvent::Create(std::string* error) {
  *error = kNoGpu;
  return GpuEvent();
}
GpuEvent::~GpuEvent() = default;
GpuEvent::GpuEvent(GpuEvent&& other) noexcept : event_(other.event_) {
  other.event_ = nullptr;
}
GpuEvent& GpuEvent::operator=(GpuEvent&& other) noexcept {
  event_ = other.event_;
  other.event_ = nullptr;
  return *this;
}
std::string GpuEvent::Record(StreamHandle) { return kNoGpu; }
std::string GpuEvent::Synchronize() const { return kNoGpu; }
std::string GpuCopyBatch(const GpuCopy*, size_t, bool, StreamHandle) {
  return kNoGpu;
}

std::string GpuRmsNorm(const float*, const float*, int64_t, int64_t, float,
                       float*, StreamHandle) {
  return kNoGpu;
}
std::string GpuRope(float*, int64_t, int, const int32_t*, const GpuRopeParams&,
                    StreamHandle) {
  return kNoGpu;
}
std::string GpuSwiGlu(const float*, const float*, int64_t, float*,
                      StreamHandle) {
  return kNoGpu;
}
std::string GpuAdd(float*, const float*, int64_t, StreamHandle) {
  return kNoGpu;
}
std::string GpuAddBias(float*, const float*, int64_t, int64_t, StreamHandle) {
  return kNoGpu;
}
std::string GpuGetRows(GgmlType, const void*, int64_t, const int32_t*, int64_t,
                       float*, StreamHandle) {
  return kNoGpu;
}
std::string GpuMatMul(GgmlType, const void*, int64_t, int64_t, const float*,
                      int64_t, float*, StreamHandle) {
  return kNoGpu;
}
std::string GpuWriteKv(void*, const GpuKvLayout&, int, const float*,
                       const float*, int64_t, const int32_t*, const int32_t*,
                       StreamHandle) {
  return kNoGpu;
}
std::string GpuPagedAttention(const void*, const GpuKvLayout&, int,
                              const GpuAttentionBatch&, StreamHandle) {
  return kNoGpu;
}
std::string GpuArgmax(const float*, int64_t, int64_t, int32_t*, StreamHandle) {
  return kNoGpu;
}
std::string GpuSoftmax(const float*, int64_t, int64_t, float, float*,
                       StreamHandle) {
  return kNoGpu;
}

}  // namespace triptych::kernels::hip
