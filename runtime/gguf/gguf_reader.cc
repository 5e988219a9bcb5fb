#include "runtime/gguf/gguf_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace triptych::gguf {

static_assert(std::endian::native == std::endian::little,
              "the GGUF reader assumes a little-endian host");

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian u32
constexpr int kMaxDims = 4;
constexpr uint64_t kDefaultAlignment = 32;
// Largest accepted general.alignment; larger values only serve to place the
// data section past the end of any real file.
constexpr uint64_t kMaxAlignment = uint64_t{1} << 30;

// Smallest encoding of one tensor info: name length (8), n_dims (4), one dim
// (8), type (4), offset (8).
constexpr uint64_t kMinTensorInfoBytes = 32;
// Smallest encoding of one key/value pair: key length (8), value type (4),
// one-byte value.
constexpr uint64_t kMinKvBytes = 13;

// This Abseil's string_view is its own type, so std::string_view needs a
// conversion before StrCat.
absl::string_view Av(std::string_view s) { return {s.data(), s.size()}; }

absl::Status Malformed(std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("GGUF: ", Av(what)));
}

bool IsValidValueType(uint32_t t) { return t <= 12; }

std::string_view ValueTypeName(ValueType t) {
  switch (t) {
    case ValueType::kUint8:
      return "uint8";
    case ValueType::kInt8:
      return "int8";
    case ValueType::kUint16:
      return "uint16";
    case ValueType::kInt16:
      return "int16";
    case ValueType::kUint32:
      return "uint32";
    case ValueType::kInt32:
      return "int32";
    case ValueType::kFloat32:
      return "float32";
    case ValueType::kBool:
      return "bool";
    case ValueType::kString:
      return "string";
    case ValueType::kArray:
      return "array";
    case ValueType::kUint64:
      return "uint64";
    case ValueType::kInt64:
      return "int64";
    case ValueType::kFloat64:
      return "float64";
  }
  return "unknown";
}

// Bytes that one value of type `t` occupies at minimum; used to reject
// element counts that cannot fit in the rest of the file before allocating.
uint64_t MinEncodedBytes(ValueType t) {
  switch (t) {
    case ValueType::kUint8:
    case ValueType::kInt8:
    case ValueType::kBool:
      return 1;
    case ValueType::kUint16:
    case ValueType::kInt16:
      return 2;
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kFloat32:
      return 4;
    case ValueType::kUint64:
    case ValueType::kInt64:
    case ValueType::kFloat64:
    case ValueType::kString:  // the u64 length
      return 8;
    case ValueType::kArray:  // element type + u64 count
      return 12;
  }
  return 1;
}

// Bounds-checked little-endian reader over the file image. Every read checks
// the remaining bytes first, so no read can leave the image.
class Cursor {
 public:
  Cursor(const uint8_t* base, size_t size) : base_(base), size_(size) {}

  size_t pos() const { return pos_; }
  size_t size() const { return size_; }
  uint64_t remaining() const { return size_ - pos_; }

