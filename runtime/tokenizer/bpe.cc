// Byte-level BPE ("gpt2" vocabularies), following llama.cpp's
// llm_tokenizer_bpe: pre-tokenize with the vocabulary's regexes, map every
// byte of each piece through the GPT-2 byte-to-unicode table, then merge
// adjacent symbols by merge rank (lowest first; ties: leftmost).

#include <queue>
#include <utility>

#include "runtime/tokenizer/models.h"
#include "runtime/tokenizer/unicode.h"

namespace triptych::tokenizer {
namespace {

struct Symbol {
  int prev;
  int next;
  size_t start;
  size_t n;
};

struct Bigram {
  int left;
  int right;
  int32_t rank;
  size_t size;
};

struct BigramOrder {
  // Min-heap on rank; among equal ranks the leftmost pair comes first.
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::Create(
    const std::vector<std::string>& merges,
    const BpePreTokenizerConfig& config) {
  auto model = std::unique_ptr<BpeModel>(new BpeModel());
  auto pre = PreTokenizer::Create(config.patterns);
  if (!pre.ok()) return pre.status();
  model->pre_tokenizer_ = *std::move(pre);
  model->ignore_merges_ = config.ignore_merges;
  model->ranks_.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string& merge = merges[i];
    // As llama.cpp: split at the first space after the first byte, so a
    // merge whose left side is a literal space still parses.
    const size_t pos = merge.find(' ', 1);
    std::string key = pos == std::string::npos ? std::string(" ") : merge;
    model->ranks_.emplace(std::move(key), static_cast<int32_t>(i));
  }
  return model;
}

int32_t BpeModel::Rank(std::string_view left, std::string_view right,
                       std::string* scratch) const {
  scratch->assign(left);
  scratch->push_back(' ');
  scratch->append(right);
  auto it = ranks_.find(*scratch);
  return it == ranks_.end() ? -1 : it->second;
}

void BpeModel::EncodeWord(const TokenTable& table, std::string_view word,
                          std::vector<int32_t>* out) const {
  if (ignore_merges_) {
    const int32_t id = table.Find(word);
    if (id >= 0) {
      out->push_back(id);
      return;
    }
  }
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  for (size_t offset = 0; offset < word.size();) {
    const size_t len =
        std::min(Utf8LengthFromLead(static_cast<uint8_t>(word[offset])),
                 word.size() - offset);
    const int index = static_cast<int>(symbols.size());
    symbols.push_back(Symbol{
        index - 1, offset + len == word.size() ? -1 : index + 1, offset, len});
    offset += len;
  }

  std::string scratch;
  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[left];
    const Symbol& r = symbols[right];
    const int32_t rank =
        Rank(word.substr(l.start, l.n), word.substr(r.start, r.n), &scratch);
    if (rank < 0) return;
    queue.push(Bigram{left, right, rank, l.n + r.n});
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram bigram = queue.top();
    queue.pop();
    Symbol& left = symbols[bigram.left];
    Symbol& right = symbols[bigram.right];
    // Stale entry: one side changed since it was queued. Symbols only grow
    // to the right, so equal sizes mean equal text.
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

  for (const Symbol& s : symbols) {
    if (s.n == 0) continue;
    const std::string_view piece = word.substr(s.start, s.n);
    const int32_t id = table.Find(piece);
    if (id >= 0) {
      out->push_back(id);
      continue;
    }
    // llama.cpp looks each byte of the symbol up as a one-byte token and
    // drops bytes that are none.
    for (size_t j = 0; j < piece.size(); ++j) {
      const int32_t byte_id = table.Find(piece.substr(j, 1));
      if (byte_id >= 0) out->push_back(byte_id);
    }
  }
}

void BpeModel::Encode(const TokenTable& table, std::string_view text,
                      std::vector<int32_t>* out) const {
  // PCRE2 needs valid UTF-8; invalid bytes become U+FFFD as in llama.cpp.
  const std::string normalized = NormalizeUtf8Lax(text);
  std::string encoded;
  for (std::string_view piece : pre_tokenizer_->Split(normalized)) {
    encoded.clear();
    for (char c : piece) encoded += ByteToUnicode(static_cast<uint8_t>(c));
    EncodeWord(table, encoded, out);
  }
}

}  // namespace triptych::tokenizer
