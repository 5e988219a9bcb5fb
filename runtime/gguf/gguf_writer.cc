#include "runtime/gguf/gguf_writer.h"

#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace triptych::gguf {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF"
constexpr uint32_t kVersion = 3;
constexpr uint64_t kDefaultAlignment = 32;

absl::string_view Av(std::string_view s) { return {s.data(), s.size()}; }

template <typename T>
void Put(std::string* out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out->append(b, sizeof(T));
}

void PutString(std::string* out, std::string_view s) {
  Put<uint64_t>(out, s.size());
  out->append(s.data(), s.size());
}

// Writes the payload of `v` (no type tag); `v` has been validated.
void PutPayload(std::string* out, const Value& v) {
  switch (v.type) {
    case ValueType::kUint8:
      Put<uint8_t>(out, static_cast<uint8_t>(std::get<uint64_t>(v.data)));
      break;
    case ValueType::kInt8:
      Put<int8_t>(out, static_cast<int8_t>(std::get<int64_t>(v.data)));
      break;
    case ValueType::kUint16:
      Put<uint16_t>(out, static_cast<uint16_t>(std::get<uint64_t>(v.data)));
      break;
    case ValueType::kInt16:
      Put<int16_t>(out, static_cast<int16_t>(std::get<int64_t>(v.data)));
      break;
    case ValueType::kUint32:
      Put<uint32_t>(out, static_cast<uint32_t>(std::get<uint64_t>(v.data)));
      break;
    case ValueType::kInt32:
      Put<int32_t>(out, static_cast<int32_t>(std::get<int64_t>(v.data)));
      break;
    case ValueType::kUint64:
      Put<uint64_t>(out, std::get<uint64_t>(v.data));
      break;
    case ValueType::kInt64:
      Put<int64_t>(out, std::get<int64_t>(v.data));
      break;
    case ValueType::kFloat32:
      Put<float>(out, static_cast<float>(std::get<double>(v.data)));
      break;
    case ValueType::kFloat64:
      Put<double>(out, std::get<double>(v.data));
      break;
    case ValueType::kBool:
      Put<uint8_t>(out, std::get<bool>(v.data) ? 1 : 0);
      break;
    case ValueType::kString:
      PutString(out, std::get<std::string>(v.data));
      break;
    case ValueType::kArray: {
      const Array& a = *std::get<std::shared_ptr<Array>>(v.data);
      Put<uint32_t>(out, static_cast<uint32_t>(a.element_type));
      Put<uint64_t>(out, a.elements.size());
      for (const Value& e : a.elements) PutPayload(out, e);
      break;
    }
  }
}

absl::Status BadValue(std::string_view key, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("GGUF writer: metadata '", Av(key), "': ", Av(why)));
}

absl::Status ValidateValue(std::string_view key, const Value& v, int depth) {
  auto check_u = [&](uint64_t max) -> absl::Status {
    const auto* u = std::get_if<uint64_t>(&v.data);
    if (u == nullptr)
      return BadValue(key, "unsigned type without a uint64 payload");
    if (*u > max) return BadValue(key, "value out of range for its type");
    return absl::OkStatus();
  };
  auto check_i = [&](int64_t min, int64_t max) -> absl::Status {
    const auto* i = std::get_if<int64_t>(&v.data);
    if (i == nullptr)
      return BadValue(key, "signed type without an int64 payload");
    if (*i < min || *i > max)
      return BadValue(key, "value out of range for its type");
    return absl::OkStatus();
  };
  switch (v.type) {
    case ValueType::kUint8:
      return check_u(UINT8_MAX);
    case ValueType::kUint16:
      return check_u(UINT16_MAX);
    case ValueType::kUint32:
      return check_u(UINT32_MAX);
    case ValueType::kUint64:
      return check_u(UINT64_MAX);
    case ValueType::kInt8:
      return check_i(INT8_MIN, INT8_MAX);
    case ValueType::kInt16:
      return check_i(INT16_MIN, INT16_MAX);
    case ValueType::kInt32:
      return check_i(INT32_MIN, INT32_MAX);
    case ValueType::kInt64:
      return check_i(INT64_MIN, INT64_MAX);
    case ValueType::kFloat32:
    case ValueType::kFloat64:
      if (!std::holds_alternative<double>(v.data)) {
        return BadValue(key, "float type without a double payload");
      }
      return absl::OkStatus();
    case ValueType::kBool:
      if (!std::holds_alternative<bool>(v.data)) {
        return BadValue(key, "bool type without a bool payload");
      }
      return absl::OkStatus();
    case ValueType::kString:
      if (!std::holds_alternative<std::string>(v.data)) {
        return BadValue(key, "string type without a string payload");
      }
      return absl::OkStatus();
    case ValueType::kArray: {
      const auto* a = std::get_if<std::shared_ptr<Array>>(&v.data);
      if (a == nullptr || *a == nullptr) {
        return BadValue(key, "array type without an array payload");
      }
      if (depth >= ReaderOptions().max_array_depth) {
        return BadValue(key, "arrays nested too deeply");
      }
      if (static_cast<uint32_t>((*a)->element_type) > 12) {
        return BadValue(key, "unknown array element type");
      }
      for (const Value& e : (*a)->elements) {
        if (e.type != (*a)->element_type) {
          return BadValue(key,
                          "array element of a type other than the "
                          "array's element type");
        }
        RETURN_IF_ERROR(ValidateValue(key, e, depth + 1));
      }
      return absl::OkStatus();
    }
  }
  return BadValue(key, "unknown value type");
}

