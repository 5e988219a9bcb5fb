#include "tools/loadgen/prompt.h"

#include <algorithm>
#include <cctype>
#include <random>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace triptych::loadgen {
namespace {

// Common short words; each is a single token after a space in the usual
// Llama-family and GPT vocabularies (checked per vocabulary when a tokenizer
// is given).
constexpr const char* kWords[] = {
    "the",     "of",     "and",     "to",      "in",      "is",     "that",
    "for",     "it",     "as",      "was",     "with",    "be",     "by",
    "on",      "not",    "he",      "this",    "are",     "or",     "his",
    "from",    "at",     "which",   "but",     "have",    "an",     "had",
    "they",    "you",    "were",    "their",   "one",     "all",    "we",
    "can",     "her",    "has",     "there",   "been",    "if",     "more",
    "when",    "will",   "would",   "who",     "so",      "no",     "out",
    "up",      "into",   "than",    "them",    "time",    "some",   "could",
    "what",    "about",  "other",   "only",    "new",     "these",  "may",
    "first",   "then",   "do",      "any",     "like",    "my",     "now",
    "over",    "such",   "our",     "man",     "me",      "even",   "most",
    "made",    "after",  "also",    "did",     "many",    "before", "must",
    "through", "back",   "years",   "where",   "much",    "your",   "way",
    "well",    "down",   "should",  "because", "each",    "just",   "those",
    "people",  "how",    "too",     "little",  "state",   "good",   "very",
    "make",    "world",  "still",   "own",     "see",     "men",    "work",
    "long",    "get",    "here",    "between", "both",    "life",   "being",
    "under",   "never",  "day",     "same",    "another", "know",   "while",
    "last",    "might",  "us",      "great",   "old",     "year",   "off",
    "come",    "since",  "against", "go",      "came",    "right",  "used",
    "take",    "three",  "small",   "house",   "water",   "school", "light",
    "place",   "form",   "home",    "city",    "power",   "music",  "field",
    "story",   "money",  "night",   "table",   "river",   "paper",  "group",
    "order",   "system", "number",  "point",   "case",    "hand",   "part",
    "child",   "eye",    "woman",   "week",    "company", "month",  "book",
    "name",    "side",   "line",    "end",     "study",   "game",   "car",
    "food",    "area",   "road",    "body",    "door",    "model",  "data",
    "open",    "short",  "high",    "low",     "early",   "young",  "late",
    "big",     "red",    "blue",    "green",   "black",   "white",  "free",
};

}  // namespace

uint64_t MixSeed(uint64_t a, uint64_t b) {
  uint64_t z = a + 0x9e3779b97f4a7c15ULL * (b + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

absl::StatusOr<std::unique_ptr<PromptSynthesizer>> PromptSynthesizer::Create(
    TokenCounter counter) {
  std::vector<std::string> words;
  for (const char* w : kWords) {
    if (counter) {
      // The word must add exactly one token after a word and a space, the
      // position it takes in synthetic text.
      const std::string base = "the";
      if (counter(absl::StrCat(base, " ", w)) != counter(base) + 1) continue;
    }
    words.emplace_back(w);
  }
  if (words.size() < 16) {
    return absl::FailedPreconditionError(absl::StrCat(
        "only ", words.size(),
        " words of the prompt list are single tokens in this vocabulary"));
  }
  return std::unique_ptr<PromptSynthesizer>(
      new PromptSynthesizer(std::move(counter), std::move(words)));
}

std::string PromptSynthesizer::Text(int64_t tokens, uint64_t seed) const {
  std::string out;
  if (tokens <= 0) return out;
  out.reserve(static_cast<size_t>(tokens) * 6);
  std::mt19937_64 rng(seed);
  for (int64_t i = 0; i < tokens; ++i) {
    if (i > 0) out.push_back(' ');
    out += words_[rng() % words_.size()];
  }
  return out;
}

int64_t PromptSynthesizer::CountTokens(std::string_view text) const {
  if (counter_) return counter_(text);
  return EstimateTokens(text);
}

int64_t PromptSynthesizer::EstimateTokens(std::string_view text) {
  int64_t tokens = 0;
  int64_t word_len = 0;
  auto end_word = [&] {
    // Common words are one token; long ones split into ~8-byte pieces.
    if (word_len > 0) tokens += 1 + (word_len - 1) / 8;
    word_len = 0;
  };
  for (unsigned char c : text) {
    if (std::isalnum(c) || c >= 0x80) {
      ++word_len;
      continue;
    }
    end_word();
    if (!std::isspace(c)) ++tokens;  // punctuation is its own token
  }
  end_word();
  return tokens;
}

}  // namespace triptych::loadgen
