#include "runtime/chat/chat_template.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace triptych::chat {
namespace {

using ::testing::HasSubstr;

const std::vector<Message>& Conversation() {
  static const auto* const kConversation = new std::vector<Message>{
      {"system", "You are helpful."},
      {"user", "Hello"},
      {"assistant", "Hi there"},
      {"user", "How are you?"},
  };
  return *kConversation;
}

std::string MustRender(TemplateKind kind, bool gen = true) {
  absl::StatusOr<std::string> out =
      Render(kind, Conversation(), gen, DefaultSpecialTokens(kind));
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : "";
}

// Golden strings: a system + user + assistant + user conversation with the
// generation prompt, per family.
struct Golden {
  TemplateKind kind;
  std::string expected;
};

class ChatTemplateGolden : public ::testing::TestWithParam<Golden> {};

TEST_P(ChatTemplateGolden, RendersReferenceFormat) {
  EXPECT_EQ(MustRender(GetParam().kind), GetParam().expected);
}

// Exactly the message contents are untrusted: one range per message, each
// holding that content; every marker and header is the family's text.
TEST_P(ChatTemplateGolden, MarksMessageContentsUntrusted) {
  const TemplateKind kind = GetParam().kind;
  absl::StatusOr<RenderedPrompt> r = RenderWithProvenance(
      kind, Conversation(), true, DefaultSpecialTokens(kind));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->text, GetParam().expected);
  std::vector<std::string> got;
  for (const ByteRange& u : r->untrusted) {
    got.push_back(r->text.substr(u.begin, u.end - u.begin));
  }
  std::vector<std::string> want;
  for (const Message& m : Conversation()) want.push_back(m.content);
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
}

INSTANTIATE_TEST_SUITE_P(
    Families, ChatTemplateGolden,
    ::testing::Values(
        Golden{TemplateKind::kChatml,
               "<|im_start|>system\nYou are helpful.<|im_end|>\n"
               "<|im_start|>user\nHello<|im_end|>\n"
               "<|im_start|>assistant\nHi there<|im_end|>\n"
               "<|im_start|>user\nHow are you?<|im_end|>\n"
               "<|im_start|>assistant\n"},
        Golden{TemplateKind::kLlama2,
               "<s>[INST] <<SYS>>\nYou are helpful.\n<</SYS>>\n\n"
               "Hello [/INST] Hi there </s>"
               "<s>[INST] How are you? [/INST]"},
        Golden{TemplateKind::kLlama3,
               "<|begin_of_text|>"
               "<|start_header_id|>system<|end_header_id|>\n\n"
               "You are helpful.<|eot_id|>"
               "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
               "<|start_header_id|>assistant<|end_header_id|>\n\n"
               "Hi there<|eot_id|>"
               "<|start_header_id|>user<|end_header_id|>\n\n"
               "How are you?<|eot_id|>"
               "<|start_header_id|>assistant<|end_header_id|>\n\n"},
        Golden{TemplateKind::kMistralV1,
               "<s> [INST] You are helpful.\n\nHello [/INST] Hi there</s>"
               " [INST] How are you? [/INST]"},
        Golden{TemplateKind::kMistralV3,
               "<s>[INST] Hello[/INST] Hi there</s>"
               "[INST] You are helpful.\n\nHow are you?[/INST]"},
        Golden{TemplateKind::kMistralV7,
               "<s>[SYSTEM_PROMPT] You are helpful.[/SYSTEM_PROMPT]"
               "[INST] Hello[/INST] Hi there</s>[INST] How are you?[/INST]"},
        Golden{TemplateKind::kZephyr,
               "<|system|>\nYou are helpful.</s>\n"
               "<|user|>\nHello</s>\n"
               "<|assistant|>\nHi there</s>\n"
               "<|user|>\nHow are you?</s>\n"
               "<|assistant|>\n"},
        Golden{TemplateKind::kPhi3,
               "<|system|>\nYou are helpful.<|end|>\n"
               "<|user|>\nHello<|end|>\n"
               "<|assistant|>\nHi there<|end|>\n"
               "<|user|>\nHow are you?<|end|>\n"
               "<|assistant|>\n"},
        Golden{TemplateKind::kGemma,
               "<bos><start_of_turn>user\nYou are helpful.\n\nHello"
               "<end_of_turn>\n"
               "<start_of_turn>model\nHi there<end_of_turn>\n"
               "<start_of_turn>user\nHow are you?<end_of_turn>\n"
               "<start_of_turn>model\n"}),
    [](const ::testing::TestParamInfo<Golden>& param_info) {
      std::string name(TemplateKindName(param_info.param.kind));
      for (char& c : name) {
        if (c == '-') c = '_';
      }
      return name;
    });

