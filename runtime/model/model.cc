#include "runtime/model/model.h"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/attention/attention.h"
#include "kernels/memory/quest.h"
#include "kernels/packed.h"
#include "kernels/quant.h"

namespace triptych::model {
namespace {

using kernels::GgmlType;

absl::StatusOr<Weight> GetWeight(const gguf::GgufFile& file,
                                 const std::string& name, int64_t cols,
                                 int64_t rows) {
  const gguf::TensorInfo* t = file.FindTensor(name);
  if (t == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("missing tensor ", name));
  }
  if (t->dims.size() != 2 || t->dims[0] != cols || t->dims[1] != rows) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor ", name, " has the wrong shape (expected ", cols, " x ", rows,
        ")"));
  }
  if (!kernels::IsSupported(t->type)) {
    return absl::UnimplementedError(absl::StrCat(
        "tensor ", name, " has unsupported type ",
        std::string(kernels::TypeName(t->type))));
  }
  Weight w;
  w.type = t->type;
  w.rows = rows;
  w.cols = cols;
  w.data = t->data;
  w.row_bytes = kernels::RowBytes(t->type, cols);
  return w;
}

// Reads a 1-D tensor of `n` elements as floats. Missing optional tensors give
// an empty vector.
absl::StatusOr<Vector> GetVector(const gguf::GgufFile& file,
                                 const std::string& name, int64_t n,
                                 bool optional = false) {
  const gguf::TensorInfo* t = file.FindTensor(name);
  if (t == nullptr) {
    if (optional) return Vector();
    return absl::InvalidArgumentError(absl::StrCat("missing tensor ", name));
  }
  if (t->num_elements != n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor ", name, " has ", t->num_elements, " elements, expected ", n));
  }
  if (t->type != GgmlType::kF32 && t->type != GgmlType::kF16 &&
      t->type != GgmlType::kBF16) {
    return absl::UnimplementedError(
        absl::StrCat("1-D tensor ", name, " must be F32, F16 or BF16"));
  }
  Vector v(n);
  kernels::DequantizeRow(t->type, t->data, v.data(), n);
  return v;
}

// llama.cpp's rms_norm: the mean of squares is summed in double.
void RmsNorm(const float* x, const float* weight, int64_t n, float eps,
             float* out) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float scale = 1.0f / std::sqrt(static_cast<float>(sum / n) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

// Scratch for one forward call; sized for the batch.
struct Scratch {
  std::vector<float> x, xn, q, k, v, att, gate, up, rope;
  std::vector<uint8_t> act;  // activations converted for the dot kernels
};

}  // namespace

Model::~Model() {
  if (arena_ != nullptr) munmap(arena_, arena_bytes_);
}

