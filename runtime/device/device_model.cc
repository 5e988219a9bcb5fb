#include "runtime/device/device_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/hip/gpu_ops.h"

namespace triptych::device {
namespace {

namespace gpu = kernels::hip;

absl::Status DeviceError(const std::string& what) {
  if (what.empty()) return absl::OkStatus();
  if (what.find("emory") != std::string::npos) {  // out of (device) memory
    return absl::ResourceExhaustedError(absl::StrCat("device: ", what));
  }
  return absl::InternalError(absl::StrCat("device: ", what));
}

#define RETURN_IF_DEVICE_ERROR(expr)                                  \
  do {                                                                \
    if (std::string _e = (expr); !_e.empty()) return DeviceError(_e); \
  } while (false)

}  // namespace

// A KV pool in device memory; tells the model when it goes away. Copies to
// and from the host run on the pool's own stream, so a layer's KV leaves
// the device while the model's stream computes the next layers.
class DeviceModel::Pool : public kv::PoolMemory {
 public:
  Pool(const DeviceModel* model, gpu::GpuBuffer buffer,
       gpu::GpuStream copy_stream)
      : model_(model),
        buffer_(std::move(buffer)),
        copy_stream_(std::move(copy_stream)) {}
  ~Pool() override { model_->ForgetPool(buffer_.data()); }
  uint8_t* data() override { return buffer_.as<uint8_t>(); }
  bool host_accessible() const override { return host_accessible_; }
  absl::Status CopyOut(absl::Span<const kv::PoolCopy> copies) override {
    return Copy(copies, /*to_host=*/true);
  }
  absl::Status CopyIn(absl::Span<const kv::PoolCopy> copies) override {
    return Copy(copies, /*to_host=*/false);
  }
  absl::Status Zero(size_t bytes) override {
    // Host zeros through a bounded chunk: the pool may be larger than the
    // host wants to allocate at once.
    constexpr size_t kChunk = size_t{16} << 20;
    std::vector<uint8_t> zeros(std::min(bytes, kChunk), 0);
    std::vector<kv::PoolCopy> copies;
    for (size_t off = 0; off < bytes; off += kChunk) {
      copies.push_back({off, zeros.data(), std::min(kChunk, bytes - off)});
    }
    return CopyIn(copies);
  }

 private:
  absl::Status Copy(absl::Span<const kv::PoolCopy> copies, bool to_host) {
    std::vector<gpu::GpuCopy> batch;
    batch.reserve(copies.size());
    for (const kv::PoolCopy& c : copies) {
      batch.push_back({buffer_.as<uint8_t>() + c.pool_offset, c.host, c.bytes});
    }
    absl::MutexLock lock(&mu_);
    RETURN_IF_DEVICE_ERROR(gpu::GpuCopyBatch(batch.data(), batch.size(),
                                             to_host, copy_stream_.get()));
    return absl::OkStatus();
  }