template <typename T>
Value Scalar(ValueType type, T payload) {
  Value v;
  v.type = type;
  v.data = payload;
  return v;
}

template <typename T, typename Payload>
Value MakeArray(ValueType element_type, absl::Span<const T> items) {
  auto a = std::make_shared<Array>();
  a->element_type = element_type;
  a->elements.reserve(items.size());
  for (const T& x : items) {
    a->elements.push_back(Scalar(element_type, static_cast<Payload>(x)));
  }
  Value v;
  v.type = ValueType::kArray;
  v.data = std::move(a);
  return v;
}

}  // namespace

absl::StatusOr<int64_t> TensorBytes(kernels::GgmlType type,
                                    absl::Span<const int64_t> dims) {
  auto traits = kernels::GetTypeTraits(static_cast<uint32_t>(type));
  if (!traits.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown tensor type ", static_cast<uint32_t>(type)));
  }
  if (dims.empty() || dims.size() > 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensors have 1 to 4 dims, not ", dims.size()));
  }
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) {
      return absl::InvalidArgumentError(
          "negative dim or element count overflow");
    }
  }
  if (dims[0] % traits->block_elems != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("row length ", dims[0], " is not a multiple of the ",
                     Av(traits->name), " block size ", traits->block_elems));
  }
  int64_t bytes;
  if (__builtin_mul_overflow(n / traits->block_elems, traits->block_bytes,
                             &bytes)) {
    return absl::InvalidArgumentError("tensor byte size overflows");
  }
  return bytes;
}

GgufWriter::GgufWriter(WriterOptions options) : options_(options) {}

void GgufWriter::SetChecked(std::string key, Value v) {
  auto it = index_.find(key);
  if (it != index_.end()) {
    metadata_[it->second].second = std::move(v);
    return;
  }
  index_.emplace(key, metadata_.size());
  metadata_.emplace_back(std::move(key), std::move(v));
}