TEST(ChatTemplate, GenerationPromptIsOptional) {
  EXPECT_EQ(MustRender(TemplateKind::kChatml, /*gen=*/false),
            "<|im_start|>system\nYou are helpful.<|im_end|>\n"
            "<|im_start|>user\nHello<|im_end|>\n"
            "<|im_start|>assistant\nHi there<|im_end|>\n"
            "<|im_start|>user\nHow are you?<|im_end|>\n");
  // Families whose user turn ends in the reply cue render the same.
  EXPECT_EQ(MustRender(TemplateKind::kLlama2, false),
            MustRender(TemplateKind::kLlama2, true));
}

TEST(ChatTemplate, EmptyBosIsOmitted) {
  const std::vector<Message> messages = {{"user", "Hi"}};
  absl::StatusOr<std::string> out =
      Render(TemplateKind::kLlama3, messages, true, {"", "<|eot_id|>"});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out,
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplate, RejectsUnknownRole) {
  const std::vector<Message> messages = {{"user", "Hi"}, {"tool", "42"}};
  for (TemplateKind kind :
       {TemplateKind::kChatml, TemplateKind::kLlama2, TemplateKind::kGemma}) {
    absl::StatusOr<std::string> out =
        Render(kind, messages, true, DefaultSpecialTokens(kind));
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(out.status().message()), HasSubstr("\"tool\""));
  }
}

TEST(ChatTemplate, MergedSystemNeedsAUserMessage) {
  const std::vector<Message> messages = {{"system", "Be brief."}};
  EXPECT_EQ(Render(TemplateKind::kGemma, messages, true, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Families with a system turn render it alone.
  EXPECT_TRUE(Render(TemplateKind::kChatml, messages, true, {}).ok());
}

TEST(ChatTemplate, SeveralSystemMessagesAreJoined) {
  const std::vector<Message> messages = {
      {"system", "A."}, {"system", "B."}, {"user", "Q"}};
  absl::StatusOr<std::string> out =
      Render(TemplateKind::kGemma, messages, false, {});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "<start_of_turn>user\nA.\n\nB.\n\nQ<end_of_turn>\n");
}

TEST(ChatTemplate, NamesRoundTrip) {
  for (TemplateKind kind :
       {TemplateKind::kChatml, TemplateKind::kLlama2, TemplateKind::kLlama3,
        TemplateKind::kMistralV1, TemplateKind::kMistralV3,
        TemplateKind::kMistralV7, TemplateKind::kZephyr, TemplateKind::kPhi3,
        TemplateKind::kGemma}) {
    absl::StatusOr<TemplateKind> parsed =
        ParseTemplateKind(TemplateKindName(kind));
    ASSERT_TRUE(parsed.ok()) << TemplateKindName(kind);
    EXPECT_EQ(*parsed, kind);
  }
  EXPECT_EQ(*ParseTemplateKind("qwen"), TemplateKind::kChatml);
  const absl::Status bad = ParseTemplateKind("vicuna").status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.message()), HasSubstr("mistral-v7"));
}

TEST(ChatTemplate, EndOfTurnStrings) {
  EXPECT_EQ(EndOfTurnStrings(TemplateKind::kChatml, {}),
            std::vector<std::string>{"<|im_end|>"});
  EXPECT_EQ(EndOfTurnStrings(TemplateKind::kMistralV3, {"<s>", "</s>"}),
            std::vector<std::string>{"</s>"});
  EXPECT_TRUE(EndOfTurnStrings(TemplateKind::kLlama2, {}).empty());
}

// Detection from real-looking tokenizer.chat_template strings (abridged from
// the models' tokenizer_config.json files).
struct DetectCase {
  const char* model;
  const char* jinja;
  TemplateKind expected;
};

class ChatTemplateDetect : public ::testing::TestWithParam<DetectCase> {};

TEST_P(ChatTemplateDetect, RecognisesFamily) {
  const std::optional<TemplateKind> kind = DetectTemplateKind(GetParam().jinja);
  ASSERT_TRUE(kind.has_value()) << GetParam().model;
  EXPECT_EQ(*kind, GetParam().expected) << GetParam().model;
}

