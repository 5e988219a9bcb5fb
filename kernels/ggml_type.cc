#include "kernels/ggml_type.h"

#include <array>
#include <cctype>

namespace triptych::kernels {
namespace {

struct Entry {
  GgmlType type;
  TypeTraits traits;
};

// Block geometry from the GGUF specification (ggml.c type_traits).
constexpr std::array<Entry, 20> kTypes = {{
    {GgmlType::kF32, {"F32", 1, 4}},
    {GgmlType::kF16, {"F16", 1, 2}},
    {GgmlType::kQ4_0, {"Q4_0", 32, 18}},
    {GgmlType::kQ4_1, {"Q4_1", 32, 20}},
    {GgmlType::kQ5_0, {"Q5_0", 32, 22}},
    {GgmlType::kQ5_1, {"Q5_1", 32, 24}},
    {GgmlType::kQ8_0, {"Q8_0", 32, 34}},
    {GgmlType::kQ8_1, {"Q8_1", 32, 36}},
    {GgmlType::kQ2_K, {"Q2_K", 256, 84}},
    {GgmlType::kQ3_K, {"Q3_K", 256, 110}},
    {GgmlType::kQ4_K, {"Q4_K", 256, 144}},
    {GgmlType::kQ5_K, {"Q5_K", 256, 176}},
    {GgmlType::kQ6_K, {"Q6_K", 256, 210}},
    {GgmlType::kQ8_K, {"Q8_K", 256, 292}},
    {GgmlType::kI8, {"I8", 1, 1}},
    {GgmlType::kI16, {"I16", 1, 2}},
    {GgmlType::kI32, {"I32", 1, 4}},
    {GgmlType::kI64, {"I64", 1, 8}},
    {GgmlType::kF64, {"F64", 1, 8}},
    {GgmlType::kBF16, {"BF16", 1, 2}},
}};

}  // namespace

std::optional<TypeTraits> GetTypeTraits(uint32_t type_id) {
  for (const Entry& e : kTypes) {
    if (static_cast<uint32_t>(e.type) == type_id) return e.traits;
  }
  return std::nullopt;
}

bool IsSupported(GgmlType type) {
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

std::optional<GgmlType> ParseTypeName(std::string_view name) {
  for (const Entry& e : kTypes) {
    if (e.traits.name.size() != name.size()) continue;
    bool equal = true;
    for (size_t i = 0; i < name.size(); ++i) {
      if (std::toupper(static_cast<unsigned char>(name[i])) != e.traits.name[i]) {
        equal = false;
        break;
      }
    }
    if (equal) return e.type;
  }
  return std::nullopt;
}

std::string_view TypeName(GgmlType type) {
  auto traits = GetTypeTraits(static_cast<uint32_t>(type));
  return traits ? traits->name : "unknown";
}

int64_t RowBytes(GgmlType type, int64_t n) {
  auto traits = GetTypeTraits(static_cast<uint32_t>(type));
  if (!traits) return 0;
  return n / traits->block_elems * traits->block_bytes;
}

}  // namespace triptych::kernels
