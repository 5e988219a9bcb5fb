#include "runtime/tokenizer/unicode.h"

#include <array>

namespace triptych::tokenizer {
namespace {

bool IsCont(uint8_t b) { return (b & 0xC0) == 0x80; }

struct ByteTables {
  std::array<std::string, 256> byte_to_text;
  std::array<int16_t, 512> cp_to_byte;  // code points 0..511; -1 = none
};

const ByteTables& Tables() {
  static const ByteTables* tables = [] {
    auto* t = new ByteTables();
    t->cp_to_byte.fill(-1);
    std::array<bool, 256> printable{};
    for (int b = 0; b < 256; ++b) {
      printable[b] = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) ||
                     (b >= 0xAE && b <= 0xFF);
    }
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      const uint32_t cp = printable[b] ? b : 256 + next++;
      AppendUtf8(cp, &t->byte_to_text[b]);
      t->cp_to_byte[cp] = static_cast<int16_t>(b);
    }
    return t;
  }();
  return *tables;
}

}  // namespace

size_t Utf8LengthFromLead(uint8_t lead) {
  static constexpr size_t kLookup[16] = {1, 1, 1, 1, 1, 1, 1, 1,
                                         1, 1, 1, 1, 2, 2, 3, 4};
  return kLookup[lead >> 4];
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp <= 0x7F) {
    out->push_back(static_cast<char>(cp));
  } else if (cp <= 0x7FF) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp <= 0xFFFF) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | ((cp >> 18) & 0x07)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::vector<uint32_t> DecodeUtf8Lax(std::string_view text) {
  std::vector<uint32_t> out;
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const uint8_t b0 = p[i];
    uint32_t cp = kReplacementChar;
    size_t len = 1;
    if (b0 < 0x80) {
      cp = b0;
    } else if ((b0 & 0xE0) == 0xC0) {
      if (i + 1 < n && IsCont(p[i + 1])) {
        cp = ((b0 & 0x1F) << 6) | (p[i + 1] & 0x3F);
        len = 2;
      }
    } else if ((b0 & 0xF0) == 0xE0) {
      if (i + 2 < n && IsCont(p[i + 1]) && IsCont(p[i + 2])) {
        cp = ((b0 & 0x0F) << 12) | ((p[i + 1] & 0x3F) << 6) | (p[i + 2] & 0x3F);
        len = 3;
      }
    } else if ((b0 & 0xF8) == 0xF0) {
      if (i + 3 < n && IsCont(p[i + 1]) && IsCont(p[i + 2]) &&
          IsCont(p[i + 3])) {
        cp = ((b0 & 0x07) << 18) | ((p[i + 1] & 0x3F) << 12) |
             ((p[i + 2] & 0x3F) << 6) | (p[i + 3] & 0x3F);
        len = 4;
      }
    }
    // Keep the result encodable as valid UTF-8 (PCRE2 rejects surrogates).
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) cp = kReplacementChar;
    out.push_back(cp);
    i += len;
  }
  return out;
}

std::string NormalizeUtf8Lax(std::string_view text) {
  if (IsValidUtf8(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 8);
  for (uint32_t cp : DecodeUtf8Lax(text)) AppendUtf8(cp, &out);
  return out;
}

Utf8Check CheckUtf8(std::string_view s) {
  Utf8Check r;
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = s.size();
  if (n == 0) return r;
  const uint8_t b0 = p[0];
  if (b0 < 0x80) {
    r.length = 1;
    return r;
  }
  size_t need;
  uint8_t lo = 0x80, hi = 0xBF;  // bounds for the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 == 0xE0) {
    need = 3, lo = 0xA0;
  } else if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) {
    need = 3;
  } else if (b0 == 0xED) {
    need = 3, hi = 0x9F;
  } else if (b0 == 0xF0) {
    need = 4, lo = 0x90;
  } else if (b0 >= 0xF1 && b0 <= 0xF3) {
    need = 4;
  } else if (b0 == 0xF4) {
    need = 4, hi = 0x8F;
  } else {
    r.subpart = 1;
    return r;
  }
  size_t i = 1;
  for (; i < need && i < n; ++i) {
    const uint8_t lo_i = i == 1 ? lo : 0x80;
    const uint8_t hi_i = i == 1 ? hi : 0xBF;
    if (p[i] < lo_i || p[i] > hi_i) {
      r.subpart = i;
      return r;
    }
  }
  if (i < need) {
    r.subpart = i;
    r.truncated = true;
    return r;
  }
  r.length = need;
  return r;
}

std::string SanitizeUtf8(std::string_view s, size_t* hold_back) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  if (hold_back != nullptr) *hold_back = 0;
  while (i < s.size()) {
    const Utf8Check c = CheckUtf8(s.substr(i));
    if (c.length > 0) {
      out.append(s.data() + i, c.length);
      i += c.length;
      continue;
    }
    if (c.truncated && hold_back != nullptr) {
      *hold_back = s.size() - i;
      break;
    }
    AppendUtf8(kReplacementChar, &out);
    i += c.subpart;
  }
  return out;
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const Utf8Check c = CheckUtf8(s.substr(i));
    if (c.length == 0) return false;
    i += c.length;
  }
  return true;
}

const std::string& ByteToUnicode(uint8_t b) { return Tables().byte_to_text[b]; }

std::optional<uint8_t> UnicodeToByte(uint32_t cp) {
  if (cp >= 512) return std::nullopt;
  const int16_t b = Tables().cp_to_byte[cp];
  if (b < 0) return std::nullopt;
  return static_cast<uint8_t>(b);
}

}  // namespace triptych::tokenizer