void GgufWriter::SetUint8(std::string key, uint8_t v) {
  SetChecked(std::move(key), Scalar(ValueType::kUint8, uint64_t{v}));
}
void GgufWriter::SetInt8(std::string key, int8_t v) {
  SetChecked(std::move(key), Scalar(ValueType::kInt8, int64_t{v}));
}
void GgufWriter::SetUint16(std::string key, uint16_t v) {
  SetChecked(std::move(key), Scalar(ValueType::kUint16, uint64_t{v}));
}
void GgufWriter::SetInt16(std::string key, int16_t v) {
  SetChecked(std::move(key), Scalar(ValueType::kInt16, int64_t{v}));
}
void GgufWriter::SetUint32(std::string key, uint32_t v) {
  SetChecked(std::move(key), Scalar(ValueType::kUint32, uint64_t{v}));
}
void GgufWriter::SetInt32(std::string key, int32_t v) {
  SetChecked(std::move(key), Scalar(ValueType::kInt32, int64_t{v}));
}
void GgufWriter::SetUint64(std::string key, uint64_t v) {
  SetChecked(std::move(key), Scalar(ValueType::kUint64, v));
}
void GgufWriter::SetInt64(std::string key, int64_t v) {
  SetChecked(std::move(key), Scalar(ValueType::kInt64, v));
}
void GgufWriter::SetFloat32(std::string key, float v) {
  SetChecked(std::move(key), Scalar(ValueType::kFloat32, double{v}));
}
void GgufWriter::SetFloat64(std::string key, double v) {
  SetChecked(std::move(key), Scalar(ValueType::kFloat64, v));
}
void GgufWriter::SetBool(std::string key, bool v) {
  SetChecked(std::move(key), Scalar(ValueType::kBool, v));
}
void GgufWriter::SetString(std::string key, std::string v) {
  SetChecked(std::move(key), Scalar(ValueType::kString, std::move(v)));
}
void GgufWriter::SetStringArray(std::string key,
                                absl::Span<const std::string> v) {
  SetChecked(std::move(key),
             MakeArray<std::string, std::string>(ValueType::kString, v));
}
void GgufWriter::SetFloat32Array(std::string key, absl::Span<const float> v) {
  SetChecked(std::move(key), MakeArray<float, double>(ValueType::kFloat32, v));
}
void GgufWriter::SetInt32Array(std::string key, absl::Span<const int32_t> v) {
  SetChecked(std::move(key), MakeArray<int32_t, int64_t>(ValueType::kInt32, v));
}
void GgufWriter::SetUint32Array(std::string key, absl::Span<const uint32_t> v) {
  SetChecked(std::move(key),
             MakeArray<uint32_t, uint64_t>(ValueType::kUint32, v));
}
void GgufWriter::SetInt64Array(std::string key, absl::Span<const int64_t> v) {
  SetChecked(std::move(key), MakeArray<int64_t, int64_t>(ValueType::kInt64, v));
}

absl::Status GgufWriter::SetValue(std::string key, Value v) {
  RETURN_IF_ERROR(ValidateValue(key, v, 0));
  SetChecked(std::move(key), std::move(v));
  return absl::OkStatus();
}

bool GgufWriter::Remove(std::string_view key) {
  auto it = index_.find(key);
  if (it == index_.end()) return false;
  metadata_.erase(metadata_.begin() + static_cast<ptrdiff_t>(it->second));
  index_.clear();
  for (size_t i = 0; i < metadata_.size(); ++i) {
    index_.emplace(metadata_[i].first, i);
  }
  return true;
}

absl::Status GgufWriter::AddTensorImpl(PendingTensor t) {
  if (tensor_index_.count(t.name) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("GGUF writer: duplicate tensor name '", t.name, "'"));
  }
  absl::StatusOr<int64_t> bytes = TensorBytes(t.type, t.dims);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GGUF writer: tensor '", t.name, "': ", bytes.status().message()));
  }
  t.num_bytes = *bytes;
  if (!t.fill && static_cast<int64_t>(t.bytes.size()) != t.num_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("GGUF writer: tensor '", t.name, "' has ", t.bytes.size(),
                     " bytes of data, its dims and type need ", t.num_bytes));
  }
  tensor_index_.emplace(t.name, tensors_.size());
  tensors_.push_back(std::move(t));
  return absl::OkStatus();
}

absl::Status GgufWriter::AddTensor(std::string name, std::vector<int64_t> dims,
                                   kernels::GgmlType type, std::string bytes) {
  PendingTensor t{std::move(name),  std::move(dims), type, 0,
                  std::move(bytes), nullptr};
  return AddTensorImpl(std::move(t));
}

absl::Status GgufWriter::AddTensor(std::string name, std::vector<int64_t> dims,
                                   kernels::GgmlType type, TensorDataFn fill) {
  if (!fill) {
    return absl::InvalidArgumentError("GGUF writer: empty fill function");
  }
  PendingTensor t{std::move(name), std::move(dims), type, 0,
                  std::string(),   std::move(fill)};
  return AddTensorImpl(std::move(t));
}

