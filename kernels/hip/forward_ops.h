#ifndef TRIPTYCH_KERNELS_HIP_FORWARD_OPS_H_
#define TRIPTYCH_KERNELS_HIP_FORWARD_OPS_H_

// The forward-pass ops of a Llama-family model (runtime/model/model.cc) on a
// GPU: device buffers, streams, and one launch function per op. One source
// (the .hip files of this folder) is built by hipcc for AMD and by nvcc for
// NVIDIA through gpu_compat.h; with neither compiler forward_stub.cc makes
// every call report that the build has no GPU kernels.
//
// Plain C++17 with no runtime or Abseil types, so ordinary C++ code (the
// device backend, tests, benchmarks) calls it without a GPU compiler. Errors
// are strings: empty on success, otherwise the runtime's or the validation's
// message (callers convert to absl::Status at their boundary).
//
// Launch functions take DEVICE pointers, enqueue work on `stream` (nullptr:
// the default stream) and return without waiting; a launch error is
// reported at once, a fault during execution at the next synchronising call.
// Shapes are checked (an error names the op and the bad value); pointers are
// not. Arithmetic follows the CPU reference's operation order where it is
// cheap to do so (no FMA contraction: the sources are built with it off),
// but sums are reordered, so results agree within float rounding, not bit
// for bit; forward_ops_test.cc gives the tolerance per op and type.
//
// Thread safety: the functions are thread-safe; a GpuBuffer or GpuStream
// object is not (use one per thread or lock around it).

#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/ggml_type.h"

namespace triptych::kernels::hip {

// hipStream_t / cudaStream_t behind an opaque pointer; nullptr is the
// default stream.
using StreamHandle = void*;

// Owns a device stream (RAII, move-only).
class GpuStream {
 public:
  GpuStream() = default;
  // Creates a stream on the current device; on failure returns an empty
  // object (get() == nullptr, valid() false) and sets *error.
  static GpuStream Create(std::string* error);
  ~GpuStream();
  GpuStream(GpuStream&& other) noexcept;
  GpuStream& operator=(GpuStream&& other) noexcept;
  GpuStream(const GpuStream&) = delete;
  GpuStream& operator=(const GpuStream&) = delete;

  bool valid() const { return stream_ != nullptr; }
  StreamHandle get() const { return stream_; }
  // Waits for all work enqueued on the stream.
  std::string Synchronize() const;

 private:
  StreamHandle stream_ = nullptr;
};

// Owns `bytes` of device memory (RAII, move-only).
class GpuBuffer {
 public:
  GpuBuffer() = default;
  // Allocates on the current device (at least one byte); on failure returns
  // an empty buffer and sets *error.
  static GpuBuffer Allocate(size_t bytes, std::string* error);
  ~GpuBuffer();
  GpuBuffer(GpuBuffer&& other) noexcept;
  GpuBuffer& operator=(GpuBuffer&& other) noexcept;
  GpuBuffer(const GpuBuffer&) = delete;
  GpuBuffer& operator=(const GpuBuffer&) = delete;

  void* data() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

  // Copies `bytes` between host memory and [offset, offset + bytes) of the
  // buffer, ordered after the work already on `stream`, and waits for the
  // copy (the host memory may be reused on return). An out-of-range span is
  // an error, nothing is copied.
  std::string CopyFromHost(const void* host, size_t bytes, size_t offset = 0,
                           StreamHandle stream = nullptr);
  std::string CopyToHost(void* host, size_t bytes, size_t offset = 0,
                         StreamHandle stream = nullptr) const;

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Owns a device event (RAII, move-only): recorded on a stream, it completes
// when the work enqueued there before it has; the host waits for it.
class GpuEvent {
 public:
  GpuEvent() = default;
  // On failure returns an empty object (valid() false) and sets *error.
  static GpuEvent Create(std::string* error);
  ~GpuEvent();
  GpuEvent(GpuEvent&& other) noexcept;
  GpuEvent& operator=(GpuEvent&& other) noexcept;
  GpuEvent(const GpuEvent&) = delete;
  GpuEvent& operator=(const GpuEvent&) = delete;

  bool valid() const { return event_ != nullptr; }
  std::string Record(StreamHandle stream);
  // Waits until the work before the last Record has completed.
  std::string Synchronize() const;

