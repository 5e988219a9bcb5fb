#include "runtime/tokenizer/tokenizer.h"

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "runtime/tokenizer/unicode.h"

namespace triptych::tokenizer {
namespace {

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581

uint32_t AttrFromType(int32_t type) {
  switch (static_cast<TokenType>(type)) {
    case TokenType::kUnknown:
      return kAttrUnknown;
    case TokenType::kUnused:
      return kAttrUnused;
    case TokenType::kNormal:
      return kAttrNormal;
    case TokenType::kControl:
      return kAttrControl;
    case TokenType::kUserDefined:
      return kAttrUserDefined;
    case TokenType::kByte:
      return kAttrByte;
    case TokenType::kUndefined:
    default:
      return kAttrUndefined;
  }
}

// C isspace() on the "C" locale, as llama.cpp's lstrip/rstrip use it.
bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
         c == '\r';
}

std::string ReplaceAll(std::string_view s, std::string_view from,
                       std::string_view to) {
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  while (true) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(s.data() + pos, hit - pos);
    out.append(to);
    pos = hit + from.size();
  }
  out.append(s.data() + pos, s.size() - pos);
  return out;
}

// The byte of a "<0xNN>" token, or -1.
int ParseByteToken(std::string_view text) {
  if (text.size() != 6 || !text.starts_with("<0x") || text[5] != '>') {
    return -1;
  }
  int value = 0;
  for (char c : text.substr(3, 2)) {
    value <<= 4;
    if (c >= '0' && c <= '9') {
      value |= c - '0';
    } else if (c >= 'A' && c <= 'F') {
      value |= c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      value |= c - 'a' + 10;
    } else {
      return -1;
    }
  }
  return value;
}

// Texts llama.cpp recognises as end-of-turn / end-of-generation tokens when
// the metadata does not name them, in the order they are preferred here.
constexpr std::string_view kEotTexts[] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "<\xEF\xBD\x9C"
    "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
    "<end_of_utterance>"};
constexpr std::string_view kEomTexts[] = {"<|eom_id|>"};
// OpenAI harmony (gpt-oss): a reply ends with <|return|> (the answer) or
// <|call|> (a tool call); its <|end|> only closes one message (the
// analysis channel before the final one) and must not end generation. As
// llama.cpp does, a vocabulary with all three drops <|end|> from the
// end-of-generation set.
constexpr std::string_view kHarmonyEogTexts[] = {"<|return|>", "<|call|>"};
// FIM pad / repo / file-separator tokens also end generation.
constexpr std::string_view kFimEogTexts[] = {
    "<|fim_pad|>",   "<fim-pad>",  "<fim_pad>", "<PAD>",      "<|fim_repo|>",
    "<|repo_name|>", "<fim-repo>", "<REPO>",    "<reponame>", "<|file_sep|>"};

}  // namespace

