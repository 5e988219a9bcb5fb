#include "tools/gen_model/gen_model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/thread_pool.h"
#include "kernels/quant.h"
#include "runtime/gguf/file_type.h"
#include "runtime/gguf/gguf_reader.h"
#include "runtime/gguf/gguf_writer.h"

namespace triptych::tools {
namespace {

using kernels::GgmlType;

absl::string_view Av(std::string_view s) { return {s.data(), s.size()}; }

// SentencePiece token types (llama.cpp's llama_token_type).
constexpr int32_t kTokenNormal = 1;
constexpr int32_t kTokenUnknown = 2;
constexpr int32_t kTokenControl = 3;
constexpr int32_t kTokenByte = 6;

constexpr int64_t kMinSyntheticVocab = 3 + 256 + 1;
constexpr int64_t kBankBlocks = 4096;
// RowRng tensor index reserved for the block bank.
constexpr uint64_t kBankStream = ~uint64_t{0};

uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// splitmix64: fast, and good enough for random weights. One stream per
// (seed, tensor, row) so the output does not depend on the thread split.
class RowRng {
 public:
  RowRng(uint64_t seed, uint64_t tensor, uint64_t row)
      : state_(Mix64(seed ^ Mix64(tensor * 0x9e3779b97f4a7c15ull + 1) ^
                     Mix64(row + 0x632be59bd9b4e019ull))) {}

  uint64_t Next() {
    state_ += 0x9e3779b97f4a7c15ull;
    return Mix64(state_);
  }

  // Approximately N(0, std^2): the sum of four 16-bit uniforms
  // (Irwin-Hall, n = 4) scaled to unit variance. Tails end at ~3.5 std,
  // which is fine for weights.
  void FillNormal(float* out, int64_t n, float std) {
    const float scale = std * std::sqrt(3.0f) / 65536.0f;
    for (int64_t i = 0; i < n; ++i) {
      const uint64_t r = Next();
      const int64_t s = static_cast<int64_t>(r & 0xffff) +
                        static_cast<int64_t>((r >> 16) & 0xffff) +
                        static_cast<int64_t>((r >> 32) & 0xffff) +
                        static_cast<int64_t>(r >> 48) - 2 * 65535;
      out[i] = static_cast<float>(s) * scale;
    }
  }

 private:
  uint64_t state_;
};

absl::Status Validate(const GenModelOptions& o) {
  auto bad = [](std::string msg) { return absl::InvalidArgumentError(msg); };
  if (o.out.empty()) return bad("gen_model: no output path");
  for (auto [name, v] : {std::pair<const char*, int64_t>{"dim", o.dim},
                         {"layers", o.layers},
                         {"heads", o.heads},
                         {"kv_heads", o.kv_heads},
                         {"ffn", o.ffn},
                         {"ctx", o.ctx}}) {
    if (v <= 0 || v > (int64_t{1} << 31)) {
      return bad(
          absl::StrCat("gen_model: ", name, " = ", v, " must be in [1, 2^31]"));
    }
  }
  if (o.dim % o.heads != 0) {
    return bad(absl::StrCat("gen_model: dim ", o.dim,
                            " is not a multiple of heads ", o.heads));
  }
  if (o.heads % o.kv_heads != 0) {
    return bad(absl::StrCat("gen_model: heads ", o.heads,
                            " is not a multiple of kv_heads ", o.kv_heads));
  }
  if ((o.dim / o.heads) % 2 != 0) {
    return bad(absl::StrCat("gen_model: head size ", o.dim / o.heads,
                            " must be even for RoPE"));
  }
  if (!kernels::IsSupported(o.type)) {
    return bad(absl::StrCat("gen_model: unsupported weight type ",
                            Av(kernels::TypeName(o.type))));
  }
  const int64_t block =
      kernels::GetTypeTraits(static_cast<uint32_t>(o.type))->block_elems;
  if (o.dim % block != 0 || o.ffn % block != 0) {
    return bad(absl::StrCat("gen_model: ", Av(kernels::TypeName(o.type)),
                            " needs dim and ffn to be multiples of ", block,
                            " (dim ", o.dim, ", ffn ", o.ffn, ")"));
  }
  if (!(o.weight_std >= 0.0f) || !std::isfinite(o.rope_theta) ||
      !(o.rms_eps > 0.0f)) {
    return bad(
        "gen_model: weight_std, rope_theta and rms_eps must be finite "
        "(rms_eps > 0)");
  }
  return absl::OkStatus();
}

// Copies tokenizer.* from `path` into `w`; returns the vocab size.
absl::StatusOr<int64_t> CopyVocab(const std::string& path,
                                  gguf::GgufWriter* w) {
  ASSIGN_OR_RETURN(auto src, gguf::GgufFile::Open(path));
  auto tokens = src->GetStringArray("tokenizer.ggml.tokens");
  if (!tokens.has_value() || tokens->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": no tokenizer.ggml.tokens string array to copy"));
  }
  for (const auto& [key, value] : src->metadata()) {
    if (key.rfind("tokenizer.", 0) == 0) {
      RETURN_IF_ERROR(w->SetValue(key, value));
    }
  }
  return static_cast<int64_t>(tokens->size());
}

}  // namespace