  const DeviceModel* model_;
  gpu::GpuBuffer buffer_;
  // Only the HIP CPU Runtime's device memory is host memory.
  const bool host_accessible_ = std::string(gpu::GpuRuntimeName()) == "hip-cpu";
  absl::Mutex mu_;  // one batch at a time on the copy stream
  gpu::GpuStream copy_stream_ ABSL_GUARDED_BY(mu_);
};

DeviceModel::~DeviceModel() = default;

absl::StatusOr<DeviceModel::DeviceWeight> DeviceModel::Upload(
    const model::Weight& w) {
  if (!gpu::GpuMatMulSupports(w.type)) {
    return absl::UnimplementedError(
        absl::StrCat("the GPU matmul has no kernel for weight type ",
                     std::string(kernels::TypeName(w.type))));
  }
  const size_t bytes = static_cast<size_t>(w.row_bytes * w.rows);
  std::string error;
  gpu::GpuBuffer b = gpu::GpuBuffer::Allocate(bytes, &error);
  RETURN_IF_DEVICE_ERROR(error);
  RETURN_IF_DEVICE_ERROR(b.CopyFromHost(w.data, bytes, 0, stream_.get()));
  DeviceWeight d{w.type, w.rows, w.cols, b.data()};
  weight_bytes_ += static_cast<int64_t>(bytes);
  buffers_.push_back(std::move(b));
  return d;
}

absl::StatusOr<const float*> DeviceModel::Upload(const model::Vector& v) {
  if (v.empty()) return nullptr;
  const size_t bytes = v.size() * sizeof(float);
  std::string error;
  gpu::GpuBuffer b = gpu::GpuBuffer::Allocate(bytes, &error);
  RETURN_IF_DEVICE_ERROR(error);
  RETURN_IF_DEVICE_ERROR(b.CopyFromHost(v.data(), bytes, 0, stream_.get()));
  const float* p = b.as<float>();
  weight_bytes_ += static_cast<int64_t>(bytes);
  buffers_.push_back(std::move(b));
  return p;
}

absl::StatusOr<std::unique_ptr<DeviceModel>> DeviceModel::Create(
    const model::Model& host, const Device& device) {
  if (device.kind() == DeviceKind::kCpu) {
    return absl::InvalidArgumentError("DeviceModel needs a GPU device");
  }
  auto m = std::unique_ptr<DeviceModel>(new DeviceModel());
  m->config_ = host.config();
  m->description_ = device.description();
  std::string error;
  m->stream_ = gpu::GpuStream::Create(&error);
  RETURN_IF_DEVICE_ERROR(error);
  ASSIGN_OR_RETURN(m->token_embd_, m->Upload(host.token_embd()));
  if (host.output().data == host.token_embd().data) {
    m->output_ = m->token_embd_;  // tied embeddings: one buffer
  } else {
    ASSIGN_OR_RETURN(m->output_, m->Upload(host.output()));
  }
  ASSIGN_OR_RETURN(m->output_norm_, m->Upload(host.output_norm()));
  ASSIGN_OR_RETURN(m->rope_freqs_, m->Upload(host.rope_freq_factors()));
  for (const model::LayerWeights& l : host.layers()) {
    DeviceLayer d;
    ASSIGN_OR_RETURN(d.attn_norm, m->Upload(l.attn_norm));
    ASSIGN_OR_RETURN(d.ffn_norm, m->Upload(l.ffn_norm));
    ASSIGN_OR_RETURN(d.bq, m->Upload(l.bq));
    ASSIGN_OR_RETURN(d.bk, m->Upload(l.bk));
    ASSIGN_OR_RETURN(d.bv, m->Upload(l.bv));
    ASSIGN_OR_RETURN(d.wq, m->Upload(l.wq));
    ASSIGN_OR_RETURN(d.wk, m->Upload(l.wk));
    ASSIGN_OR_RETURN(d.wv, m->Upload(l.wv));
    ASSIGN_OR_RETURN(d.wo, m->Upload(l.wo));
    ASSIGN_OR_RETURN(d.w_gate, m->Upload(l.w_gate));
    ASSIGN_OR_RETURN(d.w_up, m->Upload(l.w_up));
    ASSIGN_OR_RETURN(d.w_down, m->Upload(l.w_down));
    m->layers_.push_back(d);
  }
  return m;
}

absl::StatusOr<std::unique_ptr<kv::PoolMemory>> DeviceModel::NewKvPool(
    int64_t bytes) const {
  if (bytes <= 0) return absl::InvalidArgumentError("KV pool of no bytes");
  std::string error;
  gpu::GpuBuffer b =
      gpu::GpuBuffer::Allocate(static_cast<size_t>(bytes), &error);
  if (!error.empty()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate a KV pool of ", bytes,
                     " bytes on the device: ", error));
  }
  gpu::GpuStream copy_stream = gpu::GpuStream::Create(&error);
  RETURN_IF_DEVICE_ERROR(error);
  {
    absl::MutexLock lock(&pools_mu_);
    pools_.insert(b.data());
  }
  return std::unique_ptr<kv::PoolMemory>(
      new Pool(this, std::move(b), std::move(copy_stream)));
}

