#include "runtime/chat/chat_template.h"

#include <cstddef>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"

namespace triptych::chat {
namespace {

struct NamedKind {
  const char* name;
  TemplateKind kind;
};

// Canonical names first: TemplateKindName returns the first entry per kind.
constexpr NamedKind kNames[] = {
    {"chatml", TemplateKind::kChatml},
    {"llama2", TemplateKind::kLlama2},
    {"llama3", TemplateKind::kLlama3},
    {"mistral-v1", TemplateKind::kMistralV1},
    {"mistral-v3", TemplateKind::kMistralV3},
    {"mistral-v7", TemplateKind::kMistralV7},
    {"zephyr", TemplateKind::kZephyr},
    {"phi3", TemplateKind::kPhi3},
    {"gemma", TemplateKind::kGemma},
    // Aliases.
    {"qwen", TemplateKind::kChatml},
    {"llama3.1", TemplateKind::kLlama3},
    {"phi-3", TemplateKind::kPhi3},
};

// Where a family that has no system turn puts the system prompt.
enum class SystemPlacement {
  kOwnTurn,    // Rendered as a turn of its own.
  kFirstUser,  // Prepended to the first user message.
  kLastUser,   // Prepended to the last user message.
};

SystemPlacement PlacementFor(TemplateKind kind) {
  switch (kind) {
    case TemplateKind::kLlama2:
    case TemplateKind::kMistralV1:
    case TemplateKind::kGemma:
      return SystemPlacement::kFirstUser;
    case TemplateKind::kMistralV3:
      return SystemPlacement::kLastUser;
    default:
      return SystemPlacement::kOwnTurn;
  }
}

std::string Trim(absl::string_view s) {
  return std::string(absl::StripAsciiWhitespace(s));
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// The conversation after validation, with the system prompt (if the family
// merges it) pulled out and assigned to one user message.
struct Prepared {
  std::vector<const Message*> turns;  // In order; no system for merging kinds.
  std::string system;                 // Merged system prompt, may be empty.
  size_t system_turn = 0;  // Index into `turns` of the user turn carrying it.
};

absl::StatusOr<Prepared> Prepare(TemplateKind kind,
                                 absl::Span<const Message> messages) {
  const SystemPlacement placement = PlacementFor(kind);
  Prepared out;
  std::vector<absl::string_view> system_parts;
  bool has_user = false;
  for (const Message& m : messages) {
    if (m.role != "system" && m.role != "user" && m.role != "assistant") {
      return absl::InvalidArgumentError(
          absl::StrCat("unsupported chat role \"", absl::string_view(m.role),
                       "\"; expected system, user or assistant"));
    }
    if (!m.tool_calls_json.empty()) {
      return absl::InvalidArgumentError(
          "tool calls in messages need the model's own (Jinja) chat template");
    }
    if (m.role == "system" && placement != SystemPlacement::kOwnTurn) {
      system_parts.push_back(m.content);
      continue;
    }
    if (m.role == "user") {
      if (!has_user || placement == SystemPlacement::kLastUser) {
        out.system_turn = out.turns.size();
      }
      has_user = true;
    }
    out.turns.push_back(&m);
  }
  if (!system_parts.empty()) {
    if (!has_user) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the ", std::string(TemplateKindName(kind)),
          " chat template puts the system prompt into a user message, but "
          "the conversation has no user message"));
    }
    out.system = absl::StrJoin(system_parts, "\n\n");
  }
  return out;
}

// The system prompt prefix for turn `i`, or "" when it carries none.
// (absl::string_view: this Abseil's StrCat does not take std::string_view.)
absl::string_view SystemFor(const Prepared& p, size_t i) {
  return (!p.system.empty() && i == p.system_turn) ? absl::string_view(p.system)
                                                   : absl::string_view();
}

std::string RenderChatml(const Prepared& p, bool gen) {
  std::string out;
  for (const Message* m : p.turns) {
    absl::StrAppend(&out, "<|im_start|>", m->role, "\n", m->content,
                    "<|im_end|>\n");
  }
  if (gen) out += "<|im_start|>assistant\n";
  return out;
}

