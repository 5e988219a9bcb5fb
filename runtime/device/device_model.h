#ifndef TRIPTYCH_RUNTIME_DEVICE_DEVICE_MODEL_H_
#define TRIPTYCH_RUNTIME_DEVICE_DEVICE_MODEL_H_

// The Llama-family forward pass on a GPU (the build's runtime: hip, cuda or
// hip-cpu) over the ops of kernels/hip/forward_ops.h.
//
// Memory: every weight matrix and vector of the host model is uploaded once,
// at Create, into its own device buffer in its GGUF layout (quantized types
// stay quantized; the matmul kernels dequantize in registers); tied
// embeddings share one buffer. The KV pool of every cache that runs on this
// model is device memory from NewKvPool, in the runtime/kv block layout
// (docs/KV_LAYOUT.md), so block ids, the allocator and prefix caching stay
// the host's kv::KvCache while the bytes live on the device. Per Forward the
// host uploads the batch's token ids, positions, write slots and block
// tables (a few KB), the whole layer loop runs on one device stream, and
// only the logits rows asked for come back (vocab floats per sequence):
// sampling runs on the host from those rows (the existing sampler).
//
// Numerics follow the CPU model except that matmuls keep activations in
// float (the CPU rounds them to the weight's VecDotType first) and sums are
// reordered (tree reductions); see docs/GPU_FORWARD.md.
//
// Limits: sparse attention runs dense here; key summaries are not made.
// The pool's memory (kv::PoolMemory) copies to and from the host on its own
// stream; it is host-accessible only with hip-cpu, whose device memory is
// host memory. On a discrete GPU the nodes move KV through host staging
// slots (kv::StagingArea) unless the transport handles device memory
// (docs/TRANSPORT.md).
//
// Thread safety: all methods are thread-safe; Forward calls are serialised
// (one stream, one set of scratch buffers).

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "kernels/hip/forward_ops.h"
#include "runtime/device/device.h"
#include "runtime/model/model.h"

namespace triptych::device {

class DeviceModel : public model::ForwardModel {
 public:
  // Uploads `host`'s weights to `device` (a GPU device). `host` may be
  // destroyed afterwards (its weights are copied; its config too).
  // Errors: kInvalidArgument when `device` is the CPU, kUnimplemented for a
  // weight type the GPU matmul lacks, kResourceExhausted when device memory
  // runs out, kInternal for other device errors.
  static absl::StatusOr<std::unique_ptr<DeviceModel>> Create(
      const model::Model& host, const Device& device);
  ~DeviceModel() override;
  DeviceModel(const DeviceModel&) = delete;
  DeviceModel& operator=(const DeviceModel&) = delete;

  const model::ModelConfig& config() const override { return config_; }
  // Device memory for a KV pool. The model must outlive the pool.
  absl::StatusOr<std::unique_ptr<kv::PoolMemory>> NewKvPool(
      int64_t bytes) const override;
  // As model::Model::Forward; also kFailedPrecondition when `cache`'s pool
  // is not one of this model's (NewKvPool), kInternal on a device error.
  // `on_layer_kv(l)` runs, in layer order on the calling thread, as soon as
  // layer l's KV writes have completed on the device, while the later
  // layers still compute (an event per layer).
  absl::StatusOr<std::vector<float>> Forward(
      absl::Span<const model::SequenceBatch> batch, kv::KvCache* cache, ThreadPool* pool,
      const model::LayerKvDoneFn* on_layer_kv = nullptr) const override;
  std::string device() const override;
  // Bytes of weights resident on the device.
  int64_t weight_bytes() const { return weight_bytes_; }

 private:
  struct DeviceWeight {
    kernels::GgmlType type = kernels::GgmlType::kF32;
    int64_t rows = 0, cols = 0;
    const void* data = nullptr;  // into one of buffers_
  };
  struct DeviceLayer {
    const float *attn_norm = nullptr, *ffn_norm = nullptr;
    const float *bq = nullptr, *bk = nullptr, *bv = nullptr;  // or null
    DeviceWeight wq, wk, wv, wo, w_gate, w_up, w_down;
  };
  class Pool;
  DeviceModel() = default;
  absl::StatusOr<DeviceWeight> Upload(const model::Weight& w);
  absl::StatusOr<const float*> Upload(const model::Vector& v);
  absl::Status MatMul(const DeviceWeight& w, const float* x, int64_t m,
                      float* y) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ForgetPool(const void* base) const;

  model::ModelConfig config_;
  std::string description_;
  kernels::hip::GpuStream stream_;
  std::vector<kernels::hip::GpuBuffer> buffers_;  // weights
  int64_t weight_bytes_ = 0;
  DeviceWeight token_embd_, output_;
  const float* output_norm_ = nullptr;
  const float* rope_freqs_ = nullptr;  // or null
  std::vector<DeviceLayer> layers_;

  mutable absl::Mutex mu_;  // serialises Forward: stream and scratch
  mutable std::vector<kernels::hip::GpuBuffer> scratch_ ABSL_GUARDED_BY(mu_);
  mutable std::vector<kernels::hip::GpuEvent> layer_events_
      ABSL_GUARDED_BY(mu_);
  mutable absl::Mutex pools_mu_;
  mutable absl::flat_hash_set<const void*> pools_ ABSL_GUARDED_BY(pools_mu_);
};

}  // namespace triptych::device

#endif  // TRIPTYCH_RUNTIME_DEVICE_DEVICE_MODEL_H_