void Model::CopyWeightsToArena(bool pack) {
  std::vector<Weight*> weights;
  // Tied embeddings share the token table; copy it once.
  const bool tied = output_.data == token_embd_.data;
  weights.push_back(&token_embd_);
  if (!tied) weights.push_back(&output_);
  for (LayerWeights& l : layers_) {
    for (Weight* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      weights.push_back(w);
    }
  }
  // The embedding table is read by row (token lookup): never packed.
  auto packs = [&](const Weight* w) {
    return pack && w != &token_embd_ && kernels::UsePackedLayout(w->type);
  };
  auto bytes_of = [&](const Weight* w) {
    return static_cast<size_t>(packs(w) ? kernels::PackedBytes(w->type, w->rows, w->cols)
                                        : w->row_bytes * w->rows);
  };
  constexpr size_t kAlign = 64;
  size_t total = 0;
  for (const Weight* w : weights) total += (bytes_of(w) + kAlign - 1) / kAlign * kAlign;
  void* p = mmap(nullptr, total, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return;  // keep the file views; slower but correct
  madvise(p, total, MADV_HUGEPAGE);
  auto* dst = static_cast<uint8_t*>(p);
  for (Weight* w : weights) {
    const size_t bytes = bytes_of(w);
    if (packs(w)) {
      kernels::PackWeights(w->type, w->data, w->rows, w->cols, dst);
      w->packed = true;
    } else {
      std::memcpy(dst, w->data, bytes);
    }
    w->data = dst;
    dst += (bytes + kAlign - 1) / kAlign * kAlign;
  }
  if (tied) output_.data = token_embd_.data;
  arena_ = p;
  arena_bytes_ = total;
}

absl::StatusOr<std::unique_ptr<Model>> Model::Load(const gguf::GgufFile& file,
                                                   const LoadOptions& options) {
  auto model = std::unique_ptr<Model>(new Model());
  ASSIGN_OR_RETURN(model->config_, ConfigFromGguf(file));
  const ModelConfig& c = model->config_;
  const int64_t q_dim = c.num_heads * c.head_dim;
  const int64_t kv_dim = c.num_kv_heads * c.head_dim;
  ASSIGN_OR_RETURN(model->token_embd_,
                   GetWeight(file, "token_embd.weight", c.dim, c.vocab_size));
  if (file.FindTensor("output.weight") != nullptr) {
    ASSIGN_OR_RETURN(model->output_,
                     GetWeight(file, "output.weight", c.dim, c.vocab_size));
  } else {
    model->output_ = model->token_embd_;  // tied embeddings
  }
  ASSIGN_OR_RETURN(model->output_norm_,
                   GetVector(file, "output_norm.weight", c.dim));
  ASSIGN_OR_RETURN(model->rope_freq_factors_,
                   GetVector(file, "rope_freqs.weight", c.rope_dim / 2,
                             /*optional=*/true));
  model->layers_.resize(c.num_layers);
  for (int64_t i = 0; i < c.num_layers; ++i) {
    LayerWeights& l = model->layers_[i];
    const std::string p = absl::StrCat("blk.", i, ".");
    ASSIGN_OR_RETURN(l.attn_norm, GetVector(file, p + "attn_norm.weight", c.dim));
    ASSIGN_OR_RETURN(l.ffn_norm, GetVector(file, p + "ffn_norm.weight", c.dim));
    ASSIGN_OR_RETURN(l.wq, GetWeight(file, p + "attn_q.weight", c.dim, q_dim));
    ASSIGN_OR_RETURN(l.wk, GetWeight(file, p + "attn_k.weight", c.dim, kv_dim));
    ASSIGN_OR_RETURN(l.wv, GetWeight(file, p + "attn_v.weight", c.dim, kv_dim));
    ASSIGN_OR_RETURN(l.wo, GetWeight(file, p + "attn_output.weight", q_dim, c.dim));
    ASSIGN_OR_RETURN(l.bq, GetVector(file, p + "attn_q.bias", q_dim, true));
    ASSIGN_OR_RETURN(l.bk, GetVector(file, p + "attn_k.bias", kv_dim, true));
    ASSIGN_OR_RETURN(l.bv, GetVector(file, p + "attn_v.bias", kv_dim, true));
    ASSIGN_OR_RETURN(l.w_gate, GetWeight(file, p + "ffn_gate.weight", c.dim, c.ffn_dim));
    ASSIGN_OR_RETURN(l.w_up, GetWeight(file, p + "ffn_up.weight", c.dim, c.ffn_dim));
    ASSIGN_OR_RETURN(l.w_down, GetWeight(file, p + "ffn_down.weight", c.ffn_dim, c.dim));
  }
  if (options.huge_page_weights) model->CopyWeightsToArena(options.pack_weights);
  return model;
}

int64_t Model::WeightBytesPerToken() const {
  int64_t bytes = token_embd_.row_bytes + output_.row_bytes * output_.rows;
  for (const LayerWeights& l : layers_) {
    for (const Weight* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      bytes += w->row_bytes * w->rows;
    }
  }
  return bytes;
}

namespace {

// Matmul rows are split across the pool in multiples of this, so a range
// never starts inside an 8-row packed group and threads' output writes stay
// apart. (A dynamic split, chunks taken from a shared counter, measured no
// faster for decode: docs/BENCHMARKS.md, issue 15.)
constexpr int64_t kRowGrain = 16;

// The activations of x in w's dot type, converted once for all the matrices
// that read them: returns the rows' base and sets *stride.
const void* Activations(const Weight& w, const float* x, int64_t m,
                        std::vector<uint8_t>* act_buf, ThreadPool* pool,
                        int64_t* stride) {
  const GgmlType vdt = kernels::VecDotType(w.type);
  if (vdt == GgmlType::kF32) {
    *stride = w.cols * static_cast<int64_t>(sizeof(float));
    return x;
  }
  *stride = kernels::RowBytes(vdt, w.cols);
  act_buf->resize(*stride * m);
  uint8_t* dst = act_buf->data();
  const int64_t st = *stride;
  pool->ParallelFor(m, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      kernels::QuantizeRow(vdt, x + t * w.cols, dst + t * st, w.cols);
    }
  });
  return dst;
}

