#include "runtime/tokenizer/tokenizer.h"

#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/testing/conformance.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/gguf/gguf_reader.h"
#include "runtime/tokenizer/incremental_decoder.h"
#include "runtime/tokenizer/unicode.h"

namespace triptych::tokenizer {
namespace {

using ::testing::ElementsAre;

// ---------------------------------------------------------------------------
// Golden files: ggml-vocab-<name>.gguf{,.inp,.out} from llama.cpp's
// test-tokenizer-0 (add_special=false, parse_special=false, no BOS).

struct Fixture {
  std::vector<std::string> inputs;
  std::vector<std::vector<int32_t>> expected;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Fixture LoadFixture(const std::string& dir, const std::string& name) {
  const std::string base =
      absl::StrCat(dir, "/tokenizer/ggml-vocab-", name, ".gguf");
  Fixture f;
  const std::string inp = ReadFile(base + ".inp");
  f.inputs = absl::StrSplit(inp, "\n__ggml_vocab_test__\n");
  // The file ends with a separator, leaving one empty trailing element.
  if (!f.inputs.empty() && f.inputs.back().empty()) f.inputs.pop_back();
  const std::string out = ReadFile(base + ".out");
  std::vector<std::string> lines = absl::StrSplit(out, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  for (const std::string& line : lines) {
    std::vector<int32_t> ids;
    for (absl::string_view tok : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
      ids.push_back(std::stoi(std::string(tok)));
    }
    f.expected.push_back(std::move(ids));
  }
  return f;
}

// Tokenizers are costly to build (100k-token vocabularies); build each once.
const Tokenizer* LoadTokenizer(const std::string& path) {
  static std::mutex mu;
  static auto* cache = new std::map<std::string, std::unique_ptr<Tokenizer>>();
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache->find(path);
  if (it != cache->end()) return it->second.get();
  auto file = gguf::GgufFile::Open(path);
  if (!file.ok()) {
    ADD_FAILURE() << path << ": " << file.status();
    return nullptr;
  }
  auto tok = Tokenizer::FromGguf(**file);
  if (!tok.ok()) {
    ADD_FAILURE() << path << ": " << tok.status();
    return nullptr;
  }
  std::unique_ptr<Tokenizer>& slot = (*cache)[path];
  slot = *std::move(tok);
  return slot.get();
}

std::string Escape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

class VocabConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(VocabConformance, EncodesEveryLine) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  const Fixture f = LoadFixture(dir, GetParam());
  ASSERT_EQ(f.inputs.size(), f.expected.size());
  ASSERT_FALSE(f.inputs.empty());
  const Tokenizer* tok = LoadTokenizer(
      absl::StrCat(dir, "/tokenizer/ggml-vocab-", GetParam(), ".gguf"));
  ASSERT_NE(tok, nullptr);
  int failures = 0;
  for (size_t i = 0; i < f.inputs.size(); ++i) {
    const std::vector<int32_t> got =
        tok->Encode(f.inputs[i], /*add_special=*/false,
                    /*parse_special=*/false);
    if (got != f.expected[i]) {
      ++failures;
      ADD_FAILURE() << GetParam() << " line " << i << " \""
                    << Escape(f.inputs[i])
                    << "\"\n  expected: " << absl::StrJoin(f.expected[i], " ")
                    << "\n  got:      " << absl::StrJoin(got, " ");
    }
  }
  EXPECT_EQ(failures, 0) << failures << " of " << f.inputs.size()
                         << " lines differ";
}

TEST_P(VocabConformance, DecodeInvertsEncode) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  if (GetParam() == "bert-bge") GTEST_SKIP() << "WordPiece is lossy";
  const Fixture f = LoadFixture(dir, GetParam());
  const Tokenizer* tok = LoadTokenizer(
      absl::StrCat(dir, "/tokenizer/ggml-vocab-", GetParam(), ".gguf"));
  ASSERT_NE(tok, nullptr);
  for (const std::string& input : f.inputs) {
    const std::vector<int32_t> ids = tok->Encode(input, false, false);
    EXPECT_EQ(tok->Decode(ids), input) << "\"" << Escape(input) << "\"";
    // With BOS, the SPM space prefix must still vanish.
    const std::vector<int32_t> with_bos = tok->Encode(input, true, false);
    EXPECT_EQ(tok->Decode(with_bos), input) << "\"" << Escape(input) << "\"";
  }
}

TEST_P(VocabConformance, IncrementalDecodingMatchesDecode) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  const Fixture f = LoadFixture(dir, GetParam());
  const Tokenizer* tok = LoadTokenizer(
      absl::StrCat(dir, "/tokenizer/ggml-vocab-", GetParam(), ".gguf"));
  ASSERT_NE(tok, nullptr);
  for (size_t i = 0; i < f.inputs.size(); ++i) {
    IncrementalDecoder decoder(tok);
    std::string streamed;
    for (int32_t id : f.expected[i]) {
      const std::string part = decoder.Push(id);
      EXPECT_TRUE(IsValidUtf8(part)) << "line " << i;
      streamed += part;
    }
    const std::string tail = decoder.Flush();
    EXPECT_TRUE(IsValidUtf8(tail));
    streamed += tail;
    EXPECT_EQ(streamed, tok->Decode(f.expected[i])) << "line " << i;
  }
}

TEST_P(VocabConformance, EncodesFromFourThreads) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  const Fixture f = LoadFixture(dir, GetParam());
  const Tokenizer* tok = LoadTokenizer(
      absl::StrCat(dir, "/tokenizer/ggml-vocab-", GetParam(), ".gguf"));
  ASSERT_NE(tok, nullptr);
  std::vector<std::vector<std::vector<int32_t>>> results(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        results[t].clear();
        for (const std::string& input : f.inputs) {
          results[t].push_back(tok->Encode(input, false, false));
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < 4; ++t) {
    for (size_t i = 0; i < f.inputs.size(); ++i) {
      EXPECT_EQ(results[t][i], tok->Encode(f.inputs[i], false, false))
          << "thread " << t << " line " << i;
    }
  }
}

// A control token of the vocabulary (EOS, else BOS, else EOT), or -1.
int32_t SomeControlToken(const Tokenizer& tok) {
  for (int32_t id : {tok.eos_id(), tok.bos_id(), tok.eot_id()}) {
    if (tok.IsControl(id)) return id;
  }
  return -1;
}

// EncodeWithSpecialRanges is Encode when the ranges cover everything (also
// as adjacent pieces) or nothing: every golden line gives the same tokens.
TEST_P(VocabConformance, SpecialRangesGiveEncodesTokens) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  const Fixture f = LoadFixture(dir, GetParam());
  const Tokenizer* tok = LoadTokenizer(
      absl::StrCat(dir, "/tokenizer/ggml-vocab-", GetParam(), ".gguf"));
  ASSERT_NE(tok, nullptr);
  for (size_t i = 0; i < f.inputs.size(); ++i) {
    const std::string& in = f.inputs[i];
    EXPECT_EQ(tok->EncodeWithSpecialRanges(in, false, {}), f.expected[i])
        << "line " << i;
    EXPECT_EQ(tok->EncodeWithSpecialRanges(in, true, {}),
              tok->Encode(in, true, false))
        << "line " << i;
    const std::vector<int32_t> parsed = tok->Encode(in, false, true);
    EXPECT_EQ(tok->EncodeWithSpecialRanges(in, false, {{0, in.size()}}), parsed)
        << "line " << i;
    const size_t cut = in.size() / 3;
    EXPECT_EQ(tok->EncodeWithSpecialRanges(
                  in, false, {{cut, in.size() + 5}, {0, cut}, {0, cut / 2}}),
              parsed)
        << "line " << i;
  }
}