Tokenizer::~Tokenizer() = default;

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Create(Vocab vocab) {
  auto tokenizer = std::unique_ptr<Tokenizer>(new Tokenizer());
  RETURN_IF_ERROR(tokenizer->Init(std::move(vocab)));
  return tokenizer;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromGguf(
    const gguf::GgufFile& file) {
  ASSIGN_OR_RETURN(Vocab vocab, VocabFromGguf(file));
  return Create(std::move(vocab));
}

absl::Status Tokenizer::Init(Vocab vocab) {
  const size_t n = vocab.tokens.size();
  if (n == 0) return absl::InvalidArgumentError("vocabulary is empty");
  if (n > static_cast<size_t>(INT32_MAX)) {
    return absl::InvalidArgumentError("vocabulary is too large");
  }
  if (!vocab.scores.empty() && vocab.scores.size() != n) {
    return absl::InvalidArgumentError("scores and tokens differ in length");
  }
  if (!vocab.token_types.empty() && vocab.token_types.size() != n) {
    return absl::InvalidArgumentError(
        "token types and tokens differ in length");
  }
  model_ = vocab.model;
  pre_ = vocab.pre;

  // Per-model defaults, as llama.cpp's llama_vocab::load.
  int32_t bos = -1, eos = -1, unk = -1, sep = -1;
  BpePreTokenizerConfig pre_config;
  if (model_ == "llama") {
    kind_ = Kind::kSpm;
    bos = 1, eos = 2, unk = 0;
    add_space_prefix_ = true;
    add_bos_ = true;
  } else if (model_ == "gpt2") {
    kind_ = Kind::kBpe;
    bos = 11, eos = 11;
    ASSIGN_OR_RETURN(pre_config, BpePreTokenizerFor(pre_));
    add_bos_ = pre_config.force_add_bos;
  } else if (model_ == "bert") {
    kind_ = Kind::kWordPiece;
    bos = 101, unk = 100, sep = 102;
    add_bos_ = true;
    add_sep_ = true;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported tokenizer model '", model_, "'"));
  }
  auto in_range = [n](int32_t id) {
    return id >= 0 && static_cast<size_t>(id) < n ? id : -1;
  };
  bos_id_ = in_range(vocab.bos_id.value_or(bos));
  eos_id_ = in_range(vocab.eos_id.value_or(eos));
  unk_id_ = in_range(vocab.unk_id.value_or(unk));
  sep_id_ = in_range(vocab.sep_id.value_or(sep));
  eot_id_ = in_range(vocab.eot_id.value_or(-1));
  eom_id_ = in_range(vocab.eom_id.value_or(-1));
  add_bos_ = vocab.add_bos.value_or(add_bos_);
  add_eos_ = vocab.add_eos.value_or(add_eos_);
  add_sep_ = vocab.add_sep.value_or(add_sep_);
  add_space_prefix_ = vocab.add_space_prefix.value_or(add_space_prefix_);
  if (add_bos_ && bos_id_ < 0) {
    return absl::InvalidArgumentError("add_bos_token is set but no BOS id");
  }
  if (add_eos_ && eos_id_ < 0) {
    return absl::InvalidArgumentError("add_eos_token is set but no EOS id");
  }

  // Token table.
  table_.text = std::move(vocab.tokens);
  table_.score = std::move(vocab.scores);
  table_.score.resize(n, 0.0f);
  table_.attr.resize(n, kAttrNormal);
  table_.ids.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (!vocab.token_types.empty()) {
      table_.attr[i] = AttrFromType(vocab.token_types[i]);
    }
    std::string& text = table_.text[i];
    if (text.empty()) text = absl::StrCat("[EMPTY_", i, "]");
    table_.max_token_len = std::max(table_.max_token_len, text.size());
    if (!table_.ids.emplace(text, static_cast<int32_t>(i)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("duplicate token '", text, "' at id ", i));
    }
  }

  // End-of-generation tokens; llama.cpp also marks them as control.
  auto find_first = [&](absl::Span<const std::string_view> texts) {
    for (std::string_view t : texts) {
      const int32_t id = table_.Find(t);
      if (id >= 0) return id;
    }
    return -1;
  };
  if (eot_id_ < 0) eot_id_ = find_first(kEotTexts);
  if (eom_id_ < 0) eom_id_ = find_first(kEomTexts);
  auto add_eog = [&](int32_t id) {
    if (id < 0) return;
    eog_ids_.insert(id);
  };
  for (auto texts : {absl::Span<const std::string_view>(kEotTexts),
                     absl::Span<const std::string_view>(kEomTexts),
                     absl::Span<const std::string_view>(kFimEogTexts),
                     absl::Span<const std::string_view>(kHarmonyEogTexts)}) {
    for (std::string_view t : texts) {
      const int32_t id = table_.Find(t);
      if (id < 0) continue;
      add_eog(id);
      table_.attr[id] |= kAttrControl;
    }
  }
  add_eog(eos_id_);
  add_eog(eot_id_);
  add_eog(eom_id_);
  if (const int32_t end = table_.Find("<|end|>"),
      ret = table_.Find(kHarmonyEogTexts[0]);
      end >= 0 && ret >= 0 && table_.Find(kHarmonyEogTexts[1]) >= 0) {
    eog_ids_.erase(end);
    if (eot_id_ == end) eot_id_ = ret;
  }

  // Tokens cut out of the text before segmentation, longest first. The
  // same (unstable) std::sort over ids in ascending order as llama.cpp, so
  // ties between equally long tokens resolve identically.
  for (int32_t id = 0; id < static_cast<int32_t>(n); ++id) {
    if (table_.attr[id] & (kAttrControl | kAttrUserDefined | kAttrUnknown)) {
      special_tokens_.push_back(id);
    }
  }
  std::sort(special_tokens_.begin(), special_tokens_.end(),
            [this](int32_t a, int32_t b) {
              return table_.text[a].size() > table_.text[b].size();
            });

  // Phi-3: special tokens swallow the whitespace to their right.
  const std::string name = absl::AsciiStrToLower(vocab.name);
  if (absl::StrContains(name, "phi-3") || absl::StrContains(name, "phi3")) {
    for (int32_t id : special_tokens_) table_.attr[id] |= kAttrRstrip;
    if (int32_t id = table_.Find("</s>"); id >= 0) {
      table_.attr[id] |= kAttrRstrip;
    }
    for (std::string_view t : {"<unk>", "<s>", "<|endoftext|>"}) {
      if (int32_t id = table_.Find(t); id >= 0) {
        table_.attr[id] &= ~kAttrRstrip;
      }
    }
  }

  switch (kind_) {
    case Kind::kBpe: {
      ASSIGN_OR_RETURN(bpe_, BpeModel::Create(vocab.merges, pre_config));
      break;
    }
    case Kind::kWordPiece:
      wordpiece_ = std::make_unique<WordPieceModel>(/*lowercase=*/true,
                                                    /*strip_accents=*/true);
      break;
    case Kind::kSpm:
      break;
  }

  pieces_.reserve(n);
  for (int32_t id = 0; id < static_cast<int32_t>(n); ++id) {
    pieces_.push_back(PieceFor(id));
  }
  return absl::OkStatus();
}

