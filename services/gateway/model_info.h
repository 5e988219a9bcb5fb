#ifndef TRIPTYCH_SERVICES_GATEWAY_MODEL_INFO_H_
#define TRIPTYCH_SERVICES_GATEWAY_MODEL_INFO_H_

// What the gateway needs to know about the served model, read from its GGUF
// file: the tokenizer, the chat template family and its special tokens, and
// the context length. No weights are loaded. Immutable; thread-safe.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/chat/chat_template.h"
#include "runtime/gguf/gguf_reader.h"
#include "runtime/tokenizer/tokenizer.h"

namespace triptych::gateway {

class ModelInfo {
 public:
  // Opens the GGUF at `path` (metadata only). Errors: those of
  // GgufFile::Open and Tokenizer::FromGguf.
  static absl::StatusOr<std::unique_ptr<ModelInfo>> Load(const std::string& path);
  // Uses an already opened file and tokenizer, which must outlive the result.
  static absl::StatusOr<std::unique_ptr<ModelInfo>> FromFile(
      const gguf::GgufFile& file, const tokenizer::Tokenizer* tokenizer);

  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
  chat::TemplateKind template_kind() const { return template_kind_; }
  int64_t context_length() const { return context_length_; }
  // general.name, or "" when absent.
  const std::string& name() const { return name_; }

  // Renders `messages` with the chat template (generation prompt added) and
  // tokenizes the result; BOS is added once, by the tokenizer when its
  // vocabulary asks for it. Errors: kInvalidArgument (roles the template
  // cannot place).
  absl::StatusOr<std::vector<int32_t>> EncodeChat(
      absl::Span<const chat::Message> messages) const;
  // Tokenizes a completion prompt (BOS as the vocabulary says; control
  // tokens written in the text are parsed).
  std::vector<int32_t> EncodePrompt(const std::string& prompt) const;
  // Extra stop strings that end an assistant turn for this template.
  const std::vector<std::string>& chat_stop_strings() const { return chat_stops_; }

 private:
  ModelInfo() = default;
  absl::Status Init(const gguf::GgufFile& file);

  std::unique_ptr<gguf::GgufFile> owned_file_;
  std::unique_ptr<tokenizer::Tokenizer> owned_tokenizer_;
  const tokenizer::Tokenizer* tokenizer_ = nullptr;
  chat::TemplateKind template_kind_ = chat::kFallbackTemplateKind;
  chat::SpecialTokens special_;
  std::vector<std::string> chat_stops_;
  int64_t context_length_ = 2048;
  std::string name_;
};

}  // namespace triptych::gateway

#endif  // TRIPTYCH_SERVICES_GATEWAY_MODEL_INFO_H_
