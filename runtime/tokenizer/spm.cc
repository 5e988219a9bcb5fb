// SentencePiece-style BPE ("llama" vocabularies), following llama.cpp's
// llm_tokenizer_spm: start from UTF-8 characters, repeatedly merge the
// adjacent pair whose concatenation is the highest-scoring token (ties: the
// leftmost pair), then map each symbol to a token or to byte tokens.

#include <algorithm>
#include <cstdio>
#include <queue>

#include "runtime/tokenizer/models.h"
#include "runtime/tokenizer/unicode.h"

namespace triptych::tokenizer {
namespace {

struct Symbol {
  int prev;
  int next;
  size_t start;  // byte offset into the text
  size_t n;      // byte length; 0 once merged into its left neighbour
};

struct Bigram {
  int left;
  int right;
  float score;
  size_t size;
};

struct BigramOrder {
  // Max-heap on score; among equal scores the leftmost pair comes first.
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

int32_t ByteToken(const TokenTable& table, uint8_t byte, int32_t unk_id) {
  char hex[8];
  std::snprintf(hex, sizeof(hex), "<0x%02X>", byte);
  int32_t id = table.Find(hex);
  if (id >= 0) return id;
  const char raw = static_cast<char>(byte);
  id = table.Find(std::string_view(&raw, 1));
  return id >= 0 ? id : unk_id;
}

}  // namespace

void SpmEncode(const TokenTable& table, int32_t unk_id, std::string_view text,
               std::vector<int32_t>* out) {
  std::vector<Symbol> symbols;
  symbols.reserve(text.size());
  for (size_t offset = 0; offset < text.size();) {
    const size_t len =
        std::min(Utf8LengthFromLead(static_cast<uint8_t>(text[offset])),
                 text.size() - offset);
    const int index = static_cast<int>(symbols.size());
    symbols.push_back(Symbol{
        index - 1, offset + len == text.size() ? -1 : index + 1, offset, len});
    offset += len;
  }

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const size_t size = symbols[left].n + symbols[right].n;
    const int32_t id = table.Find(text.substr(symbols[left].start, size));
    if (id < 0) return;
    queue.push(Bigram{left, right, table.score[id], size});
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram bigram = queue.top();
    queue.pop();
    Symbol& left = symbols[bigram.left];
    Symbol& right = symbols[bigram.right];
    // Stale entry: one side was merged away since it was queued.
    if (left.n == 0 || right.n == 0 || left.n + right.n != bigram.size) {
      continue;
    }
    left.n += right.n;
    right.n = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = bigram.left;
    try_add(left.prev, bigram.left);
    try_add(bigram.left, left.next);
  }

  if (symbols.empty()) return;
  for (int i = 0; i != -1; i = symbols[i].next) {
    const Symbol& s = symbols[i];
    const std::string_view piece = text.substr(s.start, s.n);
    const int32_t id = table.Find(piece);
    if (id >= 0) {
      out->push_back(id);
      continue;
    }
    for (char c : piece) {
      const int32_t byte_id = ByteToken(table, static_cast<uint8_t>(c), unk_id);
      if (byte_id >= 0) out->push_back(byte_id);
    }
  }
}

}  // namespace triptych::tokenizer
