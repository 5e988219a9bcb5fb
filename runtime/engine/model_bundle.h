#ifndef TRIPTYCH_RUNTIME_ENGINE_MODEL_BUNDLE_H_
#define TRIPTYCH_RUNTIME_ENGINE_MODEL_BUNDLE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/gguf/gguf_reader.h"
#include "runtime/model/model.h"
#include "runtime/tokenizer/tokenizer.h"

namespace triptych::engine {

// A GGUF file opened as a model plus its tokenizer; the file mapping lives
// as long as the bundle. Immutable and thread-safe once loaded.
struct ModelBundle {
  std::unique_ptr<gguf::GgufFile> file;
  std::unique_ptr<model::Model> model;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;

  // Errors: those of GgufFile::Open, Model::Load and Tokenizer::FromGguf.
  static absl::StatusOr<std::unique_ptr<ModelBundle>> Load(const std::string& path);
};

}  // namespace triptych::engine

#endif  // TRIPTYCH_RUNTIME_ENGINE_MODEL_BUNDLE_H_
