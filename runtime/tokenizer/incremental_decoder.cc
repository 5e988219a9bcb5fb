#include "runtime/tokenizer/incremental_decoder.h"

#include <algorithm>
#include <utility>

#include "runtime/tokenizer/unicode.h"

namespace triptych::tokenizer {

IncrementalDecoder::IncrementalDecoder(const Tokenizer* tokenizer,
                                       bool skip_special, bool continues_text,
                                       std::vector<int32_t> preserved)
    : tokenizer_(tokenizer),
      skip_special_(skip_special),
      preserved_(std::move(preserved)),
      at_start_(!continues_text) {
  std::sort(preserved_.begin(), preserved_.end());
}

std::string IncrementalDecoder::Push(int32_t id) {
  const bool special =
      !skip_special_ ||
      std::binary_search(preserved_.begin(), preserved_.end(), id);
  std::string piece = tokenizer_->TokenToPiece(id, special);
  if (piece.empty()) return std::string();
  // Same leading-space rule as Tokenizer::Decode.
  if (at_start_) {
    at_start_ = false;
    if (tokenizer_->strips_leading_space() && piece[0] == ' ') {
      piece.erase(0, 1);
    }
  }
  pending_ += piece;
  // Emit everything up to a possibly incomplete trailing character; the
  // sanitizer decides each position from the bytes at and after it only, so
  // holding the tail back gives the same result as decoding all at once.
  size_t hold_back = 0;
  std::string out = SanitizeUtf8(pending_, &hold_back);
  pending_.erase(0, pending_.size() - hold_back);
  return out;
}

std::string IncrementalDecoder::Flush() {
  std::string out = SanitizeUtf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace triptych::tokenizer