// y[t][rb, re) of w for the m rows of activations at act.
void MatMulRange(const Weight& w, const void* act, int64_t act_stride,
                 int64_t m, float* y, int64_t rb, int64_t re) {
  if (w.packed) {
    kernels::PackedMatMulRows(w.type, w.data, w.cols, rb, re, act, act_stride,
                              m, y, w.rows);
  } else {
    kernels::MatMulRows(w.type, w.data, w.cols, rb, re, act, act_stride, m, y,
                        w.rows);
  }
}

bool SameActivations(const Weight& a, const Weight& b) {
  return kernels::VecDotType(a.type) == kernels::VecDotType(b.type) &&
         a.cols == b.cols;
}

// Up to three matrices that read the same input (Q/K/V): the input is
// converted to their activation type once, and all their rows are split
// across the pool in one parallel section. Rows are counted in one space
// where each matrix starts on a multiple of 16.
struct MatMulOut {
  const Weight* w;
  float* y;  // m x w->rows
};

void MatMulShared(absl::Span<const MatMulOut> outs, const float* x, int64_t m,
                  std::vector<uint8_t>* act_buf, ThreadPool* pool) {
  const Weight& w0 = *outs[0].w;
  for (const MatMulOut& o : outs) {
    if (!SameActivations(*o.w, w0)) {
      for (const MatMulOut& one : outs) MatMulShared({&one, 1}, x, m, act_buf, pool);
      return;
    }
  }
  int64_t act_stride = 0;
  const void* act = Activations(w0, x, m, act_buf, pool, &act_stride);
  int64_t first[4] = {0};
  for (size_t i = 0; i < outs.size(); ++i) {
    first[i + 1] =
        first[i] + (outs[i].w->rows + kRowGrain - 1) / kRowGrain * kRowGrain;
  }
  pool->ParallelFor(first[outs.size()], kRowGrain, [&](int64_t b, int64_t e) {
    for (size_t i = 0; i < outs.size(); ++i) {
      const Weight& w = *outs[i].w;
      const int64_t rb = std::max(b, first[i]) - first[i];
      const int64_t re = std::min({e, first[i + 1], first[i] + w.rows}) - first[i];
      if (rb < re) MatMulRange(w, act, act_stride, m, outs[i].y, rb, re);
    }
  });
}

// y[m x w.rows] = x[m x w.cols] * w^T, rows split across the pool.
void MatMul(const Weight& w, const float* x, int64_t m, float* y,
            std::vector<uint8_t>* act_buf, ThreadPool* pool) {
  const MatMulOut out{&w, y};
  MatMulShared({&out, 1}, x, m, act_buf, pool);
}

