#include "tools/quantize/quantize.h"

#include <algorithm>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/thread_pool.h"
#include "kernels/quant.h"
#include "runtime/gguf/file_type.h"
#include "runtime/gguf/gguf_writer.h"

namespace triptych::tools {
namespace {

using kernels::GgmlType;

absl::string_view Av(std::string_view s) { return {s.data(), s.size()}; }

bool IsFloatType(GgmlType t) {
  return t == GgmlType::kF32 || t == GgmlType::kF16 || t == GgmlType::kBF16;
}

int64_t BlockElems(GgmlType t) {
  return kernels::GetTypeTraits(static_cast<uint32_t>(t))->block_elems;
}

}  // namespace

GgmlType ChooseTensorType(const gguf::TensorInfo& tensor, GgmlType target,
                          std::string* note) {
  std::string why;
  GgmlType chosen = target;
  const int64_t row = tensor.dims.empty() ? 0 : tensor.dims[0];
  if (!IsFloatType(tensor.type)) {
    chosen = tensor.type;
    why = absl::StrCat("already ", Av(kernels::TypeName(tensor.type)),
                       "; copied unchanged");
  } else if (tensor.dims.size() < 2) {
    chosen = GgmlType::kF32;  // norms and biases stay exact
  } else if (row % BlockElems(target) != 0) {
    if (BlockElems(target) == 256 && row % 32 == 0) {
      chosen = GgmlType::kQ8_0;
    } else {
      chosen = GgmlType::kF16;
    }
    why = absl::StrCat("row length ", row, " is not a multiple of the ",
                       Av(kernels::TypeName(target)), " block size ",
                       BlockElems(target), "; using ",
                       Av(kernels::TypeName(chosen)));
  }
  if (note != nullptr) *note = std::move(why);
  return chosen;
}

absl::StatusOr<std::vector<TensorConversion>> QuantizeGguf(
    const QuantizeOptions& options) {
  if (!kernels::IsSupported(options.type)) {
    return absl::InvalidArgumentError(
        absl::StrCat("quantize: unsupported target type ",
                     Av(kernels::TypeName(options.type))));
  }
  // Shared so that the fill callbacks below may outlive this scope safely.
  std::shared_ptr<const gguf::GgufFile> in;
  {
    ASSIGN_OR_RETURN(auto opened, gguf::GgufFile::Open(options.in));
    in = std::move(opened);
  }
  gguf::GgufWriter w;
  for (const auto& [key, value] : in->metadata()) {
    // The writer lays out data with its own alignment and records it.
    if (key == "general.alignment") continue;
    RETURN_IF_ERROR(w.SetValue(key, value));
  }
  w.SetUint32("general.file_type", *gguf::LlamaFileType(options.type));
  if (!IsFloatType(options.type)) {
    w.SetUint32("general.quantization_version", 2);
  }

  const int threads =
      options.num_threads > 0
          ? options.num_threads
          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  auto pool = std::make_shared<ThreadPool>(threads);

  std::vector<TensorConversion> report;
  for (const gguf::TensorInfo& t : in->tensors()) {
    TensorConversion c{t.name, t.type, GgmlType::kF32, ""};
    c.to = ChooseTensorType(t, options.type, &c.note);
    report.push_back(c);
    if (c.to == t.type) {
      // Same type: copy the bytes straight from the mapping.
      RETURN_IF_ERROR(w.AddTensor(
          t.name, t.dims, t.type, [in, &t](absl::Span<uint8_t> out) {
            std::copy(t.data, t.data + t.num_bytes, out.data());
            return absl::OkStatus();
          }));
      continue;
    }
    const GgmlType from = t.type;
    const GgmlType to = c.to;
    const int64_t cols = t.dims[0];
    const int64_t rows = cols == 0 ? 0 : t.num_elements / cols;
    const uint8_t* src = t.data;
    RETURN_IF_ERROR(
        w.AddTensor(t.name, t.dims, to, [=](absl::Span<uint8_t> out) {
          const int64_t in_rb = kernels::RowBytes(from, cols);
          const int64_t out_rb = kernels::RowBytes(to, cols);
          pool->ParallelFor(rows, 1, [&](int64_t begin, int64_t end) {
            std::vector<float> row(static_cast<size_t>(cols));
            for (int64_t r = begin; r < end; ++r) {
              kernels::DequantizeRow(from, src + r * in_rb, row.data(), cols);
              kernels::QuantizeRow(to, row.data(), out.data() + r * out_rb,
                                   cols);
            }
          });
          return absl::OkStatus();
        }));
  }
  RETURN_IF_ERROR(w.WriteFile(options.out));
  return report;
}

}  // namespace triptych::tools