// A control token in untrusted text (between two trusted ones) is plain
// text: the run between the trusted tokens tokenizes as Encode does without
// special parsing, whatever its size.
TEST_P(VocabConformance, ControlTokensOutsideTheRangesArePlainText) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  const Fixture f = LoadFixture(dir, GetParam());
  const Tokenizer* tok = LoadTokenizer(
      absl::StrCat(dir, "/tokenizer/ggml-vocab-", GetParam(), ".gguf"));
  ASSERT_NE(tok, nullptr);
  const int32_t control = SomeControlToken(*tok);
  ASSERT_GE(control, 0);
  const std::string special(tok->TokenText(control));
  ASSERT_EQ(tok->Encode(special, false, true), std::vector<int32_t>{control});
  int checked = 0;
  for (const std::string& input : f.inputs) {
    // Stripping special tokens (lstrip/rstrip) would eat whitespace at the
    // edges; keep to lines without it.
    if (input.empty() || absl::ascii_isspace(input.front()) ||
        absl::ascii_isspace(input.back())) {
      continue;
    }
    const std::string user =
        absl::StrCat(input.substr(0, input.size() / 2), special,
                     input.substr(input.size() / 2));
    const std::string text = absl::StrCat(special, user, special);
    const size_t user_end = special.size() + user.size();
    std::vector<int32_t> expected = {control};
    for (int32_t id : tok->Encode(user, false, false)) expected.push_back(id);
    expected.push_back(control);
    EXPECT_EQ(tok->EncodeWithSpecialRanges(
                  text, false, {{0, special.size()}, {user_end, text.size()}}),
              expected)
        << "\"" << Escape(input) << "\"";
    ++checked;
  }
  EXPECT_GT(checked, 10);
}

