#include "runtime/tokenizer/pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace triptych::tokenizer {
namespace {

// The regex lists below are the pre-tokenizer definitions of the respective
// Hugging Face tokenizers as llama.cpp adapted them (tokenizer.json regexes,
// split into sequential passes where llama.cpp does so).

constexpr char kGpt2[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!"
    "\\S)";

// Llama 3 (tiktoken cl100k-style); (?i:...) spelled out as llama.cpp does.
constexpr char kLlama3[] =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}"
    "\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+";

// Qwen2: as Llama 3 but single digits.
constexpr char kQwen2[] =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}"
    "\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!"
    "\\S)|\\s+";

// DeepSeek LLM: letters of cased scripts listed explicitly.
constexpr char kDeepseekLlmLetters[] =
    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}"
    "\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}"
    "\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}"
    "\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-"
    "\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}"
    "\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-"
    "\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}"
    "\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-"
    "\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-"
    "\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-"
    "\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}"
    "\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-"
    "\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}"
    "\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}"
    "\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}"
    "\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-"
    "\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}"
    "\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-"
    "\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}"
    "\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}"
    "\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+";
constexpr char kDeepseekLlmPunct[] =
    "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}"
    "\\x{3001}-\\x{3002}]+";  // U+3000 is whitespace to llama.cpp
constexpr char kCjkHangul[] =
    "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+";

// llama.cpp's whitespace set (Unicode White_Space), for use inside [...].
constexpr char kWhitespaceClass[] =
    "\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}"
    "\\x{202F}\\x{205F}\\x{3000}";

// Rewrites \s and \S to kWhitespaceClass so that PCRE2 agrees with
// llama.cpp on which characters are whitespace.
std::string RewriteWhitespace(std::string_view pattern) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[i + 1];
      if (e == 's') {
        out += in_class ? std::string(kWhitespaceClass)
                        : absl::StrCat("[", kWhitespaceClass, "]");
      } else if (e == 'S' && !in_class) {
        out += absl::StrCat("[^", kWhitespaceClass, "]");
      } else {
        out += c;
        out += e;
      }
      ++i;
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is literal.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

}  // namespace

absl::StatusOr<BpePreTokenizerConfig> BpePreTokenizerFor(std::string_view pre) {
  BpePreTokenizerConfig c;
  if (pre.empty() || pre == "default") {
    c.patterns = {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+",
                  "[0-9][0-9][0-9]"};
  } else if (pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" ||
             pre == "falcon3" || pre == "pixtral" || pre == "dbrx" ||
             pre == "smaug-bpe") {
    c.patterns = {kLlama3};
    const bool llama3_family = pre != "dbrx" && pre != "smaug-bpe";
    c.ignore_merges = llama3_family;
    c.force_add_bos = llama3_family;
  } else if (pre == "qwen2" || pre == "deepseek-r1-qwen" || pre == "megrez" ||
             pre == "stablelm2") {
    c.patterns = {kQwen2};
    c.clean_spaces = pre == "stablelm2";
  } else if (pre == "deepseek-llm") {
    c.patterns = {"[\\r\\n]", kDeepseekLlmLetters, kDeepseekLlmPunct,
                  "\\s+$",    kCjkHangul,          "\\p{N}+"};
    c.clean_spaces = false;
  } else if (pre == "deepseek-coder") {
    c.patterns = {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", kCjkHangul,
                  "\\p{N}"};
    c.clean_spaces = false;
  } else if (pre == "falcon") {
    c.patterns = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2, "[0-9][0-9][0-9]"};
  } else if (pre == "starcoder" || pre == "refact" || pre == "command-r" ||
             pre == "smollm" || pre == "codeshell" || pre == "exaone") {
    c.patterns = {"\\p{N}", kGpt2};
    c.clean_spaces = !(pre == "command-r" || pre == "smollm");
  } else if (pre == "gpt-2" || pre == "phi-2" || pre == "mpt" ||
             pre == "olmo" || pre == "jais" || pre == "jina-es" ||
             pre == "jina-de" || pre == "jina-v2-es" || pre == "jina-v2-de" ||
             pre == "roberta-bpe") {
    c.patterns = {kGpt2};
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "unsupported pre-tokenizer type '", std::string(pre), "'"));
  }
  return c;
}

struct PreTokenizer::Impl {
  std::vector<pcre2_code*> codes;
  ~Impl() {
    for (pcre2_code* code : codes) pcre2_code_free(code);
  }
};

PreTokenizer::PreTokenizer(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
PreTokenizer::~PreTokenizer() = default;

absl::StatusOr<std::unique_ptr<PreTokenizer>> PreTokenizer::Create(
    const std::vector<std::string>& patterns) {
  auto impl = std::make_unique<Impl>();
  for (const std::string& pattern : patterns) {
    const std::string rewritten = RewriteWhitespace(pattern);
    int error = 0;
    PCRE2_SIZE error_offset = 0;
    pcre2_code* code = pcre2_compile(
        reinterpret_cast<PCRE2_SPTR>(rewritten.data()), rewritten.size(),
        PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &error, &error_offset,
        nullptr);
    if (code == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof(message));
      return absl::InvalidArgumentError(absl::StrCat(
          "pre-tokenizer regex '", pattern, "' does not compile at offset ",
          error_offset, ": ", reinterpret_cast<const char*>(message)));
    }
    // JIT is an optimisation only; the interpreter is used when it fails.
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    impl->codes.push_back(code);
  }
  return std::unique_ptr<PreTokenizer>(new PreTokenizer(std::move(impl)));
}

std::vector<std::string_view> PreTokenizer::Split(std::string_view text) const {
  std::vector<std::string_view> pieces;
  if (text.empty()) return pieces;
  pieces.push_back(text);
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
      pcre2_match_data_create(1, nullptr), &pcre2_match_data_free);
  if (match == nullptr) return pieces;  // out of memory: no split
  std::vector<std::string_view> next;
  for (pcre2_code* code : impl_->codes) {
    next.clear();
    next.reserve(pieces.size() * 2);
    for (std::string_view piece : pieces) {
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
      size_t gap_start = 0;  // start of text not yet emitted
      size_t pos = 0;        // where the next search starts
      while (pos < piece.size()) {
        const int rc = pcre2_match(code, subject, piece.size(), pos,
                                   PCRE2_NO_UTF_CHECK, match.get(), nullptr);
        if (rc < 0) break;  // no match (or a matcher limit): rest is a gap
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match.get());
        const size_t begin = ov[0], end = ov[1];
        if (end <= begin) {
          // Empty match: produces no piece; step over one character.
          pos = begin + 1;
          while (pos < piece.size() &&
                 (static_cast<uint8_t>(piece[pos]) & 0xC0) == 0x80) {
            ++pos;
          }
          continue;
        }
        if (begin > gap_start) {
          next.push_back(piece.substr(gap_start, begin - gap_start));
        }
        next.push_back(piece.substr(begin, end - begin));
        gap_start = pos = end;
      }
      if (gap_start < piece.size()) next.push_back(piece.substr(gap_start));
    }
    pieces.swap(next);
  }
  return pieces;
}

}  // namespace triptych::tokenizer
