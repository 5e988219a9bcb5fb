#include "services/gateway/model_info.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace triptych::gateway {

absl::StatusOr<std::unique_ptr<ModelInfo>> ModelInfo::Load(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<gguf::GgufFile> file, gguf::GgufFile::Open(path));
  ASSIGN_OR_RETURN(std::unique_ptr<tokenizer::Tokenizer> tok,
                   tokenizer::Tokenizer::FromGguf(*file));
  std::unique_ptr<ModelInfo> info(new ModelInfo());
  info->tokenizer_ = tok.get();
  RETURN_IF_ERROR(info->Init(*file));
  info->owned_file_ = std::move(file);
  info->owned_tokenizer_ = std::move(tok);
  return info;
}

absl::StatusOr<std::unique_ptr<ModelInfo>> ModelInfo::FromFile(
    const gguf::GgufFile& file, const tokenizer::Tokenizer* tokenizer) {
  std::unique_ptr<ModelInfo> info(new ModelInfo());
  info->tokenizer_ = tokenizer;
  RETURN_IF_ERROR(info->Init(file));
  return info;
}

absl::Status ModelInfo::Init(const gguf::GgufFile& file) {
  template_kind_ = chat::DetectTemplateKindOrFallback(
      file.GetString("tokenizer.chat_template").value_or(""));
  special_ = chat::DefaultSpecialTokens(template_kind_);
  // The tokenizer adds BOS itself when its vocabulary says so; the template
  // must then not write it a second time. Without add_bos the template's
  // own BOS text (parsed as a control token) is the only one.
  if (tokenizer_->add_bos()) {
    special_.bos.clear();
  } else if (tokenizer_->bos_id() >= 0 && !special_.bos.empty()) {
    special_.bos = std::string(tokenizer_->TokenText(tokenizer_->bos_id()));
  }
  if (tokenizer_->eos_id() >= 0) {
    special_.eos = std::string(tokenizer_->TokenText(tokenizer_->eos_id()));
  }
  chat_stops_ = chat::EndOfTurnStrings(template_kind_, special_);
  name_ = file.GetString("general.name").value_or("");
  const std::string arch = file.GetString("general.architecture").value_or("llama");
  const int64_t ctx = file.GetInt(absl::StrCat(arch, ".context_length")).value_or(2048);
  context_length_ = ctx > 0 ? ctx : 2048;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> ModelInfo::EncodeChat(
    absl::Span<const chat::Message> messages) const {
  ASSIGN_OR_RETURN(std::string text, chat::Render(template_kind_, messages,
                                                  /*add_generation_prompt=*/true, special_));
  return tokenizer_->Encode(text, /*add_special=*/true, /*parse_special=*/true);
}

std::vector<int32_t> ModelInfo::EncodePrompt(const std::string& prompt) const {
  return tokenizer_->Encode(prompt, /*add_special=*/true, /*parse_special=*/true);
}

}  // namespace triptych::gateway
