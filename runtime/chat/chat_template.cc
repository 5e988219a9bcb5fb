#include "runtime/chat/chat_template.h"

#include <cstddef>
#include <string>
#include <utility>

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

// The prompt being rendered: template text (trusted) and message contents
// (untrusted), with the byte ranges of the latter.
class Out {
 public:
  Out& Lit(absl::string_view s) {
    text_.append(s.data(), s.size());
    return *this;
  }
  Out& Content(absl::string_view s) {
    const size_t at = text_.size();
    text_.append(s.data(), s.size());
    if (s.empty()) return *this;
    if (!untrusted_.empty() && untrusted_.back().end == at) {
      untrusted_.back().end = text_.size();
    } else {
      untrusted_.push_back(ByteRange{at, text_.size()});
    }
    return *this;
  }
  RenderedPrompt Take() {
    return RenderedPrompt{std::move(text_), std::move(untrusted_)};
  }

 private:
  std::string text_;
  std::vector<ByteRange> untrusted_;
};

// The system prompt prefix for turn `i`, or "" when it carries none.
// (absl::string_view: this Abseil's StrCat does not take std::string_view.)
absl::string_view SystemFor(const Prepared& p, size_t i) {
  return (!p.system.empty() && i == p.system_turn) ? absl::string_view(p.system)
                                                   : absl::string_view();
}

// Roles are validated (system, user, assistant) and written as template
// text; contents are untrusted.
void RenderChatml(const Prepared& p, bool gen, Out& out) {
  for (const Message* m : p.turns) {
    out.Lit("<|im_start|>")
        .Lit(m->role)
        .Lit("\n")
        .Content(m->content)
        .Lit("<|im_end|>\n");
  }
  if (gen) out.Lit("<|im_start|>assistant\n");
}

// meta-llama/Llama-2-*-chat: BOS before every [INST], contents stripped.
void RenderLlama2(const Prepared& p, const SpecialTokens& t, Out& out) {
  for (size_t i = 0; i < p.turns.size(); ++i) {
    const Message& m = *p.turns[i];
    if (m.role == "user") {
      out.Lit(t.bos).Lit("[INST] ");
      if (absl::string_view sys = SystemFor(p, i); !sys.empty()) {
        out.Lit("<<SYS>>\n").Content(Trim(sys)).Lit("\n<</SYS>>\n\n");
      }
      out.Content(Trim(m.content)).Lit(" [/INST]");
    } else {
      out.Lit(" ").Content(Trim(m.content)).Lit(" ").Lit(t.eos);
    }
  }
}

void RenderLlama3(const Prepared& p, bool gen, const SpecialTokens& t,
                  Out& out) {
  out.Lit(t.bos);
  for (const Message* m : p.turns) {
    out.Lit("<|start_header_id|>")
        .Lit(m->role)
        .Lit("<|end_header_id|>\n\n")
        .Content(Trim(m->content))
        .Lit("<|eot_id|>");
  }
  if (gen) out.Lit("<|start_header_id|>assistant<|end_header_id|>\n\n");
}

// Mistral's v1 / v3 tokenizer templates (mistralai cookbook): v1 has a space
// before [INST] and [/INST], v3 only after [INST]; both put a space before
// the reply.
void RenderMistralV1V3(const Prepared& p, bool v1, const SpecialTokens& t,
                       Out& out) {
  out.Lit(t.bos);
  for (size_t i = 0; i < p.turns.size(); ++i) {
    const Message& m = *p.turns[i];
    if (m.role == "user") {
      out.Lit(v1 ? " [INST] " : "[INST] ");
      if (absl::string_view sys = SystemFor(p, i); !sys.empty()) {
        out.Content(sys).Lit("\n\n");
      }
      out.Content(m.content).Lit(v1 ? " [/INST]" : "[/INST]");
    } else {
      out.Lit(" ").Content(v1 ? m.content : Trim(m.content)).Lit(t.eos);
    }
  }
}

// Mistral v7 (Mistral Large 2411): system prompts are turns of their own.
void RenderMistralV7(const Prepared& p, const SpecialTokens& t, Out& out) {
  out.Lit(t.bos);
  for (const Message* m : p.turns) {
    if (m->role == "system") {
      out.Lit("[SYSTEM_PROMPT] ").Content(m->content).Lit("[/SYSTEM_PROMPT]");
    } else if (m->role == "user") {
      out.Lit("[INST] ").Content(m->content).Lit("[/INST]");
    } else {
      out.Lit(" ").Content(m->content).Lit(t.eos);
    }
  }
}

// Zephyr ends every turn with EOS; Phi-3 with <|end|>.
void RenderPipeRoles(const Prepared& p, bool gen, absl::string_view end_of_turn,
                     Out& out) {
  for (const Message* m : p.turns) {
    out.Lit("<|")
        .Lit(m->role)
        .Lit("|>\n")
        .Content(m->content)
        .Lit(end_of_turn)
        .Lit("\n");
  }
  if (gen) out.Lit("<|assistant|>\n");
}

// Gemma has no system role: the system prompt opens the first user turn.
void RenderGemma(const Prepared& p, bool gen, const SpecialTokens& t,
                 Out& out) {
  out.Lit(t.bos);
  for (size_t i = 0; i < p.turns.size(); ++i) {
    const Message& m = *p.turns[i];
    const bool is_user = m.role == "user";
    out.Lit("<start_of_turn>").Lit(is_user ? "user" : "model").Lit("\n");
    if (absl::string_view sys = SystemFor(p, i); !sys.empty()) {
      out.Content(Trim(sys)).Lit("\n\n");
    }
    out.Content(Trim(m.content)).Lit("<end_of_turn>\n");
  }
  if (gen) out.Lit("<start_of_turn>model\n");
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
  absl::StatusOr<RenderedPrompt> r =
      RenderWithProvenance(kind, messages, add_generation_prompt, tokens);
  if (!r.ok()) return r.status();
  return std::move(r->text);
}

absl::StatusOr<RenderedPrompt> RenderWithProvenance(
    TemplateKind kind, absl::Span<const Message> messages,
    bool add_generation_prompt, const SpecialTokens& tokens) {
  absl::StatusOr<Prepared> prepared = Prepare(kind, messages);
  if (!prepared.ok()) return prepared.status();
  const Prepared& p = *prepared;
  const bool gen = add_generation_prompt;
  Out out;
  switch (kind) {
    case TemplateKind::kChatml:
      RenderChatml(p, gen, out);
      break;
    case TemplateKind::kLlama2:
      RenderLlama2(p, tokens, out);
      break;
    case TemplateKind::kLlama3:
      RenderLlama3(p, gen, tokens, out);
      break;
    case TemplateKind::kMistralV1:
      RenderMistralV1V3(p, /*v1=*/true, tokens, out);
      break;
    case TemplateKind::kMistralV3:
      RenderMistralV1V3(p, /*v1=*/false, tokens, out);
      break;
    case TemplateKind::kMistralV7:
      RenderMistralV7(p, tokens, out);
      break;
    case TemplateKind::kZephyr:
      RenderPipeRoles(p, gen, tokens.eos, out);
      break;
    case TemplateKind::kPhi3:
      RenderPipeRoles(p, gen, "<|end|>", out);
      break;
    case TemplateKind::kGemma:
      RenderGemma(p, gen, tokens, out);
      break;
    default:
      return absl::InvalidArgumentError("unknown TemplateKind");
  }
  return out.Take();
}

}  // namespace triptych::chat