 private:
  void* event_ = nullptr;
};

// One copy of a batch between device memory and host memory.
struct GpuCopy {
  void* device = nullptr;
  void* host = nullptr;
  size_t bytes = 0;
};
// Enqueues every copy (device -> host when `to_host`, else host -> device)
// on `stream`, ordered after the work already there, and waits for all of
// them once. Pointers are not checked.
std::string GpuCopyBatch(const GpuCopy* copies, size_t count, bool to_host,
                         StreamHandle stream);

// "NAME, N GiB, M compute units" of device `device`, or the runtime's error.
std::string GpuDeviceDescription(int device);

// Element-wise and row ops. `rows` x `n` matrices are row-major, dense.

// out[r] = x[r] * (1 / sqrt(mean(x[r]^2) + eps)) * weight, the mean of
// squares summed in double (as model.cc / llama.cpp). out may alias x.
std::string GpuRmsNorm(const float* x, const float* weight, int64_t rows,
                       int64_t n, float eps, float* out, StreamHandle stream);

// RoPE as model.cc applies it, in place on x: [tokens][heads][head_dim].
// Pair i < rope_dim / 2 of a head is (2i, 2i + 1) for normal (llama) and
// (i, i + rope_dim / 2) for neox (qwen2); dims from rope_dim on are left
// as they are. Angle of pair i: pos / linear_scale * theta_scale^i, the
// power taken by repeated multiplication (as llama.cpp), divided by
// freq_factors[i] when given (rope_freqs.weight, device, rope_dim / 2).
struct GpuRopeParams {
  int head_dim = 0;
  int rope_dim = 0;  // even, <= head_dim
  float theta = 10000.0f;
  float linear_scale = 1.0f;
  bool neox = false;
  const float* freq_factors = nullptr;
};
std::string GpuRope(float* x, int64_t tokens, int heads, const int32_t* pos,
                    const GpuRopeParams& params, StreamHandle stream);

// out[i] = gate[i] / (1 + exp(-gate[i])) * up[i]. out may alias gate or up.
std::string GpuSwiGlu(const float* gate, const float* up, int64_t n, float* out,
                      StreamHandle stream);

// x[i] += y[i] (residual add).
std::string GpuAdd(float* x, const float* y, int64_t n, StreamHandle stream);

// x[r][i] += bias[i] for each of `rows` rows of n (Qwen2 QKV bias).
std::string GpuAddBias(float* x, const float* bias, int64_t rows, int64_t n,
                       StreamHandle stream);

// Embedding lookup: out[t] = dequantized row ids[t] of `table` (`type`,
// rows of `cols` elements, RowBytes(type, cols) apart). ids on the device.
std::string GpuGetRows(GgmlType type, const void* table, int64_t cols,
                       const int32_t* ids, int64_t count, float* out,
                       StreamHandle stream);

// Matrix products.

// True for the weight types GpuMatMul and GpuGetRows take: F32, F16, BF16,
// Q8_0, Q4_0, Q4_K, Q6_K.
inline bool GpuMatMulSupports(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_K:
    case GgmlType::kQ6_K:
      return true;
    default:
      return false;
  }
}

// y[t * rows + r] = sum_c W[r][c] * x[t * cols + c] for t < m, r < rows,
// where W is `rows` rows of `cols` elements of `type` (as stored in GGUF,
// RowBytes(type, cols) apart) and x is float. Weights are dequantized to
// float in registers / shared memory and multiplied with float activations
// (the CPU path instead rounds activations to VecDotType). m <= 8 uses a
// GEMV kernel (one row per 32 threads), larger m a 64 x 64 tiled GEMM.
// cols must be a multiple of the type's block size.
std::string GpuMatMul(GgmlType type, const void* w, int64_t rows, int64_t cols,
                      const float* x, int64_t m, float* y, StreamHandle stream);

// Paged KV cache and attention.

// Geometry of a pool of KV blocks in the layout of runtime/kv/kv_cache.h:
// block[layer][K | V][slot][kv_head][head_dim] of F16 (or F32) elements,
// block `b` at b * BlockBytes() from the pool base.
struct GpuKvLayout {
  int num_layers = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int block_size = 16;
  bool f16 = true;

  int64_t elem_bytes() const { return f16 ? 2 : 4; }
  int64_t token_bytes() const {
    return int64_t{num_kv_heads} * head_dim * elem_bytes();
  }
  int64_t layer_stride_bytes() const { return 2 * block_size * token_bytes(); }
  int64_t block_bytes() const { return num_layers * layer_stride_bytes(); }
};

// Writes layer `layer`'s K and V of `tokens` new tokens ([tokens][kv_heads *
// head_dim] floats each, converted to the pool dtype with round-to-nearest-
// even) into slot slots[t] of block block_ids[t] (both device arrays).
std::string GpuWriteKv(void* pool, const GpuKvLayout& layout, int layer,
                       const float* k, const float* v, int64_t tokens,
                       const int32_t* block_ids, const int32_t* slots,
                       StreamHandle stream);

// One attention call over a batch of query tokens, each with its own view
// of the cache: query token t reads KV rows 0 .. context_len[t] - 1 of the
// sequence whose blocks are block_tables[table_begin[t] ...] (16-token
// blocks in order). Decode: one token per sequence. Prefill (causal): the
// tokens of a prompt share table_begin and have context_len = pos + 1.
// Query head h reads KV head h / (num_heads / num_kv_heads) (GQA). As in
// kernels/attention, an F16 cache rounds the query to F16 first. All
// arrays are on the device; context_len[t] >= 1.
struct GpuAttentionBatch {
  int64_t num_tokens = 0;
  int num_heads = 0;         // query heads, a multiple of num_kv_heads
  float scale = 1.0f;        // usually 1 / sqrt(head_dim)
  const float* q = nullptr;  // [num_tokens][num_heads][head_dim]
  const int32_t* block_tables = nullptr;
  const int32_t* table_begin = nullptr;  // [num_tokens]
  const int32_t* context_len = nullptr;  // [num_tokens]
  float* out = nullptr;                  // [num_tokens][num_heads][head_dim]
};
// head_dim <= kGpuMaxAttentionHeadDim.
inline constexpr int kGpuMaxAttentionHeadDim = 256;
std::string GpuPagedAttention(const void* pool, const GpuKvLayout& layout,
                              int layer, const GpuAttentionBatch& batch,
                              StreamHandle stream);

// Sampling helpers over `rows` rows of `vocab` logits.

// ids[r] = index of the largest logit of row r (ties: the lower index, as
// the CPU sampler's greedy path). NaNs are never chosen.
std::string GpuArgmax(const float* logits, int64_t rows, int64_t vocab,
                      int32_t* ids, StreamHandle stream);

// probs[r] = softmax(logits[r] / temperature), exp of (l - max) / T summed
// in float. temperature > 0.
std::string GpuSoftmax(const float* logits, int64_t rows, int64_t vocab,
                       float temperature, float* probs, StreamHandle stream);

}  // namespace triptych::kernels::hip

#endif  // TRIPTYCH_KERNELS_HIP_FORWARD_OPS_H_
