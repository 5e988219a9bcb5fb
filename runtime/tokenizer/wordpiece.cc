// BERT WordPiece ("bert" vocabularies), following llama.cpp's
// llm_tokenizer_wpm: BertNormalizer-style pre-splitting (lowercase, strip
// accents, split on whitespace, punctuation and CJK ideographs), then
// greedy longest-match-first over each word prefixed with U+2581.

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <memory>

#include "runtime/tokenizer/models.h"
#include "runtime/tokenizer/unicode.h"
#include "runtime/tokenizer/unicode_data.h"

namespace triptych::tokenizer {
namespace {

enum Category : uint32_t {
  kPunctuation = 1,
  kSymbol = 2,
  kMark = 4,
  kControl = 8,
};

// General-category lookup through PCRE2's Unicode tables: one anchored match
// of a single code point against an alternation with one group per class.
class CategoryClassifier {
 public:
  static const CategoryClassifier& Get() {
    static const CategoryClassifier* classifier = new CategoryClassifier();
    return *classifier;
  }

  uint32_t Classify(uint32_t cp) const {
    if (code_ == nullptr) return 0;
    std::string utf8;
    AppendUtf8(cp, &utf8);
    std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
        pcre2_match_data_create(5, nullptr), &pcre2_match_data_free);
    if (match == nullptr) return 0;
    const int rc =
        pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(utf8.data()),
                    utf8.size(), 0, PCRE2_ANCHORED, match.get(), nullptr);
    if (rc < 2) return 0;
    // rc - 1 is the number of the highest group that matched.
    static constexpr uint32_t kByGroup[] = {0, kPunctuation, kSymbol, kMark,
                                            kControl};
    return kByGroup[rc - 1];
  }

 private:
  CategoryClassifier() {
    static constexpr char kPattern[] =
        "(\\p{P})|(\\p{S})|(\\p{M})|([\\p{Cc}\\p{Cf}\\p{Co}\\p{Cs}])";
    int error = 0;
    PCRE2_SIZE offset = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kPattern),
                          PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &error,
                          &offset, nullptr);
  }
  pcre2_code* code_ = nullptr;  // never freed: process-lifetime singleton
};

// Unicode White_Space, as llama.cpp's whitespace set.
bool IsWhitespace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool IsChineseChar(uint32_t cp) {
  // The ranges of BERT's _is_chinese_char (with the Hugging Face quirk of
  // starting Extension E at U+2B920).
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

uint32_t Lookup(const unicode_data::CodepointPair* table, size_t size,
                uint32_t cp) {
  const auto* end = table + size;
  const auto* it = std::lower_bound(
      table, end, cp, [](const unicode_data::CodepointPair& p, uint32_t v) {
        return p.from < v;
      });
  return it != end && it->from == cp ? it->to : cp;
}

uint32_t NfdBase(uint32_t cp) {
  if (cp >= 0xAC00 && cp <= 0xD7A3) return 0x1100 + (cp - 0xAC00) / 588;
  return Lookup(unicode_data::kNfdBase, unicode_data::kNfdBaseSize, cp);
}

uint32_t ToLower(uint32_t cp) {
  return Lookup(unicode_data::kLowercase, unicode_data::kLowercaseSize, cp);
}

}  // namespace

std::vector<std::string> WordPieceModel::PreSplit(std::string_view text) const {
  const CategoryClassifier& classifier = CategoryClassifier::Get();
  std::vector<std::string> words(1);
  for (uint32_t cp : DecodeUtf8Lax(text)) {
    // Stripping accents maps each code point to the base of its canonical
    // decomposition; the marks themselves are dropped below.
    if (strip_accents_) cp = NfdBase(cp);
    if (IsWhitespace(cp)) {
      if (!words.back().empty()) words.emplace_back();
      continue;
    }
    const uint32_t category = classifier.Classify(cp);
    if (cp == 0 || cp == kReplacementChar || (category & kControl)) continue;
    if (strip_accents_ && (category & kMark)) continue;
    std::string s;
    AppendUtf8(lowercase_ ? ToLower(cp) : cp, &s);
    if ((category & kPunctuation) || (cp < 0x7F && (category & kSymbol)) ||
        IsChineseChar(cp)) {
      if (!words.back().empty()) words.emplace_back();
      words.back() = std::move(s);
      words.emplace_back();
    } else {
      words.back() += s;
    }
  }
  if (words.back().empty()) words.pop_back();
  return words;
}

void WordPieceModel::Encode(const TokenTable& table, int32_t unk_id,
                            std::string_view text,
                            std::vector<int32_t>* out) const {
  static constexpr std::string_view kWordStart = "\xE2\x96\x81";  // U+2581
  for (const std::string& word : PreSplit(text)) {
    if (word.empty()) continue;
    const std::string marked = std::string(kWordStart) + word;
    const size_t n = marked.size();
    const size_t before = out->size();
    // Greedy longest match; if some position matches nothing, the whole
    // word becomes the unknown token.
    for (size_t i = 0; i < n;) {
      bool matched = false;
      for (size_t j = std::min(n, i + table.max_token_len + 1); j > i; --j) {
        const int32_t id =
            table.Find(std::string_view(marked).substr(i, j - i));
        if (id >= 0) {
          out->push_back(id);
          matched = true;
          i = j;
          break;
        }
      }
      if (!matched) {
        out->resize(before);
        break;
      }
    }
    if (out->size() == before && unk_id >= 0) out->push_back(unk_id);
  }
}

}  // namespace triptych::tokenizer