  template <typename T>
  absl::StatusOr<T> Read(std::string_view what) {
    if (remaining() < sizeof(T)) {
      return Malformed(absl::StrCat(
          "truncated file: ", Av(what), " (", sizeof(T), " bytes at offset ",
          pos_, ") runs past the end of the file (size ", size_, ")"));
    }
    T v;
    std::memcpy(&v, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  absl::StatusOr<std::string> ReadString(std::string_view what,
                                         int64_t max_bytes) {
    const size_t start = pos_;
    ASSIGN_OR_RETURN(uint64_t len, Read<uint64_t>(what));
    if (len > static_cast<uint64_t>(max_bytes)) {
      return Malformed(absl::StrCat(Av(what), ": string length ", len,
                                    " at offset ", start,
                                    " exceeds the limit of ", max_bytes));
    }
    if (len > remaining()) {
      return Malformed(absl::StrCat("truncated file: ", Av(what),
                                    ": string length ", len, " at offset ",
                                    start, " runs past the end of the file (",
                                    remaining(), " bytes left)"));
    }
    std::string s(reinterpret_cast<const char*>(base_ + pos_), len);
    pos_ += len;
    return s;
  }

 private:
  const uint8_t* base_;
  size_t size_;
  size_t pos_ = 0;
};

class Parser {
 public:
  Parser(Cursor* cursor, const ReaderOptions& options)
      : cur_(*cursor), options_(options) {}

  absl::StatusOr<Value> ReadValue(ValueType type, const std::string& key,
                                  int depth) {
    Value v;
    v.type = type;
    switch (type) {
      case ValueType::kUint8: {
        ASSIGN_OR_RETURN(uint8_t x, cur_.Read<uint8_t>(What(key)));
        v.data = uint64_t{x};
        break;
      }
      case ValueType::kInt8: {
        ASSIGN_OR_RETURN(int8_t x, cur_.Read<int8_t>(What(key)));
        v.data = int64_t{x};
        break;
      }
      case ValueType::kUint16: {
        ASSIGN_OR_RETURN(uint16_t x, cur_.Read<uint16_t>(What(key)));
        v.data = uint64_t{x};
        break;
      }
      case ValueType::kInt16: {
        ASSIGN_OR_RETURN(int16_t x, cur_.Read<int16_t>(What(key)));
        v.data = int64_t{x};
        break;
      }
      case ValueType::kUint32: {
        ASSIGN_OR_RETURN(uint32_t x, cur_.Read<uint32_t>(What(key)));
        v.data = uint64_t{x};
        break;
      }
      case ValueType::kInt32: {
        ASSIGN_OR_RETURN(int32_t x, cur_.Read<int32_t>(What(key)));
        v.data = int64_t{x};
        break;
      }
      case ValueType::kUint64: {
        ASSIGN_OR_RETURN(uint64_t x, cur_.Read<uint64_t>(What(key)));
        v.data = x;
        break;
      }
      case ValueType::kInt64: {
        ASSIGN_OR_RETURN(int64_t x, cur_.Read<int64_t>(What(key)));
        v.data = x;
        break;
      }
      case ValueType::kFloat32: {
        ASSIGN_OR_RETURN(float x, cur_.Read<float>(What(key)));
        v.data = double{x};
        break;
      }
      case ValueType::kFloat64: {
        ASSIGN_OR_RETURN(double x, cur_.Read<double>(What(key)));
        v.data = x;
        break;
      }
      case ValueType::kBool: {
        ASSIGN_OR_RETURN(uint8_t x, cur_.Read<uint8_t>(What(key)));
        if (x > 1) {
          return Malformed(absl::StrCat("metadata '", key, "': bool value ",
                                        int{x}, " is neither 0 nor 1"));
        }
        v.data = x != 0;
        break;
      }
      case ValueType::kString: {
        ASSIGN_OR_RETURN(std::string s,
                         cur_.ReadString(What(key), options_.max_string_bytes));
        v.data = std::move(s);
        break;
      }
      case ValueType::kArray: {
        ASSIGN_OR_RETURN(auto array, ReadArray(key, depth + 1));
        v.data = std::move(array);
        break;
      }
    }
    return v;
  }

  absl::StatusOr<ValueType> ReadValueType(const std::string& key) {
    const size_t at = cur_.pos();
    ASSIGN_OR_RETURN(uint32_t raw, cur_.Read<uint32_t>(What(key)));
    if (!IsValidValueType(raw)) {
      return Malformed(absl::StrCat("metadata '", key, "': unknown value type ",
                                    raw, " at offset ", at));
    }
    return static_cast<ValueType>(raw);
  }

 private:
  std::string What(const std::string& key) {
    return absl::StrCat("metadata '", key, "'");
  }

  absl::StatusOr<std::shared_ptr<Array>> ReadArray(const std::string& key,
                                                   int depth) {
    if (depth > options_.max_array_depth) {
      return Malformed(absl::StrCat("metadata '", key,
                                    "': arrays nested deeper than ",
                                    options_.max_array_depth));
    }
    auto array = std::make_shared<Array>();
    ASSIGN_OR_RETURN(array->element_type, ReadValueType(key));
    const size_t at = cur_.pos();
    ASSIGN_OR_RETURN(uint64_t count, cur_.Read<uint64_t>(What(key)));
    if (count > static_cast<uint64_t>(options_.max_array_elements)) {
      return Malformed(absl::StrCat("metadata '", key, "': array count ", count,
                                    " at offset ", at, " exceeds the limit of ",
                                    options_.max_array_elements));
    }
    const uint64_t min_bytes = MinEncodedBytes(array->element_type);
    if (count > cur_.remaining() / min_bytes) {
      return Malformed(absl::StrCat(
          "truncated file: metadata '", key, "': array of ", count, " ",
          Av(ValueTypeName(array->element_type)), " at offset ", at,
          " cannot fit in the ", cur_.remaining(), " bytes left"));
    }
    array->elements.reserve(count);
    for (uint64_t i = 0; i < count; ++i) {
      ASSIGN_OR_RETURN(Value e, ReadValue(array->element_type, key, depth));
      array->elements.push_back(std::move(e));
    }
    return array;
  }

  Cursor& cur_;
  const ReaderOptions& options_;
};

// a * b for non-negative values; false on int64 overflow.
bool CheckedMul(int64_t a, int64_t b, int64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}

}  // namespace

std::optional<int64_t> Value::AsInt() const {
  if (const auto* u = std::get_if<uint64_t>(&data)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return std::nullopt;
    }
    return static_cast<int64_t>(*u);
  }
  if (const auto* i = std::get_if<int64_t>(&data)) return *i;
  return std::nullopt;
}

