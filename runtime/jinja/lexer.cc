// Lexer and recursive-descent parser for the Jinja subset chat templates use,
// following jinja2 3.1's lexer rules for whitespace control: `{%-`/`-%}`
// strip all whitespace on that side, trim_blocks drops the first newline
// after a block or comment tag, lstrip_blocks drops spaces and tabs before a
// block or comment tag that starts a line, `+` disables either; a single
// trailing newline of the source is removed (keep_trailing_newline=False).

#include <cctype>
#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/jinja/lexer.h"

namespace triptych::jinja {
namespace {

absl::Status Error(int line, const std::string& msg) {
  return absl::InvalidArgumentError(absl::StrCat("template syntax error at line ", line, ": ", msg));
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    *out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    *out += static_cast<char>(0xC0 | (cp >> 6));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *out += static_cast<char>(0xE0 | (cp >> 12));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    *out += static_cast<char>(0xF0 | (cp >> 18));
    *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Lexer {
 public:
  explicit Lexer(std::string src) : src_(std::move(src)) {}

  absl::StatusOr<std::vector<Token>> Run() {
    size_t pos = 0;
    const size_t n = src_.size();
    while (pos < n) {
      size_t idx = pos;
      while (true) {
        idx = src_.find('{', idx);
        if (idx == std::string::npos || idx + 1 >= n) {
          idx = n;
          break;
        }
        const char k = src_[idx + 1];
        if (k == '{' || k == '%' || k == '#') break;
        ++idx;
      }
      std::string text = src_.substr(pos, idx - pos);
      const bool line_starting = pos == 0 || src_[pos - 1] == '\n';
      if (idx < n) {
        const char kind = src_[idx + 1];
        const char sign = idx + 2 < n ? src_[idx + 2] : 0;
        if (sign == '-') {
          size_t e = text.size();
          while (e > 0 && IsSpace(text[e - 1])) --e;
          text.resize(e);
        } else if (sign != '+' && kind != '{') {
          const size_t nl = text.rfind('\n');
          const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
          if (l_pos > 0 || line_starting) {
            bool all_ws = l_pos < text.size();
            for (size_t i = l_pos; i < text.size(); ++i)
              if (!IsSpace(text[i])) all_ws = false;
            if (all_ws) text.resize(l_pos);
          }
        }
      }
      if (!text.empty()) Push(Tok::kText, std::move(text), pos);
      Advance(pos, idx);
      pos = idx;
      if (pos >= n) break;
      const char kind = src_[pos + 1];
      pos += 2;
      if (pos < n && (src_[pos] == '-' || src_[pos] == '+')) ++pos;
      if (kind == '#') {
        const size_t end = src_.find("#}", pos);
        if (end == std::string::npos) return Error(line_, "unterminated comment");
        const bool minus = end > pos && src_[end - 1] == '-';
        const bool plus = end > pos && src_[end - 1] == '+';
        size_t after = end + 2;
        Advance(pos, after);
        after = SkipAfterTag(after, minus, !plus);
        pos = after;
        continue;
      }
      const bool is_var = kind == '{';
      tokens_.push_back({is_var ? Tok::kVarBegin : Tok::kBlockBegin, "", Value(), line_});
      auto end = LexExpression(pos, is_var);
      if (!end.ok()) return end.status();
      pos = *end;
      // Raw block: copy until {% endraw %}.
      if (!is_var && tokens_.size() >= 3 && tokens_[tokens_.size() - 2].type == Tok::kName &&
          tokens_[tokens_.size() - 2].text == "raw" && tokens_[tokens_.size() - 3].type == Tok::kBlockBegin) {
        tokens_.resize(tokens_.size() - 3);
        size_t search = pos;
        while (true) {
          const size_t b = src_.find("{%", search);
          if (b == std::string::npos) return Error(line_, "missing endraw");
          size_t q = b + 2;
          const bool minus_before = q < n && src_[q] == '-';
          if (q < n && (src_[q] == '-' || src_[q] == '+')) ++q;
          while (q < n && IsSpace(src_[q])) ++q;
          if (src_.compare(q, 6, "endraw") != 0) {
            search = b + 2;
            continue;
          }
          q += 6;
          while (q < n && IsSpace(src_[q])) ++q;
          bool minus_after = false;
          if (q < n && (src_[q] == '-' || src_[q] == '+')) minus_after = src_[q++] == '-';
          if (src_.compare(q, 2, "%}") != 0) return Error(line_, "malformed endraw");
          std::string body = src_.substr(pos, b - pos);
          if (minus_before) {
            while (!body.empty() && IsSpace(body.back())) body.pop_back();
          }
          if (!body.empty()) Push(Tok::kText, std::move(body), pos);
          Advance(pos, q + 2);
          pos = SkipAfterTag(q + 2, minus_after, true);
          break;
        }
      }
    }
    tokens_.push_back({Tok::kEnd, "", Value(), line_});
    return std::move(tokens_);
  }

 private:
  void Push(Tok t, std::string text, size_t) { tokens_.push_back({t, std::move(text), Value(), line_}); }
  void Advance(size_t from, size_t to) {
    for (size_t i = from; i < to && i < src_.size(); ++i) line_ += src_[i] == '\n';
  }
  // After a tag ends at `pos`: strip all whitespace (minus) or one newline.
  size_t SkipAfterTag(size_t pos, bool minus, bool trim_newline) {
    if (minus) {
      size_t q = pos;
      while (q < src_.size() && IsSpace(src_[q])) ++q;
      Advance(pos, q);
      return q;
    }
    if (trim_newline && pos < src_.size() && src_[pos] == '\n') {
      ++line_;
      return pos + 1;
    }
    return pos;
  }

  absl::StatusOr<size_t> LexExpression(size_t pos, bool is_var) {
    const size_t n = src_.size();
    int depth = 0;
    while (true) {
      while (pos < n && IsSpace(src_[pos])) {
        line_ += src_[pos] == '\n';
        ++pos;
      }
      if (pos >= n) return Error(line_, is_var ? "unexpected end of template, expected '}}'" : "unexpected end of template, expected '%}'");
      if (depth == 0) {
        const char* close = is_var ? "}}" : "%}";
        bool minus = false, plus = false;
        size_t q = pos;
        if (src_[q] == '-' || src_[q] == '+') {
          minus = src_[q] == '-';
          plus = src_[q] == '+';
          ++q;
        }
        if (src_.compare(q, 2, close) == 0 && (!plus || !is_var)) {
          tokens_.push_back({is_var ? Tok::kVarEnd : Tok::kBlockEnd, "", Value(), line_});
          return SkipAfterTag(q + 2, minus, !is_var && !plus);
        }
      }
      const char c = src_[pos];
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t e = pos;
        while (e < n && (std::isalnum(static_cast<unsigned char>(src_[e])) || src_[e] == '_')) ++e;
        tokens_.push_back({Tok::kName, src_.substr(pos, e - pos), Value(), line_});
        pos = e;
        continue;
      }
      if (std::isdigit(static_cast<unsigned char>(c))) {
        size_t e = pos;
        bool is_float = false;
        while (e < n && (std::isdigit(static_cast<unsigned char>(src_[e])) || src_[e] == '_')) ++e;
        if (e + 1 < n && src_[e] == '.' && std::isdigit(static_cast<unsigned char>(src_[e + 1]))) {
          is_float = true;
          ++e;
          while (e < n && std::isdigit(static_cast<unsigned char>(src_[e]))) ++e;
        }
        if (e < n && (src_[e] == 'e' || src_[e] == 'E')) {
          size_t f = e + 1;
          if (f < n && (src_[f] == '+' || src_[f] == '-')) ++f;
          if (f < n && std::isdigit(static_cast<unsigned char>(src_[f]))) {
            is_float = true;
            e = f;
            while (e < n && std::isdigit(static_cast<unsigned char>(src_[e]))) ++e;
          }
        }
        std::string digits;
        for (size_t i = pos; i < e; ++i)
          if (src_[i] != '_') digits += src_[i];
        Token t{is_float ? Tok::kFloat : Tok::kInt, digits, Value(), line_};
        if (is_float) {
          t.value = Value::Float(std::strtod(digits.c_str(), nullptr));
        } else {
          errno = 0;
          const long long v = std::strtoll(digits.c_str(), nullptr, 10);
          if (errno == ERANGE) return Error(line_, "integer literal too large");
          t.value = Value::Int(v);
        }
        tokens_.push_back(std::move(t));
        pos = e;
        continue;
      }
      if (c == '"' || c == '\'') {
        auto s = LexString(&pos);
        if (!s.ok()) return s.status();
        tokens_.push_back({Tok::kString, "", Value::String(std::move(*s)), line_});
        continue;
      }
      static const char* kOps[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">",
                                   "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"};
      bool matched = false;
      for (const char* op : kOps) {
        const size_t len = std::char_traits<char>::length(op);
        if (src_.compare(pos, len, op) == 0) {
          if (op[0] == '(' || op[0] == '[' || op[0] == '{') ++depth;
          if ((op[0] == ')' || op[0] == ']' || op[0] == '}') && depth > 0) --depth;
          tokens_.push_back({Tok::kOp, op, Value(), line_});
          pos += len;
          matched = true;
          break;
        }
      }
      if (!matched) return Error(line_, absl::StrCat("unexpected character '", std::string(1, c), "'"));
    }
  }

  // A Python string literal body with its escapes (\n, \t, \xHH, \uXXXX, ...).
  absl::StatusOr<std::string> LexString(size_t* pos) {
    const char q = src_[*pos];
    size_t i = *pos + 1;
    std::string out;
    while (true) {
      if (i >= src_.size()) return Error(line_, "unterminated string literal");
      const char c = src_[i];
      if (c == q) break;
      if (c == '\n') ++line_;
      if (c != '\\' || i + 1 >= src_.size()) {
        out += c;
        ++i;
        continue;
      }
      const char e = src_[i + 1];
      i += 2;
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'v': out += '\v'; break;
        case '0': out += '\0'; break;
        case '\n': ++line_; break;
        case 'x':
        case 'u':
        case 'U': {
          const int len = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          if (i + len > src_.size()) return Error(line_, "truncated escape in string literal");
          uint32_t cp = 0;
          for (int k = 0; k < len; ++k) {
            const char h = src_[i + k];
            if (!std::isxdigit(static_cast<unsigned char>(h))) return Error(line_, "bad escape in string literal");
            cp = cp * 16 + (std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
          }
          if (cp > 0x10FFFF) return Error(line_, "escape out of range");
          AppendUtf8(cp, &out);
          i += len;
          break;
        }
        default:
          out += '\\';
          out += e;
      }
    }
    *pos = i + 1;
    return out;
  }

  std::string src_;
  std::vector<Token> tokens_;
  int line_ = 1;
};

}  // namespace

absl::StatusOr<std::vector<Token>> Lex(std::string_view source) {
  std::string src;
  src.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      src += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      src += source[i];
    }
  }
  if (!src.empty() && src.back() == '\n') src.pop_back();
  return Lexer(std::move(src)).Run();
}

}  // namespace triptych::jinja