void DeviceModel::ForgetPool(const void* base) const {
  absl::MutexLock lock(&pools_mu_);
  pools_.erase(base);
}

std::string DeviceModel::device() const {
  return absl::StrCat("gpu (", description_, ")");
}

absl::Status DeviceModel::MatMul(const DeviceWeight& w, const float* x,
                                 int64_t m, float* y) const {
  RETURN_IF_DEVICE_ERROR(
      gpu::GpuMatMul(w.type, w.data, w.rows, w.cols, x, m, y, stream_.get()));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> DeviceModel::Forward(
    absl::Span<const model::SequenceBatch> batch, kv::KvCache* cache, ThreadPool* /*pool*/,
    const model::LayerKvDoneFn* on_layer_kv) const {
  const model::ModelConfig& c = config_;
  if (batch.empty()) return absl::InvalidArgumentError("empty batch");
  const kv::KvCacheOptions& ko = cache->options();
  if (ko.num_layers != c.num_layers || ko.num_kv_heads != c.num_kv_heads ||
      ko.head_dim != c.head_dim) {
    return absl::InvalidArgumentError(
        "KV cache geometry does not match the model");
  }
  {
    absl::MutexLock lock(&pools_mu_);
    if (!pools_.contains(cache->BlockData(0))) {
      return absl::FailedPreconditionError(
          "the KV cache's pool is not in this device model's memory "
          "(create it with model::NewKvCache)");
    }
  }
  // Flatten the batch as the CPU model does; per token also the write slot,
  // where its sequence's block table starts, and its context length.
  std::vector<int32_t> tokens, pos, write_block, write_slot, table_begin, ctx,
      tables, logit_rows;
  for (const model::SequenceBatch& sb : batch) {
    if (sb.tokens.empty() || sb.kv == nullptr || sb.start_pos < 0) {
      return absl::InvalidArgumentError("sequence with no tokens or no KV");
    }
    const int64_t end = sb.start_pos + static_cast<int64_t>(sb.tokens.size());
    const int64_t nblocks = (end + ko.block_size - 1) / ko.block_size;
    if (static_cast<int64_t>(sb.kv->blocks().size()) < nblocks) {
      return absl::InvalidArgumentError("KV blocks not reserved for the batch");
    }
    if (end > c.context_length || end > 0x7FFFFFFF) {
      return absl::InvalidArgumentError("positions past the context length");
    }
    const int32_t begin = static_cast<int32_t>(tables.size());
    for (int64_t b = 0; b < nblocks; ++b) tables.push_back(sb.kv->blocks()[b]);
    for (size_t i = 0; i < sb.tokens.size(); ++i) {
      if (sb.tokens[i] < 0 || sb.tokens[i] >= c.vocab_size) {
        return absl::InvalidArgumentError(
            absl::StrCat("token id ", sb.tokens[i], " out of range"));
      }
      const int64_t p = sb.start_pos + static_cast<int64_t>(i);
      if (sb.all_logits || i + 1 == sb.tokens.size()) {
        logit_rows.push_back(static_cast<int32_t>(tokens.size()));
      }
      tokens.push_back(sb.tokens[i]);
      pos.push_back(static_cast<int32_t>(p));
      write_block.push_back(sb.kv->BlockOf(p));
      write_slot.push_back(sb.kv->SlotOf(p));
      table_begin.push_back(begin);
      ctx.push_back(static_cast<int32_t>(p + 1));
    }
  }
  const int64_t T = static_cast<int64_t>(tokens.size());
  const int64_t R = static_cast<int64_t>(logit_rows.size());
  const int64_t dim = c.dim, q_dim = c.num_heads * c.head_dim,
                kv_dim = c.num_kv_heads * c.head_dim, ffn = c.ffn_dim;

  absl::MutexLock lock(&mu_);
  // Scratch, grown to this batch and kept for the next.
  enum Buf {
    kX,
    kXn,
    kQ,
    kK,
    kV,
    kAtt,
    kGate,
    kUp,
    kRows,
    kLogits,
    kInts,
    kNumBufs
  };
  const int64_t ints = static_cast<int64_t>(6 * T + tables.size() + R);
  const int64_t need[kNumBufs] = {T * dim * 4,    T * std::max(dim, q_dim) * 4,
                                  T * q_dim * 4,  T * kv_dim * 4,
                                  T * kv_dim * 4, T * q_dim * 4,
                                  T * ffn * 4,    T * ffn * 4,
                                  R * dim * 4,    R * c.vocab_size * 4,
                                  ints * 4};
  scratch_.resize(kNumBufs);
  for (int i = 0; i < kNumBufs; ++i) {
    if (static_cast<int64_t>(scratch_[i].bytes()) < need[i]) {
      std::string error;
      scratch_[i] =
          gpu::GpuBuffer::Allocate(static_cast<size_t>(need[i]), &error);
      RETURN_IF_DEVICE_ERROR(error);
    }
  }
  auto f = [&](Buf b) { return scratch_[b].as<float>(); };
  // The int arrays, one upload: tokens | pos | write_block | write_slot |
  // table_begin | ctx | tables | logit_rows.
  std::vector<int32_t> host_ints;
  host_ints.reserve(static_cast<size_t>(ints));
  for (const auto* v : {&tokens, &pos, &write_block, &write_slot, &table_begin,
                        &ctx, &tables, &logit_rows}) {
    host_ints.insert(host_ints.end(), v->begin(), v->end());
  }
  RETURN_IF_DEVICE_ERROR(scratch_[kInts].CopyFromHost(
      host_ints.data(), host_ints.size() * sizeof(int32_t), 0, stream_.get()));
  const int32_t* d_ints = scratch_[kInts].as<int32_t>();
  const int32_t* d_tokens = d_ints;
  const int32_t* d_pos = d_ints + T;
  const int32_t* d_wblock = d_ints + 2 * T;
  const int32_t* d_wslot = d_ints + 3 * T;
  const int32_t* d_begin = d_ints + 4 * T;
  const int32_t* d_ctx = d_ints + 5 * T;
  const int32_t* d_tables = d_ints + 6 * T;
  const int32_t* d_logit_rows = d_tables + tables.size();

  gpu::StreamHandle s = stream_.get();
  void* kv_pool = cache->BlockData(0);
  gpu::GpuKvLayout layout;
  layout.num_layers = ko.num_layers;
  layout.num_kv_heads = ko.num_kv_heads;
  layout.head_dim = ko.head_dim;
  layout.block_size = ko.block_size;
  layout.f16 = ko.dtype == kv::KvDtype::kF16;
  gpu::GpuRopeParams rope;
  rope.head_dim = static_cast<int>(c.head_dim);
  rope.rope_dim = static_cast<int>(c.rope_dim);
  rope.theta = c.rope_theta;
  rope.linear_scale = c.rope_linear_scale;
  rope.neox = c.rope_type != model::RopeType::kNormal;
  rope.freq_factors = rope_freqs_;

  // Layer-wise KV streaming: an event after each layer's KV write; the host
  // waits for them in order once the whole pass is enqueued, so each
  // layer's callback (its transfer) runs while the device computes the
  // layers after it.
  const bool stream_layers = on_layer_kv != nullptr && *on_layer_kv;
  while (stream_layers &&
         static_cast<int64_t>(layer_events_.size()) < c.num_layers) {
    std::string error;
    layer_events_.push_back(gpu::GpuEvent::Create(&error));
    RETURN_IF_DEVICE_ERROR(error);
  }
  RETURN_IF_DEVICE_ERROR(gpu::GpuGetRows(token_embd_.type, token_embd_.data,
                                         dim, d_tokens, T, f(kX), s));
  for (int64_t li = 0; li < c.num_layers; ++li) {
    const DeviceLayer& l = layers_[li];
    RETURN_IF_DEVICE_ERROR(
        gpu::GpuRmsNorm(f(kX), l.attn_norm, T, dim, c.rms_eps, f(kXn), s));
    RETURN_IF_ERROR(MatMul(l.wq, f(kXn), T, f(kQ)));
    RETURN_IF_ERROR(MatMul(l.wk, f(kXn), T, f(kK)));
    RETURN_IF_ERROR(MatMul(l.wv, f(kXn), T, f(kV)));
    if (l.bq != nullptr) {
      RETURN_IF_DEVICE_ERROR(gpu::GpuAddBias(f(kQ), l.bq, T, q_dim, s));
    }
    if (l.bk != nullptr) {
      RETURN_IF_DEVICE_ERROR(gpu::GpuAddBias(f(kK), l.bk, T, kv_dim, s));
    }
    if (l.bv != nullptr) {
      RETURN_IF_DEVICE_ERROR(gpu::GpuAddBias(f(kV), l.bv, T, kv_dim, s));
    }
    RETURN_IF_DEVICE_ERROR(
        gpu::GpuRope(f(kQ), T, static_cast<int>(c.num_heads), d_pos, rope, s));
    RETURN_IF_DEVICE_ERROR(gpu::GpuRope(
        f(kK), T, static_cast<int>(c.num_kv_heads), d_pos, rope, s));
    RETURN_IF_DEVICE_ERROR(gpu::GpuWriteKv(kv_pool, layout,
                                           static_cast<int>(li), f(kK), f(kV),
                                           T, d_wblock, d_wslot, s));
    if (stream_layers) RETURN_IF_DEVICE_ERROR(layer_events_[li].Record(s));
    gpu::GpuAttentionBatch ab;
    ab.num_tokens = T;
    ab.num_heads = static_cast<int>(c.num_heads);
    ab.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    ab.q = f(kQ);
    ab.block_tables = d_tables;
    ab.table_begin = d_begin;
    ab.context_len = d_ctx;
    ab.out = f(kAtt);
    RETURN_IF_DEVICE_ERROR(
        gpu::GpuPagedAttention(kv_pool, layout, static_cast<int>(li), ab, s));
    RETURN_IF_ERROR(MatMul(l.wo, f(kAtt), T, f(kXn)));
    RETURN_IF_DEVICE_ERROR(gpu::GpuAdd(f(kX), f(kXn), T * dim, s));
    RETURN_IF_DEVICE_ERROR(
        gpu::GpuRmsNorm(f(kX), l.ffn_norm, T, dim, c.rms_eps, f(kXn), s));
    RETURN_IF_ERROR(MatMul(l.w_gate, f(kXn), T, f(kGate)));
    RETURN_IF_ERROR(MatMul(l.w_up, f(kXn), T, f(kUp)));
    RETURN_IF_DEVICE_ERROR(
        gpu::GpuSwiGlu(f(kGate), f(kUp), T * ffn, f(kGate), s));
    RETURN_IF_ERROR(MatMul(l.w_down, f(kGate), T, f(kXn)));
    RETURN_IF_DEVICE_ERROR(gpu::GpuAdd(f(kX), f(kXn), T * dim, s));
  }
  // The rows that need logits: gathered by an F32 row lookup, normed, and
  // multiplied by the output matrix; only those rows come back.
  RETURN_IF_DEVICE_ERROR(gpu::GpuGetRows(kernels::GgmlType::kF32, f(kX), dim,
                                         d_logit_rows, R, f(kRows), s));
  RETURN_IF_DEVICE_ERROR(
      gpu::GpuRmsNorm(f(kRows), output_norm_, R, dim, c.rms_eps, f(kRows), s));
  RETURN_IF_ERROR(MatMul(output_, f(kRows), R, f(kLogits)));
  if (stream_layers) {
    for (int64_t l = 0; l < c.num_layers; ++l) {
      RETURN_IF_DEVICE_ERROR(layer_events_[l].Synchronize());
      (*on_layer_kv)(l);
    }
  }
  std::vector<float> logits(static_cast<size_t>(R * c.vocab_size));
  RETURN_IF_DEVICE_ERROR(scratch_[kLogits].CopyToHost(
      logits.data(), logits.size() * sizeof(float), 0, s));
  return logits;
}

}  // namespace triptych::device
