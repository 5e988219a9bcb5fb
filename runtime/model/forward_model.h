#ifndef TRIPTYCH_RUNTIME_MODEL_FORWARD_MODEL_H_
#define TRIPTYCH_RUNTIME_MODEL_FORWARD_MODEL_H_

// What the engine and the prefill node run batches on: the CPU Model
// (model.h) or a device model (runtime/device/device_model.h), which keeps
// its weights and the KV pool in GPU memory. The seam is narrow: the
// geometry, memory for the KV pool, and one forward call.
//
// Thread safety: every method is const and thread-safe (an implementation
// may serialise Forward calls internally).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/thread_pool.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/model/model_config.h"

namespace triptych::model {

struct SequenceBatch;

// Called by Forward() on its calling thread once layer `layer`'s K and V of
// every new token of the batch are in the cache, so a caller can start
// moving that layer's KV while the remaining layers compute. Must not write
// the cache. The CPU Model calls it right after the layer's KV write
// (before its attention); a device model after the pass, for every layer
// in order (its KV is complete then, without overlap).
using LayerKvDoneFn = std::function<void(int64_t layer)>;

class ForwardModel {
 public:
  virtual ~ForwardModel() = default;

  virtual const ModelConfig& config() const = 0;
  // KV cache geometry this model needs: its layers, KV heads and head size.
  kv::KvCacheOptions KvOptions(int64_t num_blocks, int block_size, kv::KvDtype dtype) const {
    const ModelConfig& c = config();
    kv::KvCacheOptions o;
    o.num_layers = static_cast<int>(c.num_layers);
    o.num_kv_heads = static_cast<int>(c.num_kv_heads);
    o.head_dim = static_cast<int>(c.head_dim);
    o.block_size = block_size;
    o.num_blocks = num_blocks;
    o.dtype = dtype;
    return o;
  }
  // Memory for a KV pool of `bytes`, for kv::KvCache::Create. nullptr (the
  // default): the cache's own host memory. A device model returns device
  // memory and requires its caches to use it (Forward checks).
  virtual absl::StatusOr<std::unique_ptr<kv::PoolMemory>> NewKvPool(
      int64_t /*bytes*/) const {
    return std::unique_ptr<kv::PoolMemory>();
  }
  // Runs the batch over `cache` and returns logits on the host, row-major:
  // per sequence one row (last token) or tokens.size() rows (all_logits).
  // Errors: see Model::Forward.
  // `on_layer_kv`, when given, runs once per layer (see LayerKvDoneFn).
  virtual absl::StatusOr<std::vector<float>> Forward(
      absl::Span<const SequenceBatch> batch, kv::KvCache* cache, ThreadPool* pool,
      const LayerKvDoneFn* on_layer_kv = nullptr) const = 0;
  // Where it runs: "cpu", or e.g. "gpu (hip-cpu device 0: ...)".
  virtual std::string device() const { return "cpu"; }
};

// Creates a KV cache whose pool lives where `model` wants it.
inline absl::StatusOr<std::unique_ptr<kv::KvCache>> NewKvCache(
    const ForwardModel& model, const kv::KvCacheOptions& options) {
  absl::StatusOr<int64_t> bytes = kv::KvCache::PoolBytes(options);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<std::unique_ptr<kv::PoolMemory>> memory =
      model.NewKvPool(*bytes);
  if (!memory.ok()) return memory.status();
  return kv::KvCache::Create(options, *std::move(memory));
}

}  // namespace triptych::model

#endif  // TRIPTYCH_RUNTIME_MODEL_FORWARD_MODEL_H_