std::string Tokenizer::PieceFor(int32_t id) const {
  const std::string& text = table_.text[id];
  const uint32_t attr = table_.attr[id];
  if (attr & (kAttrUnknown | kAttrControl | kAttrUserDefined)) return text;
  if (attr & kAttrByte) {
    const int byte = ParseByteToken(text);
    return byte < 0 ? std::string() : std::string(1, static_cast<char>(byte));
  }
  if (!(attr & kAttrNormal)) return std::string();  // unused / undefined
  if (kind_ != Kind::kBpe) {
    return ReplaceAll(text, kSpaceMarker, " ");
  }
  // Byte-level BPE: every code point stands for one byte. A code point
  // outside the table (malformed vocabulary) is kept as its UTF-8 text.
  std::string out;
  const std::vector<uint32_t> cps = DecodeUtf8Lax(text);
  for (uint32_t cp : cps) {
    if (std::optional<uint8_t> b = UnicodeToByte(cp); b.has_value()) {
      out.push_back(static_cast<char>(*b));
    } else {
      AppendUtf8(cp, &out);
    }
  }
  return out;
}

std::vector<Tokenizer::Fragment> Tokenizer::Partition(
    std::string_view text, bool parse_special,
    const std::vector<TextRange>* allowed) const {
  std::vector<Fragment> fragments;
  if (text.empty()) return fragments;
  fragments.push_back(Fragment{-1, 0, text.size()});

  // Cheap filter: which bytes and byte pairs occur in the text. Most
  // special tokens can then be skipped without a substring search.
  std::vector<uint64_t> pairs(65536 / 64, 0);
  std::vector<uint64_t> bytes(4, 0);
  for (size_t i = 0; i < text.size(); ++i) {
    const uint8_t b = static_cast<uint8_t>(text[i]);
    bytes[b >> 6] |= uint64_t{1} << (b & 63);
    if (i + 1 < text.size()) {
      const uint32_t p = (uint32_t{b} << 8) | static_cast<uint8_t>(text[i + 1]);
      pairs[p >> 6] |= uint64_t{1} << (p & 63);
    }
  }
  auto may_occur = [&](std::string_view t) {
    const uint8_t b0 = static_cast<uint8_t>(t[0]);
    if (t.size() == 1) return (bytes[b0 >> 6] >> (b0 & 63)) & 1;
    const uint32_t p = (uint32_t{b0} << 8) | static_cast<uint8_t>(t[1]);
    return (pairs[p >> 6] >> (p & 63)) & 1;
  };

  // Whether [begin, end) lies inside one range of `allowed`.
  auto inside_allowed = [allowed](size_t begin, size_t end) {
    auto it = std::upper_bound(
        allowed->begin(), allowed->end(), begin,
        [](size_t b, const TextRange& r) { return b < r.begin; });
    return it != allowed->begin() && std::prev(it)->end >= end;
  };

  std::vector<Fragment> next;
  for (int32_t id : special_tokens_) {
    const uint32_t attr = table_.attr[id];
    const bool restricted = (attr & (kAttrControl | kAttrUnknown)) != 0;
    if (!parse_special && restricted) continue;
    if (restricted && allowed != nullptr && allowed->empty()) continue;
    const std::string& token = table_.text[id];
    if (token.size() > text.size() || !may_occur(token)) continue;
    next.clear();
    for (const Fragment& fragment : fragments) {
      if (fragment.token >= 0) {
        next.push_back(fragment);
        continue;
      }
      size_t base = fragment.begin;
      size_t size = fragment.size;
      size_t from = base;  // where the search resumes (past skipped matches)
      while (size > 0) {
        const size_t match = text.substr(0, base + size).find(token, from);
        if (match == std::string_view::npos) {
          next.push_back(Fragment{-1, base, size});
          break;
        }
        if (restricted && allowed != nullptr &&
            !inside_allowed(match, match + token.size())) {
          // Untrusted text: the match stays part of the raw run.
          from = match + 1;
          continue;
        }
        size_t left = match - base;
        if (attr & kAttrLstrip) {
          while (left > 0 && IsAsciiSpace(text[base + left - 1])) --left;
        }
        if (left > 0) next.push_back(Fragment{-1, base, left});
        next.push_back(Fragment{id, match, token.size()});
        size_t right_begin = match + token.size();
        size_t right = base + size - right_begin;
        if (attr & kAttrRstrip) {
          while (right > 0 && IsAsciiSpace(text[right_begin])) {
            ++right_begin;
            --right;
          }
        }
        base = right_begin;
        size = right;
        from = base;
      }
    }
    fragments.swap(next);
  }
  return fragments;
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  return EncodeFragments(text, add_special,
                         Partition(text, parse_special, /*allowed=*/nullptr));
}