std::string GgufWriter::SerializeHeader(std::vector<uint64_t>* offsets) const {
  const uint64_t align = options_.alignment;
  std::string out;
  Put<uint32_t>(&out, kMagic);
  Put<uint32_t>(&out, kVersion);
  Put<uint64_t>(&out, tensors_.size());
  // A non-default alignment must be recorded; unless the caller set the key
  // (checked in Emit), it goes last.
  const bool add_alignment =
      align != kDefaultAlignment && !Has("general.alignment");
  Put<uint64_t>(&out, metadata_.size() + (add_alignment ? 1 : 0));
  for (const auto& [key, value] : metadata_) {
    PutString(&out, key);
    Put<uint32_t>(&out, static_cast<uint32_t>(value.type));
    PutPayload(&out, value);
  }
  if (add_alignment) {
    PutString(&out, "general.alignment");
    Put<uint32_t>(&out, static_cast<uint32_t>(ValueType::kUint32));
    Put<uint32_t>(&out, static_cast<uint32_t>(align));
  }
  offsets->clear();
  uint64_t offset = 0;
  for (const PendingTensor& t : tensors_) {
    PutString(&out, t.name);
    Put<uint32_t>(&out, static_cast<uint32_t>(t.dims.size()));
    for (int64_t d : t.dims) Put<uint64_t>(&out, static_cast<uint64_t>(d));
    Put<uint32_t>(&out, static_cast<uint32_t>(t.type));
    Put<uint64_t>(&out, offset);
    offsets->push_back(offset);
    offset += (static_cast<uint64_t>(t.num_bytes) + align - 1) / align * align;
  }
  out.resize((out.size() + align - 1) / align * align, '\0');
  return out;
}

absl::Status GgufWriter::Emit(
    const std::function<absl::Status(std::string_view)>& sink) {
  const uint64_t align = options_.alignment;
  if (align == 0 || !std::has_single_bit(align) ||
      align > (uint64_t{1} << 30)) {
    return absl::InvalidArgumentError(
        absl::StrCat("GGUF writer: alignment ", align,
                     " is not a power of two in [1, 2^30]"));
  }
  if (auto it = index_.find("general.alignment"); it != index_.end()) {
    const std::optional<int64_t> v = metadata_[it->second].second.AsInt();
    if (!v.has_value() || static_cast<uint64_t>(*v) != align) {
      return absl::InvalidArgumentError(absl::StrCat(
          "GGUF writer: metadata general.alignment differs from the writer's "
          "alignment ",
          align));
    }
  }
  std::vector<uint64_t> offsets;
  RETURN_IF_ERROR(sink(SerializeHeader(&offsets)));
  const std::string zeros(align, '\0');
  std::string buffer;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    PendingTensor& t = tensors_[i];
    if (t.fill) {
      buffer.resize(static_cast<size_t>(t.num_bytes));
      absl::Status s = t.fill(absl::MakeSpan(
          reinterpret_cast<uint8_t*>(buffer.data()), buffer.size()));
      if (!s.ok()) {
        return absl::Status(
            s.code(), absl::StrCat("tensor '", t.name, "': ", s.message()));
      }
      RETURN_IF_ERROR(sink(buffer));
    } else {
      RETURN_IF_ERROR(sink(t.bytes));
    }
    // Pad every tensor, the last included, to the alignment (as ggml does).
    const uint64_t pad =
        (align - static_cast<uint64_t>(t.num_bytes) % align) % align;
    RETURN_IF_ERROR(sink(std::string_view(zeros.data(), pad)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> GgufWriter::WriteToString() {
  std::string out;
  RETURN_IF_ERROR(Emit([&out](std::string_view chunk) {
    out.append(chunk.data(), chunk.size());
    return absl::OkStatus();
  }));
  return out;
}

absl::Status GgufWriter::WriteFile(const std::string& path) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot create '", tmp, "': ", std::strerror(errno)));
  }
  absl::Status s = Emit([f, &tmp](std::string_view chunk) -> absl::Status {
    if (chunk.empty()) return absl::OkStatus();
    if (std::fwrite(chunk.data(), 1, chunk.size(), f) != chunk.size()) {
      const int err = errno;
      const std::string msg =
          absl::StrCat("write to '", tmp, "' failed: ", std::strerror(err));
      return err == ENOSPC ? absl::ResourceExhaustedError(msg)
                           : absl::UnavailableError(msg);
    }
    return absl::OkStatus();
  });
  if (std::fclose(f) != 0 && s.ok()) {
    s = absl::UnavailableError(
        absl::StrCat("closing '", tmp, "' failed: ", std::strerror(errno)));
  }
  if (s.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    s = absl::UnavailableError(absl::StrCat("cannot rename '", tmp, "' to '",
                                            path, "': ", std::strerror(errno)));
  }
  if (!s.ok()) ::unlink(tmp.c_str());
  return s;
}

}  // namespace triptych::gguf
