// GpuBuffer and GpuStream (forward_ops.h): RAII device memory and streams.

#include <cstdio>
#include <string>
#include <utility>

#include "kernels/hip/device_buffer.h"
#include "kernels/hip/forward_ops.h"

namespace triptych::kernels::hip {

std::string GpuDeviceDescription(int device) {
  hipDeviceProp_t prop;
  const hipError_t e = hipGetDeviceProperties(&prop, device);
  if (e != hipSuccess) return ErrorText(e, "hipGetDeviceProperties");
  const double gib = static_cast<double>(prop.totalGlobalMem) / (1 << 30);
  char text[320];
  std::snprintf(text, sizeof(text), "%s, %.1f GiB, %d compute units", prop.name,
                gib, prop.multiProcessorCount);
  return text;
}

GpuStream GpuStream::Create(std::string* error) {
  GpuStream s;
  hipStream_t h = nullptr;
  const hipError_t e = hipStreamCreate(&h);
  if (e != hipSuccess) {
    *error = ErrorText(e, "hipStreamCreate");
    return s;
  }
  s.stream_ = h;
  return s;
}

GpuStream::~GpuStream() {
  if (stream_ != nullptr) {
    (void)hipStreamDestroy(static_cast<hipStream_t>(stream_));
  }
}

GpuStream::GpuStream(GpuStream&& other) noexcept
    : stream_(std::exchange(other.stream_, nullptr)) {}

GpuStream& GpuStream::operator=(GpuStream&& other) noexcept {
  if (this != &other) {
    if (stream_ != nullptr) {
      (void)hipStreamDestroy(static_cast<hipStream_t>(stream_));
    }
    stream_ = std::exchange(other.stream_, nullptr);
  }
  return *this;
}

std::string GpuStream::Synchronize() const {
  const hipError_t e = hipStreamSynchronize(static_cast<hipStream_t>(stream_));
  return e == hipSuccess ? std::string() : ErrorText(e, "stream synchronize");
}

GpuBuffer GpuBuffer::Allocate(size_t bytes, std::string* error) {
  GpuBuffer b;
  void* p = nullptr;
  const hipError_t e = hipMalloc(&p, bytes > 0 ? bytes : 1);
  if (e != hipSuccess) {
    *error = ErrorText(e, "hipMalloc");
    return b;
  }
  b.ptr_ = p;
  b.bytes_ = bytes;
  return b;
}

GpuBuffer::~GpuBuffer() {
  if (ptr_ != nullptr) (void)hipFree(ptr_);
}

GpuBuffer::GpuBuffer(GpuBuffer&& other) noexcept
    : ptr_(std::exchange(other.ptr_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)) {}

GpuBuffer& GpuBuffer::operator=(GpuBuffer&& other) noexcept {
  if (this != &other) {
    if (ptr_ != nullptr) (void)hipFree(ptr_);
    ptr_ = std::exchange(other.ptr_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

namespace {

std::string Copy(void* dst, const void* src, size_t bytes, hipMemcpyKind kind,
                 StreamHandle stream) {
  if (bytes == 0) return {};
  const hipStream_t s = static_cast<hipStream_t>(stream);
  hipError_t e = hipMemcpyAsync(dst, src, bytes, kind, s);
  if (e == hipSuccess) e = hipStreamSynchronize(s);
  return e == hipSuccess ? std::string() : ErrorText(e, "copy");
}

}  // namespace

std::string GpuBuffer::CopyFromHost(const void* host, size_t bytes,
                                    size_t offset, StreamHandle stream) {
  if (ptr_ == nullptr || offset > bytes_ || bytes > bytes_ - offset) {
    return "GpuBuffer::CopyFromHost: span outside the buffer";
  }
  return Copy(static_cast<char*>(ptr_) + offset, host, bytes,
              hipMemcpyHostToDevice, stream);
}

std::string GpuBuffer::CopyToHost(void* host, size_t bytes, size_t offset,
                                  StreamHandle stream) const {
  if (ptr_ == nullptr || offset > bytes_ || bytes > bytes_ - offset) {
    return "GpuBuffer::CopyToHost: span outside the buffer";
  }
  return Copy(host, static_cast<const char*>(ptr_) + offset, bytes,
              hipMemcpyDeviceToHost, stream);
}

GpuEvent GpuEvent::Create(std::string* error) {
  GpuEvent ev;
  hipEvent_t h = nullptr;
  const hipError_t e = hipEventCreateWithFlags(&h, hipEventDisableTiming);
  if (e != hipSuccess) {
    *error = ErrorText(e, "hipEventCreate");
    return ev;
  }
  ev.event_ = h;
  return ev;
}

GpuEvent::~GpuEvent() {
  if (event_ != nullptr) (void)hipEventDestroy(static_cast<hipEvent_t>(event_));
}

GpuEvent::GpuEvent(GpuEvent&& other) noexcept
    : event_(std::exchange(other.event_, nullptr)) {}

GpuEvent& GpuEvent::operator=(GpuEvent&& other) noexcept {
  if (this != &other) {
    if (event_ != nullptr)
      (void)hipEventDestroy(static_cast<hipEvent_t>(event_));
    event_ = std::exchange(other.event_, nullptr);
  }
  return *this;
}

std::string GpuEvent::Record(StreamHandle stream) {
  const hipError_t e = hipEventRecord(static_cast<hipEvent_t>(event_),
                                      static_cast<hipStream_t>(stream));
  return e == hipSuccess ? std::string() : ErrorText(e, "hipEventRecord");
}

std::string GpuEvent::Synchronize() const {
  const hipError_t e = hipEventSynchronize(static_cast<hipEvent_t>(event_));
  return e == hipSuccess ? std::string() : ErrorText(e, "hipEventSynchronize");
}

std::string GpuCopyBatch(const GpuCopy* copies, size_t count, bool to_host,
                         StreamHandle stream) {
  const hipStream_t s = static_cast<hipStream_t>(stream);
  for (size_t i = 0; i < count; ++i) {
    const GpuCopy& c = copies[i];
    if (c.bytes == 0) continue;
    const hipError_t e = to_host ? hipMemcpyAsync(c.host, c.device, c.bytes,
                                                  hipMemcpyDeviceToHost, s)
                                 : hipMemcpyAsync(c.device, c.host, c.bytes,
                                                  hipMemcpyHostToDevice, s);
    if (e != hipSuccess) {
      (void)hipStreamSynchronize(s);  // the copies already enqueued finish
      return ErrorText(e, "copy");
    }
  }
  const hipError_t e = hipStreamSynchronize(s);
  return e == hipSuccess ? std::string() : ErrorText(e, "copy");
}

}  // namespace triptych::kernels::hip