// gate[t][i] = silu(x W_gate^T)[t][i] * (x W_up^T)[t][i]. For decode steps
// (fewer than kernels::kUnpackMinTokens tokens) each range of rows computes
// both matrices' rows and applies the SiLU product right away, so the FFN's
// first half is one parallel section (not two) and the product reads gate/up
// while they are in cache. Prefill keeps one kernel call per matrix and
// thread: its kernels prepare the activations once per call.
void GateUpSilu(const Weight& w_gate, const Weight& w_up, const float* x,
                int64_t m, float* gate, float* up,
                std::vector<uint8_t>* act_buf, ThreadPool* pool) {
  const int64_t n = w_gate.rows;
  auto silu = [&](int64_t rb, int64_t re) {
    for (int64_t t = 0; t < m; ++t) {
      for (int64_t i = rb; i < re; ++i) {
        const float g = gate[t * n + i];
        gate[t * n + i] = g / (1.0f + std::exp(-g)) * up[t * n + i];
      }
    }
  };
  if (m >= kernels::kUnpackMinTokens || !SameActivations(w_gate, w_up) ||
      w_up.rows != n) {
    const MatMulOut outs[] = {{&w_gate, gate}, {&w_up, up}};
    MatMulShared(outs, x, m, act_buf, pool);
    pool->ParallelFor(n, kRowGrain, silu);
    return;
  }
  int64_t act_stride = 0;
  const void* act = Activations(w_gate, x, m, act_buf, pool, &act_stride);
  pool->ParallelFor(n, kRowGrain, [&](int64_t rb, int64_t re) {
    MatMulRange(w_gate, act, act_stride, m, gate, rb, re);
    MatMulRange(w_up, act, act_stride, m, up, rb, re);
    silu(rb, re);
  });
}

void AddBias(float* x, const Vector& bias, int64_t m) {
  if (bias.empty()) return;
  const int64_t n = static_cast<int64_t>(bias.size());
  for (int64_t t = 0; t < m; ++t) {
    for (int64_t i = 0; i < n; ++i) x[t * n + i] += bias[i];
  }
}

}  // namespace