INSTANTIATE_TEST_SUITE_P(Models, ChatTemplateDetect,
                         ::testing::
                             Values(
                                 DetectCase{
                                     "qwen2",
                                     R"JINJA({% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system
You are a helpful assistant.<|im_end|>
' }}{% endif %}{{'<|im_start|>' + message['role'] + '
' + message['content'] + '<|im_end|>' + '
'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant
' }}{% endif %})JINJA",
                                     TemplateKind::kChatml},
                                 DetectCase{
                                     "llama2",
                                     R"JINJA({% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %})JINJA",
                                     TemplateKind::kLlama2},
                                 DetectCase{
                                     "llama3",
                                     R"JINJA({% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>

'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>

' }}{% endif %})JINJA",
                                     TemplateKind::kLlama3},
                                 DetectCase{
                                     "mistral-7b-instruct-v0.2",
                                     R"JINJA({{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %})JINJA",
                                     TemplateKind::kMistralV1},
                                 DetectCase{
                                     "mistral-7b-instruct-v0.3",
                                     R"JINJA({%- if messages[0]["role"] == "system" %}{%- set system_message = messages[0]["content"] %}{%- set loop_messages = messages[1:] %}{%- else %}{%- set loop_messages = messages %}{%- endif %}{{- bos_token }}{%- for message in loop_messages %}{%- if message["role"] == "user" %}{%- if tools is not none and (message == user_messages[-1]) %}{{- "[AVAILABLE_TOOLS] [" }}{%- endif %}{%- if loop.last and system_message is defined %}{{- "[INST] " + system_message + "\n\n" + message["content"] + "[/INST]" }}{%- else %}{{- "[INST] " + message["content"] + "[/INST]" }}{%- endif %}{%- elif message["role"] == "assistant" %}{{- " " + message["content"]|trim + eos_token}}{%- endif %}{%- endfor %})JINJA", TemplateKind::kMistralV3},
                                 DetectCase{
                                     "mistral-large-2411",
                                     R"JINJA({{- bos_token }}{%- for message in messages %}{%- if message['role'] == 'user' %}{{- '[INST] ' + message['content'] + '[/INST]' }}{%- elif message['role'] == 'system' %}{{- '[SYSTEM_PROMPT] ' + message['content'] + '[/SYSTEM_PROMPT]' }}{%- elif message['role'] == 'assistant' %}{{- ' ' + message['content'] + eos_token }}{%- endif %}{%- endfor %})JINJA",
                                     TemplateKind::kMistralV7},
                                 DetectCase{
                                     "zephyr-7b-beta",
                                     R"JINJA({% for message in messages %}
{% if message['role'] == 'user' %}
{{ '<|user|>
' + message['content'] + eos_token }}
{% elif message['role'] == 'system' %}
{{ '<|system|>
' + message['content'] + eos_token }}
{% elif message['role'] == 'assistant' %}
{{ '<|assistant|>
'  + message['content'] + eos_token }}
{% endif %}
{% if loop.last and add_generation_prompt %}
{{ '<|assistant|>' }}
{% endif %}
{% endfor %})JINJA",
                                     TemplateKind::kZephyr},
                                 DetectCase{
                                     "phi-3-mini",
                                     R"JINJA({% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>
' + message['content'] + '<|end|>
'}}{% elif message['role'] == 'user' %}{{'<|user|>
' + message['content'] + '<|end|>
'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>
' + message['content'] + '<|end|>
'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>
' }}{% else %}{{ eos_token }}{% endif %})JINJA",
                                     TemplateKind::kPhi3},
                                 DetectCase{
                                     "gemma-2",
                                     R"JINJA({{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '
' + message['content'] | trim + '<end_of_turn>
' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model
'}}{% endif %})JINJA",
                                     TemplateKind::kGemma},
                                 DetectCase{"by-name", "mistral-v3",
                                            TemplateKind::kMistralV3}),
                         [](const ::testing::TestParamInfo<DetectCase>&
                                param_info) {
                           std::string name = param_info.param.model;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c)))
                               c = '_';
                           }
                           return name;
                         });

TEST(ChatTemplateDetect, UnknownOrAbsentFallsBackToChatml) {
  EXPECT_FALSE(DetectTemplateKind("").has_value());
  const char* vicuna =
      "{% for message in messages %}{% if message['role'] == 'user' %}"
      "{{ 'USER: ' + message['content'] + '\\n' }}{% else %}"
      "{{ 'ASSISTANT: ' + message['content'] + '</s>\\n' }}{% endif %}"
      "{% endfor %}";
  EXPECT_FALSE(DetectTemplateKind(vicuna).has_value());
  EXPECT_EQ(DetectTemplateKindOrFallback(vicuna), TemplateKind::kChatml);
  EXPECT_EQ(DetectTemplateKindOrFallback(""), kFallbackTemplateKind);
  EXPECT_EQ(kFallbackTemplateKind, TemplateKind::kChatml);
}

}  // namespace
}  // namespace triptych::chat