std::optional<double> Value::AsFloat() const {
  if (const auto* d = std::get_if<double>(&data)) return *d;
  if (const auto* u = std::get_if<uint64_t>(&data)) {
    return static_cast<double>(*u);
  }
  if (const auto* i = std::get_if<int64_t>(&data)) {
    return static_cast<double>(*i);
  }
  return std::nullopt;
}

std::optional<bool> Value::AsBool() const {
  if (const auto* b = std::get_if<bool>(&data)) return *b;
  return std::nullopt;
}

const std::string* Value::AsString() const {
  return std::get_if<std::string>(&data);
}

const Array* Value::AsArray() const {
  if (const auto* a = std::get_if<std::shared_ptr<Array>>(&data)) {
    return a->get();
  }
  return nullptr;
}

GgufFile::~GgufFile() {
  if (mapping_ != nullptr) munmap(mapping_, size_);
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Open(
    const std::string& path, const ReaderOptions& options) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string msg =
        absl::StrCat("cannot open '", path, "': ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(msg);
    if (err == EACCES) return absl::PermissionDeniedError(msg);
    return absl::FailedPreconditionError(msg);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat("cannot stat '", path, "': ", std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("'", path, "' is not a regular file"));
  }
  auto file = std::unique_ptr<GgufFile>(new GgufFile());
  if (st.st_size > 0) {
    void* m = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ,
                   MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot mmap '", path, "': ", std::strerror(err)));
    }
    file->mapping_ = m;
    file->base_ = static_cast<const uint8_t*>(m);
    file->size_ = static_cast<size_t>(st.st_size);
  }
  ::close(fd);  // the mapping keeps the file referenced
  absl::Status s = file->Parse(options);
  if (!s.ok()) {
    return absl::Status(s.code(), absl::StrCat(path, ": ", s.message()));
  }
  return file;
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::FromBuffer(
    std::string_view bytes, const ReaderOptions& options) {
  auto file = std::unique_ptr<GgufFile>(new GgufFile());
  file->buffer_.assign(bytes.data(), bytes.size());
  file->base_ = reinterpret_cast<const uint8_t*>(file->buffer_.data());
  file->size_ = file->buffer_.size();
  RETURN_IF_ERROR(file->Parse(options));
  return file;
}