absl::StatusOr<GenModelOptions> PresetOptions(std::string_view preset) {
  GenModelOptions o;
  if (preset == "tinyllama-1.1b") {
    o.dim = 2048;
    o.layers = 22;
    o.heads = 32;
    o.kv_heads = 4;
    o.ffn = 5632;
    o.vocab = 32000;
    o.ctx = 2048;
    o.name = "tinyllama-1.1b-random";
    return o;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown preset '", Av(preset),
                                                 "' (known: tinyllama-1.1b)"));
}

absl::StatusOr<SyntheticVocab> MakeSyntheticVocab(int64_t size) {
  if (size < kMinSyntheticVocab || size > (int64_t{1} << 24)) {
    return absl::InvalidArgumentError(
        absl::StrCat("synthetic vocab size ", size, " must be in [",
                     kMinSyntheticVocab, ", 2^24]"));
  }
  SyntheticVocab v;
  v.tokens.reserve(size);
  v.scores.reserve(size);
  v.token_types.reserve(size);
  auto add = [&v](std::string piece, float score, int32_t type) {
    v.tokens.push_back(std::move(piece));
    v.scores.push_back(score);
    v.token_types.push_back(type);
  };
  add("<unk>", 0.0f, kTokenUnknown);
  add("<s>", 0.0f, kTokenControl);
  add("</s>", 0.0f, kTokenControl);
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
    add(hex, 0.0f, kTokenByte);
  }
  // Normal pieces: "▁" then every letter string of length 1, 2, ... with
  // and without the word-start marker. Every piece's prefixes come first, so
  // SentencePiece merges can reach all of them.
  static constexpr std::string_view kLetters =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  static constexpr std::string_view kWordStart = "\xe2\x96\x81";  // U+2581
  float score = -1.0f;
  auto add_normal = [&](std::string piece) {
    if (static_cast<int64_t>(v.tokens.size()) < size) {
      add(std::move(piece), score, kTokenNormal);
      score -= 1.0f;
    }
  };
  add_normal(std::string(kWordStart));
  std::vector<size_t> digits;  // a counter in base 52
  for (size_t len = 1; static_cast<int64_t>(v.tokens.size()) < size; ++len) {
    digits.assign(len, 0);
    while (static_cast<int64_t>(v.tokens.size()) < size) {
      std::string word;
      for (size_t d : digits) word.push_back(kLetters[d]);
      add_normal(absl::StrCat(Av(kWordStart), word));
      add_normal(word);
      size_t i = len;
      while (i > 0 && ++digits[i - 1] == kLetters.size()) {
        digits[i - 1] = 0;
        --i;
      }
      if (i == 0) break;  // all strings of this length done
    }
  }
  return v;
}