absl::StatusOr<std::vector<float>> Model::Forward(
    absl::Span<const SequenceBatch> batch, kv::KvCache* cache,
    ThreadPool* pool, const LayerKvDoneFn* on_layer_kv) const {
  const ModelConfig& c = config_;
  if (batch.empty()) return absl::InvalidArgumentError("empty batch");
  const kv::KvCacheOptions& ko = cache->options();
  if (ko.num_layers != c.num_layers || ko.num_kv_heads != c.num_kv_heads ||
      ko.head_dim != c.head_dim) {
    return absl::InvalidArgumentError("KV cache geometry does not match the model");
  }
  // Flatten the batch: token t belongs to seq_of[t] at position pos[t].
  std::vector<int32_t> tokens;
  std::vector<int64_t> pos;
  std::vector<int32_t> seq_of;
  std::vector<int64_t> logit_rows;  // flat token indices that need logits
  for (size_t s = 0; s < batch.size(); ++s) {
    const SequenceBatch& sb = batch[s];
    if (sb.tokens.empty() || sb.kv == nullptr || sb.start_pos < 0) {
      return absl::InvalidArgumentError("sequence with no tokens or no KV");
    }
    const int64_t end = sb.start_pos + static_cast<int64_t>(sb.tokens.size());
    if (static_cast<int64_t>(sb.kv->blocks().size()) * ko.block_size < end) {
      return absl::InvalidArgumentError("KV blocks not reserved for the batch");
    }
    for (size_t i = 0; i < sb.tokens.size(); ++i) {
      if (sb.tokens[i] < 0 || sb.tokens[i] >= c.vocab_size) {
        return absl::InvalidArgumentError(
            absl::StrCat("token id ", sb.tokens[i], " out of range"));
      }
      if (sb.all_logits || i + 1 == sb.tokens.size()) {
        logit_rows.push_back(static_cast<int64_t>(tokens.size()));
      }
      tokens.push_back(sb.tokens[i]);
      pos.push_back(sb.start_pos + static_cast<int64_t>(i));
      seq_of.push_back(static_cast<int32_t>(s));
    }
  }
  const int64_t T = static_cast<int64_t>(tokens.size());
  const int64_t dim = c.dim, hd = c.head_dim, nh = c.num_heads,
                nkv = c.num_kv_heads, q_dim = nh * hd, kv_dim = nkv * hd;
  const int64_t half = c.rope_dim / 2;

  Scratch s;
  s.x.resize(T * dim);
  s.xn.resize(T * std::max(dim, q_dim));
  s.q.resize(T * q_dim);
  s.k.resize(T * kv_dim);
  s.v.resize(T * kv_dim);
  s.att.resize(T * q_dim);
  s.gate.resize(T * c.ffn_dim);
  s.up.resize(T * c.ffn_dim);

  pool->ParallelFor(T, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      kernels::DequantizeRow(token_embd_.type,
                             token_embd_.data + tokens[t] * token_embd_.row_bytes,
                             s.x.data() + t * dim, dim);
    }
  });

  // cos/sin per token and rotated pair, computed as llama.cpp does: the
  // angle is multiplied by theta_scale pair after pair (not powf per pair),
  // which matters for bit-level agreement with reference outputs.
  s.rope.resize(T * half * 2);
  const float theta_scale = std::pow(c.rope_theta, -2.0f / c.rope_dim);
  for (int64_t t = 0; t < T; ++t) {
    float theta = static_cast<float>(pos[t]) / c.rope_linear_scale;
    for (int64_t i = 0; i < half; ++i) {
      const float ff = rope_freq_factors_.empty() ? 1.0f : rope_freq_factors_[i];
      s.rope[(t * half + i) * 2] = std::cos(theta / ff);
      s.rope[(t * half + i) * 2 + 1] = std::sin(theta / ff);
      theta *= theta_scale;
    }
  }
  auto apply_rope = [&](float* x, int64_t t, int64_t heads) {
    const float* cs = s.rope.data() + t * half * 2;
    for (int64_t h = 0; h < heads; ++h) {
      float* v = x + h * hd;
      for (int64_t i = 0; i < half; ++i) {
        const int64_t a = c.rope_type == RopeType::kNormal ? 2 * i : i;
        const int64_t b = c.rope_type == RopeType::kNormal ? 2 * i + 1 : i + half;
        const float x0 = v[a], x1 = v[b];
        v[a] = x0 * cs[2 * i] - x1 * cs[2 * i + 1];
        v[b] = x0 * cs[2 * i + 1] + x1 * cs[2 * i];
      }
    }
  };

  const bool kv_f16 = ko.dtype == kv::KvDtype::kF16;
  const GgmlType kv_type = kv_f16 ? GgmlType::kF16 : GgmlType::kF32;
  const int64_t kv_elem = kv_f16 ? 2 : 4;
  const float attn_scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int64_t group = nh / nkv;
  const int64_t bs = ko.block_size;
  // KV-head ranges per token for attention: one (all heads) when there are
  // enough tokens to keep the threads busy, else one per thread, and never
  // more heads per range than the kernel takes.
  const int64_t head_ranges = std::min<int64_t>(
      nkv, std::max<int64_t>(
               (nkv + kernels::attention::kMaxKvHeadsPerCall - 1) /
                   kernels::attention::kMaxKvHeadsPerCall,
               T >= pool->num_threads() ? 1 : pool->num_threads()));

  // Sparse attention applies to decode steps (one new token) of sequences
  // that ask for it, when the cache keeps key summaries. Summaries of the
  // full blocks it will score are made here if missing (blocks written by a
  // remote prefill or imported); blocks filled by this model were summarised
  // when they became full (end of Forward).
  std::vector<bool> sparse_seq(batch.size(), false);
  for (size_t si = 0; si < batch.size(); ++si) {
    const SequenceBatch& sb = batch[si];
    if (!sb.sparse.enabled() || sb.tokens.size() != 1 ||
        !cache->has_key_summaries() || sb.sparse.dense_layers >= c.num_layers ||
        sb.start_pos + 1 <= sb.sparse.budget_tokens) {
      continue;
    }
    sparse_seq[si] = true;
    const int64_t nfull = sb.start_pos / bs;
    for (int64_t bi = 0; bi < nfull; ++bi) {
      const kv::BlockId blk = sb.kv->blocks()[bi];
      if (!cache->KeySummaryReady(blk)) cache->SummarizeKeys(blk);
    }
  }

  for (int64_t li = 0; li < c.num_layers; ++li) {
    const LayerWeights& l = layers_[li];
    pool->ParallelFor(T, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        RmsNorm(s.x.data() + t * dim, l.attn_norm.data(), dim, c.rms_eps,
                s.xn.data() + t * dim);
      }
    });
    const MatMulOut qkv[] = {{&l.wq, s.q.data()}, {&l.wk, s.k.data()}, {&l.wv, s.v.data()}};
    MatMulShared(qkv, s.xn.data(), T, &s.act, pool);
    AddBias(s.q.data(), l.bq, T);
    AddBias(s.k.data(), l.bk, T);
    AddBias(s.v.data(), l.bv, T);

    // RoPE, then write this layer's K and V of every new token to its slot.
    pool->ParallelFor(T, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        apply_rope(s.q.data() + t * q_dim, t, nh);
        apply_rope(s.k.data() + t * kv_dim, t, nkv);
        const kv::SequenceKv* skv = batch[seq_of[t]].kv;
        const kv::BlockId blk = skv->BlockOf(pos[t]);
        const int slot = skv->SlotOf(pos[t]);
        kernels::QuantizeRow(kv_type, s.k.data() + t * kv_dim,
                             cache->KeyPtr(blk, static_cast<int>(li), slot), kv_dim);
        kernels::QuantizeRow(kv_type, s.v.data() + t * kv_dim,
                             cache->ValuePtr(blk, static_cast<int>(li), slot), kv_dim);
      }
    });
    if (on_layer_kv != nullptr && *on_layer_kv) (*on_layer_kv)(li);

    // Attention, one work item per (token, range of KV heads): the fused
    // kernel scores each KV head's query-head group over the KV rows read
    // in place, block by block (kernels/attention), all heads of the range
    // in one pass over each row (a cache row interleaves the KV heads, so
    // splitting them across items would re-read the same lines). Decode
    // splits the KV heads across the pool's threads. Sparse decode steps
    // give each KV head only the blocks its Quest scores chose
    // (sparse_attention.h), as a per-block head mask.
    pool->ParallelFor(T * head_ranges, 1, [&](int64_t b, int64_t e) {
      kernels::attention::AttentionScratch scratch;
      std::vector<kernels::attention::KvRun> runs;
      std::vector<float> mins, maxs, block_scores;
      std::vector<uint32_t> masks;
      for (int64_t item = b; item < e; ++item) {
        const int64_t t = item / head_ranges, range = item % head_ranges;
        const int64_t g0 = nkv * range / head_ranges;
        const int64_t g1 = nkv * (range + 1) / head_ranges;
        const SequenceBatch& sb = batch[seq_of[t]];
        const kv::SequenceKv* skv = sb.kv;
        const int64_t n_ctx = pos[t] + 1;
        const int64_t nb = (n_ctx + bs - 1) / bs;
        const int32_t last_rows = static_cast<int32_t>(n_ctx - (nb - 1) * bs);
        const float* q = s.q.data() + t * q_dim + g0 * group * hd;
        masks.assign(nb, g1 - g0 == 32 ? ~0u : (1u << (g1 - g0)) - 1);
        if (sparse_seq[seq_of[t]] && li >= sb.sparse.dense_layers &&
            n_ctx > sb.sparse.budget_tokens) {
          // Relevancy of each full block before the current one, per KV head.
          const int64_t nfull = nb - 1;
          mins.resize(nfull * hd);
          maxs.resize(nfull * hd);
          block_scores.resize(nfull);
          std::fill(masks.begin(), masks.end(), 0u);
          for (int64_t g = g0; g < g1; ++g) {
            for (int64_t bi = 0; bi < nfull; ++bi) {
              const kv::BlockId blk = skv->blocks()[bi];
              const float* mn = cache->KeyMins(blk, static_cast<int>(li)) + g * hd;
              const float* mx = cache->KeyMaxs(blk, static_cast<int>(li)) + g * hd;
              std::copy(mn, mn + hd, mins.data() + bi * hd);
              std::copy(mx, mx + hd, maxs.data() + bi * hd);
            }
            kernels::memory::QuestScores(s.q.data() + t * q_dim + g * group * hd,
                                         static_cast<int>(group), static_cast<int>(hd),
                                         mins.data(), maxs.data(), nfull,
                                         block_scores.data());
            for (int32_t bi : SelectSparseBlocks(block_scores, static_cast<int>(bs),
                                                 last_rows, sb.sparse)) {
              masks[bi] |= 1u << (g - g0);
            }
          }
        }
        runs.clear();
        const int64_t off = g0 * hd * kv_elem;
        for (int64_t bi = 0; bi < nb; ++bi) {
          if (masks[bi] == 0) continue;
          const kv::BlockId blk = skv->blocks()[bi];
          runs.push_back(
              {static_cast<const uint8_t*>(cache->KeyPtr(blk, static_cast<int>(li), 0)) + off,
               static_cast<const uint8_t*>(cache->ValuePtr(blk, static_cast<int>(li), 0)) + off,
               bi + 1 == nb ? last_rows : static_cast<int32_t>(bs), masks[bi]});
        }
        kernels::attention::AttentionShape shape;
        shape.num_kv_heads = static_cast<int>(g1 - g0);
        shape.num_heads = static_cast<int>(group);
        shape.head_dim = static_cast<int>(hd);
        shape.row_stride = kv_dim;
        shape.elem = kv_f16 ? kernels::attention::KvElem::kF16
                            : kernels::attention::KvElem::kF32;
        shape.scale = attn_scale;
        kernels::attention::AttendOneQuery(shape, q, runs,
                                           s.att.data() + t * q_dim + g0 * group * hd,
                                           &scratch);
      }
    });

    MatMul(l.wo, s.att.data(), T, s.xn.data(), &s.act, pool);
    for (int64_t i = 0; i < T * dim; ++i) s.x[i] += s.xn[i];

    pool->ParallelFor(T, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        RmsNorm(s.x.data() + t * dim, l.ffn_norm.data(), dim, c.rms_eps,
                s.xn.data() + t * dim);
      }
    });
    GateUpSilu(l.w_gate, l.w_up, s.xn.data(), T, s.gate.data(), s.up.data(),
               &s.act, pool);
    MatMul(l.w_down, s.gate.data(), T, s.xn.data(), &s.act, pool);
    for (int64_t i = 0; i < T * dim; ++i) s.x[i] += s.xn[i];
  }

  // Prepare Memory: summarise the keys of every block this batch filled.
  if (cache->has_key_summaries()) {
    std::vector<kv::BlockId> filled;
    for (int64_t t = 0; t < T; ++t) {
      const kv::SequenceKv* skv = batch[seq_of[t]].kv;
      if (skv->SlotOf(pos[t]) == bs - 1) filled.push_back(skv->BlockOf(pos[t]));
    }
    std::sort(filled.begin(), filled.end());
    filled.erase(std::unique(filled.begin(), filled.end()), filled.end());
    pool->ParallelFor(static_cast<int64_t>(filled.size()), 1,
                      [&](int64_t b, int64_t e) {
                        for (int64_t i = b; i < e; ++i) cache->SummarizeKeys(filled[i]);
                      });
  }

  const int64_t R = static_cast<int64_t>(logit_rows.size());
  std::vector<float> normed(R * dim);
  for (int64_t r = 0; r < R; ++r) {
    RmsNorm(s.x.data() + logit_rows[r] * dim, output_norm_.data(), dim,
            c.rms_eps, normed.data() + r * dim);
  }
  std::vector<float> logits(R * c.vocab_size);
  MatMul(output_, normed.data(), R, logits.data(), &s.act, pool);
  return logits;
}

}  // namespace triptych::model