absl::Status GgufFile::Parse(const ReaderOptions& options) {
  Cursor cur(base_, size_);
  Parser parser(&cur, options);

  // Header.
  ASSIGN_OR_RETURN(uint32_t magic, cur.Read<uint32_t>("magic"));
  if (magic != kMagic) {
    return Malformed("bad magic: not a GGUF file");
  }
  ASSIGN_OR_RETURN(version_, cur.Read<uint32_t>("version"));
  if (version_ != 2 && version_ != 3) {
    if (version_ == 1) {
      return Malformed("unsupported version 1 (only GGUF v2 and v3 are read)");
    }
    if (__builtin_bswap32(version_) == 2 || __builtin_bswap32(version_) == 3) {
      return Malformed(absl::StrCat("unsupported version ", version_,
                                    " (a big-endian file? only little-endian "
                                    "GGUF v2/v3 is read)"));
    }
    return Malformed(absl::StrCat("unsupported version ", version_,
                                  " (only GGUF v2 and v3 are read)"));
  }
  ASSIGN_OR_RETURN(uint64_t n_tensors, cur.Read<uint64_t>("tensor count"));
  ASSIGN_OR_RETURN(uint64_t n_kv, cur.Read<uint64_t>("metadata count"));
  if (n_tensors > static_cast<uint64_t>(options.max_tensors)) {
    return Malformed(absl::StrCat("tensor count ", n_tensors,
                                  " exceeds the limit of ",
                                  options.max_tensors));
  }
  if (n_kv > static_cast<uint64_t>(options.max_metadata_entries)) {
    return Malformed(absl::StrCat("metadata count ", n_kv,
                                  " exceeds the limit of ",
                                  options.max_metadata_entries));
  }
  if (n_kv > cur.remaining() / kMinKvBytes) {
    return Malformed(absl::StrCat("truncated file: metadata count ", n_kv,
                                  " cannot fit in the ", cur.remaining(),
                                  " bytes left"));
  }
  if (n_tensors > cur.remaining() / kMinTensorInfoBytes) {
    return Malformed(absl::StrCat("truncated file: tensor count ", n_tensors,
                                  " cannot fit in the ", cur.remaining(),
                                  " bytes left"));
  }

  // Metadata.
  metadata_.reserve(n_kv);
  for (uint64_t i = 0; i < n_kv; ++i) {
    ASSIGN_OR_RETURN(std::string key,
                     cur.ReadString(absl::StrCat("metadata key #", i),
                                    options.max_string_bytes));
    if (metadata_index_.count(key) != 0) {
      return Malformed(absl::StrCat("duplicate metadata key '", key, "'"));
    }
    ASSIGN_OR_RETURN(ValueType type, parser.ReadValueType(key));
    ASSIGN_OR_RETURN(Value value, parser.ReadValue(type, key, 0));
    metadata_index_.emplace(key, metadata_.size());
    metadata_.emplace_back(std::move(key), std::move(value));
  }

  alignment_ = kDefaultAlignment;
  if (const Value* a = Find("general.alignment")) {
    std::optional<int64_t> v = a->AsInt();
    if (!v.has_value()) {
      return Malformed(absl::StrCat("general.alignment has type ",
                                    Av(ValueTypeName(a->type)),
                                    ", expected an unsigned integer"));
    }
    if (*v <= 0 || static_cast<uint64_t>(*v) > kMaxAlignment ||
        !std::has_single_bit(static_cast<uint64_t>(*v))) {
      return Malformed(absl::StrCat("general.alignment ", *v,
                                    " is not a power of two in [1, 2^30]"));
    }
    alignment_ = static_cast<uint64_t>(*v);
  }

  // Tensor infos.
  tensors_.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TensorInfo t;
    ASSIGN_OR_RETURN(t.name,
                     cur.ReadString(absl::StrCat("tensor #", i, " name"),
                                    options.max_string_bytes));
    const std::string what = absl::StrCat("tensor '", t.name, "'");
    if (tensor_index_.count(t.name) != 0) {
      return Malformed(absl::StrCat("duplicate tensor name '", t.name, "'"));
    }
    ASSIGN_OR_RETURN(uint32_t n_dims,
                     cur.Read<uint32_t>(absl::StrCat(what, " n_dims")));
    if (n_dims < 1 || n_dims > kMaxDims) {
      return Malformed(absl::StrCat(what, ": n_dims ", n_dims,
                                    " is outside [1, ", kMaxDims, "]"));
    }
    t.dims.resize(n_dims);
    int64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      ASSIGN_OR_RETURN(uint64_t dim,
                       cur.Read<uint64_t>(absl::StrCat(what, " dims")));
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Malformed(absl::StrCat(what, ": dimension ", d, " = ", dim,
                                      " is out of range"));
      }
      t.dims[d] = static_cast<int64_t>(dim);
      if (!CheckedMul(elements, t.dims[d], &elements)) {
        return Malformed(absl::StrCat(what,
                                      ": element count overflows (dims product "
                                      "does not fit in 64 bits)"));
      }
    }
    ASSIGN_OR_RETURN(uint32_t type_id,
                     cur.Read<uint32_t>(absl::StrCat(what, " type")));
    std::optional<kernels::TypeTraits> traits = kernels::GetTypeTraits(type_id);
    if (!traits.has_value()) {
      return Malformed(absl::StrCat(what, ": unknown tensor type ", type_id));
    }
    t.type = static_cast<kernels::GgmlType>(type_id);
    if (t.dims[0] % traits->block_elems != 0) {
      return Malformed(absl::StrCat(
          what, ": row length ", t.dims[0], " is not a multiple of the ",
          Av(traits->name), " block size ", traits->block_elems));
    }
    t.num_elements = elements;
    // elements / block_elems * block_bytes: the division is exact because
    // dims[0] (and so the product) is a multiple of block_elems.
    if (!CheckedMul(elements / traits->block_elems, traits->block_bytes,
                    &t.num_bytes)) {
      return Malformed(absl::StrCat(what, ": byte size overflows"));
    }
    ASSIGN_OR_RETURN(t.offset,
                     cur.Read<uint64_t>(absl::StrCat(what, " offset")));
    if (t.offset % alignment_ != 0) {
      return Malformed(absl::StrCat(what, ": data offset ", t.offset,
                                    " is not a multiple of the alignment ",
                                    alignment_));
    }
    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment. A file
  // without tensor data may end before it (vocabulary-only files).
  const uint64_t info_end = cur.pos();
  const uint64_t data_start =
      (info_end + alignment_ - 1) / alignment_ * alignment_;  // no overflow:
                                                              // both < 2^62
  const uint64_t data_size = data_start <= size_ ? size_ - data_start : 0;

  for (TensorInfo& t : tensors_) {
    const uint64_t bytes = static_cast<uint64_t>(t.num_bytes);
    if (t.offset > data_size || bytes > data_size - t.offset) {
      return Malformed(absl::StrCat(
          "truncated file: tensor '", t.name, "' data [", t.offset, ", +",
          bytes, ") runs past the end of the data section (", data_size,
          " bytes at file offset ", data_start, ")"));
    }
    t.data = base_ + data_start + t.offset;
  }

  // Overlap check over the tensors sorted by offset; empty tensors occupy
  // nothing and cannot overlap.
  std::vector<const TensorInfo*> by_offset;
  by_offset.reserve(tensors_.size());
  for (const TensorInfo& t : tensors_) {
    if (t.num_bytes > 0) by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) {
              return a->offset < b->offset;
            });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo& prev = *by_offset[i - 1];
    const TensorInfo& next = *by_offset[i];
    // Both ranges were checked to lie inside the data section, so the sum
    // cannot overflow.
    if (prev.offset + static_cast<uint64_t>(prev.num_bytes) > next.offset) {
      return Malformed(absl::StrCat("tensors '", prev.name, "' [", prev.offset,
                                    ", +", prev.num_bytes, ") and '", next.name,
                                    "' [", next.offset, ") overlap"));
    }
  }
  return absl::OkStatus();
}