INSTANTIATE_TEST_SUITE_P(Golden, VocabConformance,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2",
                                           "deepseek-coder", "deepseek-llm",
                                           "falcon", "starcoder", "refact",
                                           "mpt", "bert-bge"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

TEST(TokenizerGguf, Stories260KAddsBos) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  const Tokenizer* tok =
      LoadTokenizer(absl::StrCat(dir, "/models/stories260K.gguf"));
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->model_type(), "llama");
  EXPECT_EQ(tok->vocab_size(), 512);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_TRUE(tok->add_bos());
  EXPECT_TRUE(tok->IsEog(2));
  const std::vector<int32_t> ids = tok->Encode("Once upon a time", true, false);
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(ids[0], 1);
  EXPECT_EQ(tok->Decode(ids), "Once upon a time");
  // With parse_special, "<s>" in the text is the BOS token.
  EXPECT_THAT(tok->Encode("<s>", false, true), ElementsAre(1));
  EXPECT_NE(tok->Encode("<s>", false, false), std::vector<int32_t>{1});
}

TEST(TokenizerGguf, SpecialTokensAndEog) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  const Tokenizer* tok =
      LoadTokenizer(absl::StrCat(dir, "/tokenizer/ggml-vocab-gpt-2.gguf"));
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->pre_type(), "gpt-2");
  const int32_t eot = *tok->TokenId("<|endoftext|>");
  EXPECT_TRUE(tok->IsEog(eot));
  EXPECT_THAT(tok->Encode("<|endoftext|>", false, true), ElementsAre(eot));
  EXPECT_GT(tok->Encode("<|endoftext|>", false, false).size(), 1u);
  EXPECT_EQ(tok->TokenToPiece(eot), "");
  EXPECT_EQ(tok->TokenToPiece(eot, /*special=*/true), "<|endoftext|>");
  EXPECT_EQ(tok->Decode({eot}, /*skip_special=*/false), "<|endoftext|>");
}