// meta-llama/Llama-2-*-chat: BOS before every [INST], contents stripped.
std::string RenderLlama2(const Prepared& p, const SpecialTokens& t) {
  std::string out;
  for (size_t i = 0; i < p.turns.size(); ++i) {
    const Message& m = *p.turns[i];
    if (m.role == "user") {
      absl::StrAppend(&out, t.bos, "[INST] ");
      if (absl::string_view sys = SystemFor(p, i); !sys.empty()) {
        absl::StrAppend(&out, "<<SYS>>\n", Trim(sys), "\n<</SYS>>\n\n");
      }
      absl::StrAppend(&out, Trim(m.content), " [/INST]");
    } else {
      absl::StrAppend(&out, " ", Trim(m.content), " ", t.eos);
    }
  }
  return out;
}

std::string RenderLlama3(const Prepared& p, bool gen, const SpecialTokens& t) {
  std::string out = t.bos;
  for (const Message* m : p.turns) {
    absl::StrAppend(&out, "<|start_header_id|>", m->role,
                    "<|end_header_id|>\n\n", Trim(m->content), "<|eot_id|>");
  }
  if (gen) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

// Mistral's v1 / v3 tokenizer templates (mistralai cookbook): v1 has a space
// before [INST] and [/INST], v3 only after [INST]; both put a space before
// the reply.
std::string RenderMistralV1V3(const Prepared& p, bool v1,
                              const SpecialTokens& t) {
  std::string out = t.bos;
  for (size_t i = 0; i < p.turns.size(); ++i) {
    const Message& m = *p.turns[i];
    if (m.role == "user") {
      absl::StrAppend(&out, v1 ? " [INST] " : "[INST] ");
      if (absl::string_view sys = SystemFor(p, i); !sys.empty()) {
        absl::StrAppend(&out, sys, "\n\n");
      }
      absl::StrAppend(&out, m.content, v1 ? " [/INST]" : "[/INST]");
    } else {
      absl::StrAppend(&out, " ", v1 ? m.content : Trim(m.content), t.eos);
    }
  }
  return out;
}

// Mistral v7 (Mistral Large 2411): system prompts are turns of their own.
std::string RenderMistralV7(const Prepared& p, const SpecialTokens& t) {
  std::string out = t.bos;
  for (const Message* m : p.turns) {
    if (m->role == "system") {
      absl::StrAppend(&out, "[SYSTEM_PROMPT] ", m->content, "[/SYSTEM_PROMPT]");
    } else if (m->role == "user") {
      absl::StrAppend(&out, "[INST] ", m->content, "[/INST]");
    } else {
      absl::StrAppend(&out, " ", m->content, t.eos);
    }
  }
  return out;
}

// Zephyr ends every turn with EOS; Phi-3 with <|end|>.
std::string RenderPipeRoles(const Prepared& p, bool gen,
                            absl::string_view end_of_turn) {
  std::string out;
  for (const Message* m : p.turns) {
    absl::StrAppend(&out, "<|", m->role, "|>\n", m->content, end_of_turn, "\n");
  }
  if (gen) out += "<|assistant|>\n";
  return out;
}

// Gemma has no system role: the system prompt opens the first user turn.
std::string RenderGemma(const Prepared& p, bool gen, const SpecialTokens& t) {
  std::string out = t.bos;
  for (size_t i = 0; i < p.turns.size(); ++i) {
    const Message& m = *p.turns[i];
    const bool is_user = m.role == "user";
    absl::StrAppend(&out, "<start_of_turn>", is_user ? "user" : "model", "\n");
    if (absl::string_view sys = SystemFor(p, i); !sys.empty()) {
      absl::StrAppend(&out, Trim(sys), "\n\n");
    }
    absl::StrAppend(&out, Trim(m.content), "<end_of_turn>\n");
  }
  if (gen) out += "<start_of_turn>model\n";
  return out;
}

}  // namespace

std::string_view TemplateKindName(TemplateKind kind) {
  for (const NamedKind& n : kNames) {
    if (n.kind == kind) return n.name;
  }
  return "unknown";
}

absl::StatusOr<TemplateKind> ParseTemplateKind(std::string_view name) {
  for (const NamedKind& n : kNames) {
    if (name == n.name) return n.kind;
  }
  std::vector<std::string> names;
  for (const NamedKind& n : kNames) names.push_back(n.name);
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown chat template \"", absl::string_view(name.data(), name.size()),
      "\"; expected one of: ", absl::StrJoin(names, ", ")));
}