const Value* GgufFile::Find(std::string_view key) const {
  auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

std::optional<int64_t> GgufFile::GetInt(std::string_view key) const {
  const Value* v = Find(key);
  return v == nullptr ? std::nullopt : v->AsInt();
}

std::optional<double> GgufFile::GetFloat(std::string_view key) const {
  const Value* v = Find(key);
  return v == nullptr ? std::nullopt : v->AsFloat();
}

std::optional<bool> GgufFile::GetBool(std::string_view key) const {
  const Value* v = Find(key);
  return v == nullptr ? std::nullopt : v->AsBool();
}

std::optional<std::string> GgufFile::GetString(std::string_view key) const {
  const Value* v = Find(key);
  if (v == nullptr || v->AsString() == nullptr) return std::nullopt;
  return *v->AsString();
}

std::optional<std::vector<std::string>> GgufFile::GetStringArray(
    std::string_view key) const {
  const Value* v = Find(key);
  const Array* a = v == nullptr ? nullptr : v->AsArray();
  if (a == nullptr || a->element_type != ValueType::kString) {
    return std::nullopt;
  }
  std::vector<std::string> out;
  out.reserve(a->elements.size());
  for (const Value& e : a->elements) out.push_back(*e.AsString());
  return out;
}

std::optional<std::vector<float>> GgufFile::GetFloatArray(
    std::string_view key) const {
  const Value* v = Find(key);
  const Array* a = v == nullptr ? nullptr : v->AsArray();
  if (a == nullptr) return std::nullopt;
  std::vector<float> out;
  out.reserve(a->elements.size());
  for (const Value& e : a->elements) {
    std::optional<double> f = e.AsFloat();
    if (!f.has_value()) return std::nullopt;
    out.push_back(static_cast<float>(*f));
  }
  return out;
}

std::optional<std::vector<int64_t>> GgufFile::GetIntArray(
    std::string_view key) const {
  const Value* v = Find(key);
  const Array* a = v == nullptr ? nullptr : v->AsArray();
  if (a == nullptr) return std::nullopt;
  std::vector<int64_t> out;
  out.reserve(a->elements.size());
  for (const Value& e : a->elements) {
    std::optional<int64_t> i = e.AsInt();
    if (!i.has_value()) return std::nullopt;
    out.push_back(*i);
  }
  return out;
}

const TensorInfo* GgufFile::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace triptych::gguf