absl::Status WriteRandomLlama(const GenModelOptions& options) {
  RETURN_IF_ERROR(Validate(options));
  const GenModelOptions& o = options;
  const int64_t head_dim = o.dim / o.heads;
  const int64_t kv_dim = head_dim * o.kv_heads;

  gguf::GgufWriter w;
  w.SetString("general.architecture", "llama");
  w.SetString("general.name", o.name);
  w.SetUint32("general.file_type", *gguf::LlamaFileType(o.type));
  if (o.type != GgmlType::kF32 && o.type != GgmlType::kF16 &&
      o.type != GgmlType::kBF16) {
    w.SetUint32("general.quantization_version", 2);
  }
  w.SetUint32("llama.context_length", static_cast<uint32_t>(o.ctx));
  w.SetUint32("llama.embedding_length", static_cast<uint32_t>(o.dim));
  w.SetUint32("llama.block_count", static_cast<uint32_t>(o.layers));
  w.SetUint32("llama.feed_forward_length", static_cast<uint32_t>(o.ffn));
  w.SetUint32("llama.attention.head_count", static_cast<uint32_t>(o.heads));
  w.SetUint32("llama.attention.head_count_kv",
              static_cast<uint32_t>(o.kv_heads));
  w.SetUint32("llama.rope.dimension_count", static_cast<uint32_t>(head_dim));
  w.SetFloat32("llama.rope.freq_base", o.rope_theta);
  w.SetFloat32("llama.attention.layer_norm_rms_epsilon", o.rms_eps);

  int64_t vocab = o.vocab;
  if (!o.vocab_from.empty()) {
    ASSIGN_OR_RETURN(vocab, CopyVocab(o.vocab_from, &w));
  } else {
    ASSIGN_OR_RETURN(SyntheticVocab v, MakeSyntheticVocab(o.vocab));
    w.SetString("tokenizer.ggml.model", "llama");
    w.SetStringArray("tokenizer.ggml.tokens", v.tokens);
    w.SetFloat32Array("tokenizer.ggml.scores", v.scores);
    w.SetInt32Array("tokenizer.ggml.token_type", v.token_types);
    w.SetUint32("tokenizer.ggml.unknown_token_id", 0);
    w.SetUint32("tokenizer.ggml.bos_token_id", 1);
    w.SetUint32("tokenizer.ggml.eos_token_id", 2);
    w.SetBool("tokenizer.ggml.add_bos_token", true);
    w.SetBool("tokenizer.ggml.add_eos_token", false);
  }
  if (!o.chat_template.empty()) w.SetString("tokenizer.chat_template", o.chat_template);
  w.SetUint32("llama.vocab_size", static_cast<uint32_t>(vocab));

  const int threads =
      o.num_threads > 0
          ? o.num_threads
          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  auto pool = std::make_shared<ThreadPool>(threads);

  // Block bank for the slow K types (see GenModelOptions::fast_k_quant).
  auto bank = std::make_shared<std::string>();
  const auto traits = *kernels::GetTypeTraits(static_cast<uint32_t>(o.type));
  if (o.fast_k_quant && traits.block_elems == 256) {
    bank->resize(static_cast<size_t>(kBankBlocks * traits.block_bytes));
    pool->ParallelFor(kBankBlocks, 1, [&](int64_t begin, int64_t end) {
      std::vector<float> block(static_cast<size_t>(traits.block_elems));
      for (int64_t b = begin; b < end; ++b) {
        RowRng rng(o.seed, kBankStream, static_cast<uint64_t>(b));
        rng.FillNormal(block.data(), traits.block_elems, o.weight_std);
        kernels::QuantizeRow(o.type, block.data(),
                             bank->data() + b * traits.block_bytes,
                             traits.block_elems);
      }
    });
  }

  uint64_t tensor_index = 0;
  auto add_norm = [&](std::string name) -> absl::Status {
    const int64_t n = o.dim;
    return w.AddTensor(std::move(name), {n}, GgmlType::kF32,
                       [n](absl::Span<uint8_t> out) {
                         const float one = 1.0f;
                         for (int64_t i = 0; i < n; ++i) {
                           std::memcpy(out.data() + 4 * i, &one, 4);
                         }
                         return absl::OkStatus();
                       });
  };
  auto add_weight = [&](std::string name, int64_t cols,
                        int64_t rows) -> absl::Status {
    const uint64_t index = tensor_index++;
    const GgmlType type = o.type;
    const uint64_t seed = o.seed;
    const float std = o.weight_std;
    return w.AddTensor(
        std::move(name), {cols, rows}, type, [=](absl::Span<uint8_t> out) {
          const int64_t rb = kernels::RowBytes(type, cols);
          if (!bank->empty()) {
            const int64_t bb = traits.block_bytes;
            const int64_t blocks = cols / traits.block_elems;
            pool->ParallelFor(rows, 1, [&](int64_t begin, int64_t end) {
              for (int64_t r = begin; r < end; ++r) {
                RowRng rng(seed, index, static_cast<uint64_t>(r));
                uint8_t* dst = out.data() + r * rb;
                for (int64_t b = 0; b < blocks; ++b) {
                  const uint64_t pick = (rng.Next() >> 32) % kBankBlocks;
                  std::memcpy(dst + b * bb, bank->data() + pick * bb,
                              static_cast<size_t>(bb));
                }
              }
            });
            return absl::OkStatus();
          }
          pool->ParallelFor(rows, 1, [&](int64_t begin, int64_t end) {
            std::vector<float> row(static_cast<size_t>(cols));
            for (int64_t r = begin; r < end; ++r) {
              RowRng rng(seed, index, static_cast<uint64_t>(r));
              rng.FillNormal(row.data(), cols, std);
              kernels::QuantizeRow(type, row.data(), out.data() + r * rb, cols);
            }
          });
          return absl::OkStatus();
        });
  };

  // Tensor order as llama.cpp's converter writes it.
  RETURN_IF_ERROR(add_weight("token_embd.weight", o.dim, vocab));
  RETURN_IF_ERROR(add_norm("output_norm.weight"));
  RETURN_IF_ERROR(add_weight("output.weight", o.dim, vocab));
  for (int64_t l = 0; l < o.layers; ++l) {
    const std::string p = absl::StrCat("blk.", l, ".");
    RETURN_IF_ERROR(add_norm(p + "attn_norm.weight"));
    RETURN_IF_ERROR(add_weight(p + "attn_q.weight", o.dim, o.dim));
    RETURN_IF_ERROR(add_weight(p + "attn_k.weight", o.dim, kv_dim));
    RETURN_IF_ERROR(add_weight(p + "attn_v.weight", o.dim, kv_dim));
    RETURN_IF_ERROR(add_weight(p + "attn_output.weight", o.dim, o.dim));
    RETURN_IF_ERROR(add_norm(p + "ffn_norm.weight"));
    RETURN_IF_ERROR(add_weight(p + "ffn_gate.weight", o.dim, o.ffn));
    RETURN_IF_ERROR(add_weight(p + "ffn_up.weight", o.dim, o.ffn));
    RETURN_IF_ERROR(add_weight(p + "ffn_down.weight", o.ffn, o.dim));
  }
  return w.WriteFile(o.out);
}

}  // namespace triptych::tools