std::optional<TemplateKind> DetectTemplateKind(std::string_view jinja) {
  if (absl::StatusOr<TemplateKind> named = ParseTemplateKind(jinja);
      named.ok()) {
    return *named;
  }
  // Order matters: the checks for families that share a marker ([INST],
  // <|user|>) come after the more specific ones.
  if (Contains(jinja, "<|im_start|>")) return TemplateKind::kChatml;
  if (Contains(jinja, "<|start_header_id|>")) return TemplateKind::kLlama3;
  if (Contains(jinja, "<start_of_turn>")) return TemplateKind::kGemma;
  if (Contains(jinja, "[INST]")) {
    if (Contains(jinja, "<<SYS>>")) return TemplateKind::kLlama2;
    if (Contains(jinja, "[SYSTEM_PROMPT]")) return TemplateKind::kMistralV7;
    // v1 (Mistral 7B v0.1/v0.2, Mixtral 8x7B) writes ' [INST] ' or
    // ' [/INST]'; v3 writes "[/INST]" with no space before it.
    if (Contains(jinja, " [INST]") || Contains(jinja, " [/INST]")) {
      return TemplateKind::kMistralV1;
    }
    return TemplateKind::kMistralV3;
  }
  if (Contains(jinja, "<|user|>")) {
    if (Contains(jinja, "<|end|>")) return TemplateKind::kPhi3;
    if (Contains(jinja, "</s>") || Contains(jinja, "eos_token")) {
      return TemplateKind::kZephyr;
    }
  }
  return std::nullopt;
}

TemplateKind DetectTemplateKindOrFallback(std::string_view jinja) {
  return DetectTemplateKind(jinja).value_or(kFallbackTemplateKind);
}

SpecialTokens DefaultSpecialTokens(TemplateKind kind) {
  switch (kind) {
    case TemplateKind::kChatml:
      return {"", "<|im_end|>"};
    case TemplateKind::kLlama3:
      return {"<|begin_of_text|>", "<|eot_id|>"};
    case TemplateKind::kPhi3:
      return {"<s>", "<|endoftext|>"};
    case TemplateKind::kGemma:
      return {"<bos>", "<eos>"};
    case TemplateKind::kLlama2:
    case TemplateKind::kMistralV1:
    case TemplateKind::kMistralV3:
    case TemplateKind::kMistralV7:
    case TemplateKind::kZephyr:
      return {"<s>", "</s>"};
  }
  return {};
}

std::vector<std::string> EndOfTurnStrings(TemplateKind kind,
                                          const SpecialTokens& tokens) {
  switch (kind) {
    case TemplateKind::kChatml:
      return {"<|im_end|>"};
    case TemplateKind::kLlama3:
      return {"<|eot_id|>"};
    case TemplateKind::kPhi3:
      return {"<|end|>"};
    case TemplateKind::kGemma:
      return {"<end_of_turn>"};
    default:
      if (tokens.eos.empty()) return {};
      return {tokens.eos};
  }
}

absl::StatusOr<std::string> Render(TemplateKind kind,
                                   absl::Span<const Message> messages,
                                   bool add_generation_prompt,
                                   const SpecialTokens& tokens) {
  absl::StatusOr<Prepared> prepared = Prepare(kind, messages);
  if (!prepared.ok()) return prepared.status();
  const Prepared& p = *prepared;
  const bool gen = add_generation_prompt;
  switch (kind) {
    case TemplateKind::kChatml:
      return RenderChatml(p, gen);
    case TemplateKind::kLlama2:
      return RenderLlama2(p, tokens);
    case TemplateKind::kLlama3:
      return RenderLlama3(p, gen, tokens);
    case TemplateKind::kMistralV1:
      return RenderMistralV1V3(p, /*v1=*/true, tokens);
    case TemplateKind::kMistralV3:
      return RenderMistralV1V3(p, /*v1=*/false, tokens);
    case TemplateKind::kMistralV7:
      return RenderMistralV7(p, tokens);
    case TemplateKind::kZephyr:
      return RenderPipeRoles(p, gen, tokens.eos);
    case TemplateKind::kPhi3:
      return RenderPipeRoles(p, gen, "<|end|>");
    case TemplateKind::kGemma:
      return RenderGemma(p, gen, tokens);
  }
  return absl::InvalidArgumentError("unknown TemplateKind");
}

}  // namespace triptych::chat
