#include "runtime/engine/model_bundle.h"

#include "common/status_macros.h"

namespace triptych::engine {

absl::StatusOr<std::unique_ptr<ModelBundle>> ModelBundle::Load(
    const std::string& path) {
  auto bundle = std::make_unique<ModelBundle>();
  ASSIGN_OR_RETURN(bundle->file, gguf::GgufFile::Open(path));
  ASSIGN_OR_RETURN(bundle->model, model::Model::Load(*bundle->file));
  ASSIGN_OR_RETURN(bundle->tokenizer, tokenizer::Tokenizer::FromGguf(*bundle->file));
  return bundle;
}

}  // namespace triptych::engine