std::vector<int32_t> Tokenizer::EncodeWithSpecialRanges(
    std::string_view text, bool add_special,
    absl::Span<const TextRange> special_ranges) const {
  // Normalize: clipped, non-empty, sorted, overlapping and adjacent ranges
  // merged (a token may span two adjacent trusted ranges).
  std::vector<TextRange> allowed;
  for (const TextRange& r : special_ranges) {
    const size_t end = std::min(r.end, text.size());
    if (r.begin < end) allowed.push_back(TextRange{r.begin, end});
  }
  std::sort(
      allowed.begin(), allowed.end(),
      [](const TextRange& a, const TextRange& b) { return a.begin < b.begin; });
  size_t kept = 0;
  for (const TextRange& r : allowed) {
    if (kept > 0 && r.begin <= allowed[kept - 1].end) {
      allowed[kept - 1].end = std::max(allowed[kept - 1].end, r.end);
    } else {
      allowed[kept++] = r;
    }
  }
  allowed.resize(kept);
  return EncodeFragments(text, add_special,
                         Partition(text, /*parse_special=*/true, &allowed));
}

std::vector<int32_t> Tokenizer::EncodeFragments(
    std::string_view text, bool add_special,
    const std::vector<Fragment>& fragments) const {
  std::vector<int32_t> out;
  switch (kind_) {
    case Kind::kSpm: {
      if (add_special && add_bos_) out.push_back(bos_id_);
      bool prev_special = true;  // the first fragment gets the space prefix
      std::string escaped;
      for (const Fragment& f : fragments) {
        if (f.token >= 0) {
          out.push_back(f.token);
          prev_special = true;
          continue;
        }
        escaped.clear();
        if (add_space_prefix_ && prev_special) escaped = kSpaceMarker;
        escaped += ReplaceAll(text.substr(f.begin, f.size), " ", kSpaceMarker);
        SpmEncode(table_, unk_id_, escaped, &out);
        prev_special = false;
      }
      if (add_special && add_eos_) out.push_back(eos_id_);
      break;
    }
    case Kind::kBpe: {
      if (add_special && add_bos_) out.push_back(bos_id_);
      for (const Fragment& f : fragments) {
        if (f.token >= 0) {
          out.push_back(f.token);
        } else {
          bpe_->Encode(table_, text.substr(f.begin, f.size), &out);
        }
      }
      if (add_special && add_eos_) out.push_back(eos_id_);
      break;
    }
    case Kind::kWordPiece: {
      if (add_special && add_bos_ && bos_id_ >= 0) out.push_back(bos_id_);
      for (const Fragment& f : fragments) {
        if (f.token >= 0) {
          out.push_back(f.token);
        } else {
          wordpiece_->Encode(table_, unk_id_, text.substr(f.begin, f.size),
                             &out);
        }
      }
      if (add_special && add_sep_ && sep_id_ >= 0) out.push_back(sep_id_);
      break;
    }
  }
  return out;
}

std::string Tokenizer::TokenToPiece(int32_t id, bool special) const {
  if (id < 0 || id >= table_.size()) return std::string();
  if (!special && (table_.attr[id] & (kAttrUnknown | kAttrControl))) {
    return std::string();
  }
  return pieces_[id];
}

std::string Tokenizer::Decode(absl::Span<const int32_t> ids,
                              bool skip_special) const {
  std::string raw;
  bool at_start = true;
  for (int32_t id : ids) {
    std::string piece = TokenToPiece(id, /*special=*/!skip_special);
    if (piece.empty()) continue;
    if (at_start) {
      at_start = false;
      if (add_space_prefix_ && piece[0] == ' ') piece.erase(0, 1);
    }
    raw += piece;
  }
  return SanitizeUtf8(raw);
}

bool Tokenizer::IsControl(int32_t id) const {
  return id >= 0 && id < table_.size() && (table_.attr[id] & kAttrControl);
}

std::optional<int32_t> Tokenizer::TokenId(std::string_view piece) const {
  const int32_t id = table_.Find(piece);
  if (id < 0) return std::nullopt;
  return id;
}

std::string_view Tokenizer::TokenText(int32_t id) const {
  if (id < 0 || id >= table_.size()) return {};
  return table_.text[id];
}

}  // namespace triptych::tokenizer
