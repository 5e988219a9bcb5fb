#include "kernels/memory/memory_backend.h"

#include <cmath>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"

namespace triptych::kernels::memory {

std::string_view MemoryBackendKindName(MemoryBackendKind kind) {
  switch (kind) {
    case MemoryBackendKind::kCpu:
      return "cpu";
    case MemoryBackendKind::kFpga:
      return "fpga";
    case MemoryBackendKind::kHip:
      return "hip";
  }
  return "unknown";
}

absl::StatusOr<MemoryBackendKind> ParseMemoryBackendKind(std::string_view name) {
  if (name == "cpu") return MemoryBackendKind::kCpu;
  if (name == "fpga") return MemoryBackendKind::kFpga;
  if (name == "hip") return MemoryBackendKind::kHip;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown memory backend '", std::string(name),
                   "' (expected cpu, fpga or hip)"));
}

absl::Status ValidateQuestInput(const QuestInput& in) {
  if (in.head_dim <= 0 || in.num_heads <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("quest: head_dim (", in.head_dim, ") and num_heads (",
                     in.num_heads, ") must be positive"));
  }
  if (static_cast<int64_t>(in.query.size()) !=
      int64_t{in.num_heads} * in.head_dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("quest: query has ", in.query.size(),
                     " floats, expected num_heads * head_dim = ",
                     int64_t{in.num_heads} * in.head_dim));
  }
  if (in.mins.size() != in.maxs.size() || in.mins.size() % in.head_dim != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "quest: mins (", in.mins.size(), ") and maxs (", in.maxs.size(),
        ") must have the same size, a multiple of head_dim ", in.head_dim));
  }
  if (in.num_blocks() > INT32_MAX) {
    return absl::InvalidArgumentError("quest: more than 2^31 blocks");
  }
  return absl::OkStatus();
}

absl::Status ValidateBm25Input(const Bm25Input& in) {
  const int64_t n = static_cast<int64_t>(in.doc_lengths.size());
  if (n > INT32_MAX) return absl::InvalidArgumentError("bm25: too many docs");
  if (!(in.avg_doc_length > 0.0f) || !std::isfinite(in.avg_doc_length)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bm25: avg_doc_length must be positive, got ",
                     in.avg_doc_length));
  }
  if (!(in.params.k1 >= 0.0f) || !(in.params.b >= 0.0f && in.params.b <= 1.0f)) {
    return absl::InvalidArgumentError("bm25: need k1 >= 0 and 0 <= b <= 1");
  }
  const Bm25Postings& p = in.postings;
  if (p.doc_ids.size() != p.term_freqs.size()) {
    return absl::InvalidArgumentError(
        "bm25: doc_ids and term_freqs differ in size");
  }
  if (p.term_offsets.empty()) {
    if (!p.doc_ids.empty()) {
      return absl::InvalidArgumentError("bm25: postings without term_offsets");
    }
    return absl::OkStatus();
  }
  if (p.term_offsets.front() != 0 ||
      p.term_offsets.back() != static_cast<int64_t>(p.doc_ids.size())) {
    return absl::InvalidArgumentError(
        "bm25: term_offsets must start at 0 and end at the posting count");
  }
  for (int t = 0; t < p.num_terms(); ++t) {
    const int64_t begin = p.term_offsets[t], end = p.term_offsets[t + 1];
    if (end < begin) {
      return absl::InvalidArgumentError(
          absl::StrCat("bm25: term_offsets decrease at term ", t));
    }
    for (int64_t i = begin; i < end; ++i) {
      const int32_t d = p.doc_ids[i];
      if (d < 0 || d >= n) {
        return absl::InvalidArgumentError(absl::StrCat(
            "bm25: doc id ", d, " out of range [0, ", n, ") in term ", t));
      }
      if (i > begin && d <= p.doc_ids[i - 1]) {
        return absl::InvalidArgumentError(absl::StrCat(
            "bm25: posting list of term ", t, " is not strictly increasing"));
      }
      if (p.term_freqs[i] == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("bm25: zero term frequency in term ", t));
      }
    }
  }
  for (int32_t len : in.doc_lengths) {
    if (len < 0) return absl::InvalidArgumentError("bm25: negative doc length");
  }
  return absl::OkStatus();
}

absl::Status ValidateDenseInput(const DenseInput& in) {
  if (in.dim <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("dense: dim must be positive, got ", in.dim));
  }
  if (static_cast<int64_t>(in.query.size()) != in.dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("dense: query has ", in.query.size(),
                     " floats, collection dimension is ", in.dim));
  }
  if (in.docs.size() % in.dim != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("dense: docs size ", in.docs.size(),
                     " is not a multiple of dim ", in.dim));
  }
  if (in.num_docs() > INT32_MAX) {
    return absl::InvalidArgumentError("dense: more than 2^31 docs");
  }
  return absl::OkStatus();
}

absl::Status ValidateKeyBlockInput(const KeyBlockInput& in) {
  const KvBlockShape& s = in.shape;
  if (s.num_layers <= 0 || s.num_kv_heads <= 0 || s.head_dim <= 0 ||
      s.block_tokens <= 0) {
    return absl::InvalidArgumentError("key summary: non-positive block shape");
  }
  if (static_cast<int64_t>(in.block.size()) != KvBlockBytes(s)) {
    return absl::InvalidArgumentError(
        absl::StrCat("key summary: block has ", in.block.size(),
                     " bytes, shape needs ", KvBlockBytes(s)));
  }
  if (in.num_tokens < 1 || in.num_tokens > s.block_tokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("key summary: num_tokens ", in.num_tokens,
                     " outside [1, ", s.block_tokens, "]"));
  }
  return absl::OkStatus();
}

}  // namespace triptych::kernels::memory