// A match that straddles the edge of a range is skipped and the search goes
// on from its next byte, so a trusted token right after it is still found.
TEST(TokenizerGguf, SpecialRangesSkipMatchesThatLeaveThem) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  const Tokenizer* tok =
      LoadTokenizer(absl::StrCat(dir, "/tokenizer/ggml-vocab-gpt-2.gguf"));
  ASSERT_NE(tok, nullptr);
  const int32_t eot = *tok->TokenId("<|endoftext|>");
  const std::string t = "<|endoftext|>";  // 13 bytes
  // Untrusted "<|endof" + trusted "text|>": the only match straddles.
  EXPECT_EQ(tok->EncodeWithSpecialRanges(t, false, {{7, 13}}),
            tok->Encode(t, false, false));
  // Untrusted "<|endoftext|>" then a trusted one right after it.
  const std::string two = t + t;
  std::vector<int32_t> expected = tok->Encode(t, false, false);
  expected.push_back(eot);
  EXPECT_EQ(tok->EncodeWithSpecialRanges(two, false, {{13, 26}}), expected);
  // An unfinished token in untrusted text, then a trusted one.
  const std::string overlap = "<|endoftext|" + t;
  expected = tok->Encode("<|endoftext|", false, false);
  expected.push_back(eot);
  EXPECT_EQ(tok->EncodeWithSpecialRanges(overlap, false, {{12, 25}}), expected);
  // Ranges past the end are clipped; empty ones ignored.
  EXPECT_EQ(tok->EncodeWithSpecialRanges(t, false, {{0, 100}, {5, 5}}),
            std::vector<int32_t>{eot});
}

TEST(TokenizerGguf, InvalidUtf8DoesNotCrash) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  const std::string bad[] = {"\xff",
                             "a\xc3",
                             "\xe2\x82",
                             "\xed\xa0\x80x",
                             "\xf4\x90\x80\x80",
                             std::string("\0\x80z", 3),
                             "\xc0\xaf ok \xf8\x88\x80\x80\x80"};
  for (const char* name :
       {"llama-spm", "gpt-2", "deepseek-llm", "falcon", "bert-bge"}) {
    const Tokenizer* tok = LoadTokenizer(
        absl::StrCat(dir, "/tokenizer/ggml-vocab-", name, ".gguf"));
    ASSERT_NE(tok, nullptr);
    for (const std::string& s : bad) {
      const std::vector<int32_t> ids = tok->Encode(s, true, true);
      EXPECT_TRUE(IsValidUtf8(tok->Decode(ids))) << name;
    }
  }
}

TEST(TokenizerGguf, LongInputsStayFast) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  // Shapes that are quadratic for naive merge loops or regexes: one long
  // word, a long whitespace run before a digit, many short words.
  std::string word(100000, 'a');
  std::string spaces = std::string(100000, ' ') + "1";
  std::string words;
  for (int i = 0; i < 20000; ++i) words += "hello w\xC3\xB6rld 42 ";
  for (const char* name : {"llama-spm", "gpt-2", "deepseek-llm", "falcon",
                           "starcoder", "bert-bge"}) {
    const Tokenizer* tok = LoadTokenizer(
        absl::StrCat(dir, "/tokenizer/ggml-vocab-", name, ".gguf"));
    ASSERT_NE(tok, nullptr);
    for (const std::string* s : {&word, &spaces, &words}) {
      const auto start = std::chrono::steady_clock::now();
      const std::vector<int32_t> ids = tok->Encode(*s, false, false);
      const double seconds = std::chrono::duration<double>(
                                 std::chrono::steady_clock::now() - start)
                                 .count();
      EXPECT_FALSE(ids.empty());
      // Generous bound: catches quadratic behaviour (minutes), not speed.
      EXPECT_LT(seconds, 5.0) << name << " on " << s->size() << " bytes";
    }
  }
}

