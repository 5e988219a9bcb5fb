#ifndef TRIPTYCH_RUNTIME_TOKENIZER_UNICODE_H_
#define TRIPTYCH_RUNTIME_TOKENIZER_UNICODE_H_

// UTF-8 and byte-level-BPE helpers shared by the tokenizer models.
//
// Two UTF-8 readers live here on purpose:
//  - the *lax* one reproduces llama.cpp's reader (a lead byte decides the
//    length, an undecodable byte becomes U+FFFD), so that tokenization of
//    untrusted text matches the reference implementation;
//  - the *strict* one (Unicode "maximal subpart" replacement) is used on
//    decoded output so that callers only ever see well-formed UTF-8.
// All functions are pure and thread-safe.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace triptych::tokenizer {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

// Length of the UTF-8 sequence announced by `lead` (1 for ASCII and for stray
// continuation bytes), as llama.cpp's unicode_len_utf8.
size_t Utf8LengthFromLead(uint8_t lead);

// Appends the UTF-8 encoding of `cp` (which must be <= 0x10FFFF).
void AppendUtf8(uint32_t cp, std::string* out);

// Decodes `text` like llama.cpp: an invalid sequence yields U+FFFD and
// consumes one byte. Surrogates and values above U+10FFFF (which llama.cpp
// lets through) are also mapped to U+FFFD so the result always re-encodes to
// valid UTF-8.
std::vector<uint32_t> DecodeUtf8Lax(std::string_view text);

// Re-encodes DecodeUtf8Lax(text): the result is valid UTF-8.
std::string NormalizeUtf8Lax(std::string_view text);

// Strict UTF-8 validation of the sequence starting at `s[0]`.
struct Utf8Check {
  // Length of the well-formed sequence, or 0 if ill-formed.
  size_t length = 0;
  // When ill-formed: number of bytes forming the maximal subpart (>= 1).
  size_t subpart = 0;
  // True when the bytes are a valid but truncated prefix of a sequence
  // (only possible when the input ends early).
  bool truncated = false;
};
Utf8Check CheckUtf8(std::string_view s);

// Replaces every ill-formed subsequence with U+FFFD. When `hold_back` is
// non-null, a truncated-but-valid prefix at the very end is not replaced but
// left unconsumed; *hold_back receives its length.
std::string SanitizeUtf8(std::string_view s, size_t* hold_back = nullptr);

// True when `s` is well-formed UTF-8.
bool IsValidUtf8(std::string_view s);

// GPT-2 byte-to-unicode mapping: the UTF-8 text of the code point standing
// for byte `b` in byte-level BPE vocabularies.
const std::string& ByteToUnicode(uint8_t b);

// Inverse of ByteToUnicode on code points; nullopt when `cp` stands for no
// byte.
std::optional<uint8_t> UnicodeToByte(uint32_t cp);

}  // namespace triptych::tokenizer

#endif  // TRIPTYCH_RUNTIME_TOKENIZER_UNICODE_H_