TEST(TokenizerGguf, RandomBytesNeverCrash) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  std::mt19937 rng(1234);
  const std::string fragments[] = {
      "<s>",  "</s>", "<|endoftext|>", "  ", "\n",   "\xE2\x96\x81",
      "\xC3", "\xA9", "\xF0\x9F",      "'s", "1234", "\xE4\xBD\xA0"};
  for (const char* name : {"llama-spm", "phi-3", "gpt-2", "mpt", "deepseek-llm",
                           "deepseek-coder", "bert-bge"}) {
    const Tokenizer* tok = LoadTokenizer(
        absl::StrCat(dir, "/tokenizer/ggml-vocab-", name, ".gguf"));
    ASSERT_NE(tok, nullptr);
    for (int iter = 0; iter < 300; ++iter) {
      std::string s;
      const int len = rng() % 24;
      for (int i = 0; i < len; ++i) {
        if (rng() % 3 == 0) {
          s += fragments[rng() % std::size(fragments)];
        } else {
          s += static_cast<char>(rng() % 256);
        }
      }
      for (bool parse_special : {false, true}) {
        const std::vector<int32_t> ids = tok->Encode(s, true, parse_special);
        for (int32_t id : ids) {
          ASSERT_GE(id, 0);
          ASSERT_LT(id, tok->vocab_size());
        }
        const std::string text = tok->Decode(ids, iter % 2 == 0);
        EXPECT_TRUE(IsValidUtf8(text)) << name;
        IncrementalDecoder decoder(tok, iter % 2 == 0);
        std::string streamed;
        for (int32_t id : ids) streamed += decoder.Push(id);
        streamed += decoder.Flush();
        EXPECT_EQ(streamed, text) << name;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Hermetic tests on tiny hand-made vocabularies.

Vocab TinySpm() {
  Vocab v;
  v.model = "llama";
  v.tokens = {"<unk>", "<s>", "</s>"};
  v.token_types = {2, 3, 3};
  v.scores = {0, 0, 0};
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
    v.tokens.push_back(buf);
    v.token_types.push_back(6);
    v.scores.push_back(0);
  }
  const std::pair<const char*, float> normal[] = {{"\xE2\x96\x81", -1},
                                                  {"a", -2},
                                                  {"b", -2},
                                                  {"\xE2\x96\x81"
                                                   "a",
                                                   -1.5},
                                                  {"ab", -1},
                                                  {"\xE2\x96\x81"
                                                   "ab",
                                                   -0.5}};
  for (const auto& [text, score] : normal) {
    v.tokens.push_back(text);
    v.token_types.push_back(1);
    v.scores.push_back(score);
  }
  return v;
}

TEST(Tokenizer, SpmMergesByScoreAndFallsBackToBytes) {
  auto tok = Tokenizer::Create(TinySpm());
  ASSERT_TRUE(tok.ok()) << tok.status();
  const int32_t sp_ab = *(*tok)->TokenId(
      "\xE2\x96\x81"
      "ab");
  EXPECT_THAT((*tok)->Encode("ab", false, false), ElementsAre(sp_ab));
  EXPECT_THAT((*tok)->Encode("ab", true, false), ElementsAre(1, sp_ab));
  // "é" is not a token: two byte tokens.
  const std::vector<int32_t> ids = (*tok)->Encode("\xC3\xA9", false, false);
  EXPECT_THAT(
      ids, ElementsAre(*(*tok)->TokenId("\xE2\x96\x81"), 3 + 0xC3, 3 + 0xA9));
  EXPECT_EQ((*tok)->Decode(ids), "\xC3\xA9");
  // Incremental decoding holds the first byte of "é" back.
  IncrementalDecoder dec(tok->get());
  EXPECT_EQ(dec.Push(ids[0]), "");
  EXPECT_EQ(dec.Push(ids[1]), "");
  EXPECT_EQ(dec.Push(ids[2]), "\xC3\xA9");
  EXPECT_EQ(dec.Flush(), "");
}

TEST(Tokenizer, IncrementalFlushReplacesIncompleteCharacter) {
  auto tok = Tokenizer::Create(TinySpm());
  ASSERT_TRUE(tok.ok());
  IncrementalDecoder dec(tok->get());
  EXPECT_EQ(dec.Push(3 + 0xE2), "");
  EXPECT_EQ(dec.Flush(), "\xEF\xBF\xBD");
}

TEST(Tokenizer, RejectsBadVocabularies) {
  Vocab empty;
  empty.model = "llama";
  EXPECT_FALSE(Tokenizer::Create(empty).ok());
  Vocab unknown = TinySpm();
  unknown.model = "rwkv";
  EXPECT_FALSE(Tokenizer::Create(unknown).ok());
  Vocab dup = TinySpm();
  dup.tokens.push_back("a");
  dup.scores.push_back(0);
  dup.token_types.push_back(1);
  EXPECT_FALSE(Tokenizer::Create(dup).ok());
  Vocab bad_pre = TinySpm();
  bad_pre.model = "gpt2";
  bad_pre.pre = "no-such-pre-tokenizer";
  EXPECT_FALSE(Tokenizer::Create(bad_pre).ok());
}

TEST(Tokenizer, BytePairMergesByRank) {
  Vocab v;
  v.model = "gpt2";
  v.pre = "gpt-2";
  for (int b = 0; b < 256; ++b) v.tokens.push_back(ByteToUnicode(b));
  v.tokens.push_back("he");
  v.tokens.push_back("ll");
  v.tokens.push_back("hell");
  v.tokens.push_back(
      "\xC4\xA0"
      "o");  // "Ġo": " o"
  v.merges = {"l l", "h e", "he ll", "\xC4\xA0 o"};
  auto tok = Tokenizer::Create(v);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_THAT((*tok)->Encode("hello o", false, false),
              ElementsAre(258, 'o', 259));
  EXPECT_EQ((*tok)->Decode((*tok)->Encode("hello o", false, false)), "hello o");
  EXPECT_FALSE((*tok)->add_bos());
}

// gpt-oss's vocabulary: <|return|> and <|call|> end a reply, <|end|> only
// closes a message; preserved control tokens render in streamed text.
TEST(Tokenizer, HarmonyEndTokensAndPreservedControlTokens) {
  Vocab v = TinySpm();
  for (const char* t : {"<|start|>", "<|channel|>", "<|message|>", "<|end|>",
                        "<|return|>", "<|call|>"}) {
    v.tokens.push_back(t);
    v.token_types.push_back(3);
    v.scores.push_back(0);
  }
  v.eos_id = static_cast<int32_t>(v.tokens.size()) - 2;  // <|return|>
  auto tok = Tokenizer::Create(v);
  ASSERT_TRUE(tok.ok()) << tok.status();
  const int32_t channel = *(*tok)->TokenId("<|channel|>");
  const int32_t message = *(*tok)->TokenId("<|message|>");
  const int32_t end = *(*tok)->TokenId("<|end|>");
  EXPECT_TRUE((*tok)->IsEog(*(*tok)->TokenId("<|return|>")));
  EXPECT_TRUE((*tok)->IsEog(*(*tok)->TokenId("<|call|>")));
  EXPECT_FALSE((*tok)->IsEog(end));
  EXPECT_TRUE((*tok)->IsControl(end));
  // Without <|return|> and <|call|> (Phi-3), <|end|> still ends a turn.
  Vocab phi = TinySpm();
  phi.tokens.push_back("<|end|>");
  phi.token_types.push_back(3);
  phi.scores.push_back(0);
  auto phi_tok = Tokenizer::Create(phi);
  ASSERT_TRUE(phi_tok.ok());
  EXPECT_TRUE((*phi_tok)->IsEog(*(*phi_tok)->TokenId("<|end|>")));

  const int32_t a = *(*tok)->TokenId("a");
  const std::vector<int32_t> ids = {channel, a, message, a, end};
  auto stream = [&](std::vector<int32_t> preserved) {
    IncrementalDecoder d(tok->get(), /*skip_special=*/true,
                         /*continues_text=*/true, std::move(preserved));
    std::string out;
    for (int32_t id : ids) out += d.Push(id);
    return out + d.Flush();
  };
  EXPECT_EQ(stream({}), "aa");
  EXPECT_EQ(stream({end, message, channel}), "<|channel|>a<|message|>a<|end|>");
  EXPECT_EQ(stream({message}), "a<|message|>a");
  // A preserved id that is a normal token renders as always.
  EXPECT_EQ(stream({a}), "aa");
}

}  // namespace
}  // namespace triptych::tokenizer
