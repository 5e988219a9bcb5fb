// File-backed workloads: Mooncake-style JSONL traces and ShareGPT JSON.

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "tools/loadgen/dataset.h"

namespace triptych::loadgen {
namespace {

using json = nlohmann::json;

constexpr uint64_t kBlockDomain = 11;
constexpr uint64_t kTailDomain = 12;

struct TraceEntry {
  double time_s = 0;
  int64_t input_len = 0;
  int64_t output_len = 0;
  std::vector<int64_t> hash_ids;
};

class TraceDataset : public Dataset {
 public:
  TraceDataset(std::vector<TraceEntry> entries, const TraceOptions& o,
               const PromptSynthesizer* synth)
      : entries_(std::move(entries)), o_(o), synth_(synth) {}

  std::optional<RequestSpec> Get(int64_t index) const override {
    if (index < 0 || index >= static_cast<int64_t>(entries_.size())) {
      return std::nullopt;
    }
    const TraceEntry& e = entries_[index];
    std::string text;
    int64_t left = e.input_len;
    for (int64_t id : e.hash_ids) {
      if (left <= 0) break;
      const int64_t n = std::min(left, o_.block_size);
      // Text(n, s) is a prefix of Text(block_size, s): a cut last block
      // still starts like the full block with the same hash id.
      if (!text.empty()) text.push_back(' ');
      text += synth_->Text(n, MixSeed(MixSeed(o_.seed, kBlockDomain),
                                      static_cast<uint64_t>(id)));
      left -= n;
    }
    if (left > 0) {  // tokens the hash ids do not cover: unique text
      if (!text.empty()) text.push_back(' ');
      text += synth_->Text(left, MixSeed(MixSeed(o_.seed, kTailDomain), index));
    }
    RequestSpec r;
    r.messages.push_back({"user", std::move(text)});
    r.prompt_tokens = e.input_len;
    r.max_tokens = o_.output_len.value_or(std::max<int64_t>(1, e.output_len));
    if (o_.use_timestamps) r.timestamp_s = e.time_s;
    return r;
  }
  std::optional<int64_t> size() const override {
    return static_cast<int64_t>(entries_.size());
  }
  bool has_timestamps() const override { return o_.use_timestamps; }
  std::string name() const override { return "trace"; }

 private:
  const std::vector<TraceEntry> entries_;
  const TraceOptions o_;
  const PromptSynthesizer* synth_;
};

// A non-negative integer field of `j`, accepting integral floats.
absl::StatusOr<int64_t> GetCount(const json& j, const char* key, int line) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) {
    return absl::InvalidArgumentError(
        absl::StrCat("trace line ", line, ": missing number '", key, "'"));
  }
  const double v = it->get<double>();
  if (!(v >= 0) || v > 1e12 || v != std::floor(v)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "trace line ", line, ": '", key, "' must be a non-negative integer"));
  }
  return static_cast<int64_t>(v);
}

struct ShareGptEntry {
  std::string prompt;
  int64_t prompt_tokens = 0;
  int64_t output_len = 0;
};

class ShareGptDataset : public Dataset {
 public:
  explicit ShareGptDataset(std::vector<ShareGptEntry> entries)
      : entries_(std::move(entries)) {}
  std::optional<RequestSpec> Get(int64_t index) const override {
    const ShareGptEntry& e = entries_[index % entries_.size()];
    RequestSpec r;
    r.messages.push_back({"user", e.prompt});
    r.prompt_tokens = e.prompt_tokens;
    r.max_tokens = e.output_len;
    return r;
  }
  std::optional<int64_t> size() const override { return std::nullopt; }
  std::string name() const override { return "sharegpt"; }

 private:
  const std::vector<ShareGptEntry> entries_;
};

// Reads the speaker and text of one ShareGPT turn ({"from","value"} or
// {"role","content"}); false when it is neither.
bool ReadTurn(const json& turn, std::string* who, std::string* text) {
  if (!turn.is_object()) return false;
  for (auto [k, v] :
       {std::pair{"from", "value"}, std::pair{"role", "content"}}) {
    auto a = turn.find(k), b = turn.find(v);
    if (a != turn.end() && b != turn.end() && a->is_string() &&
        b->is_string()) {
      *who = a->get<std::string>();
      *text = b->get<std::string>();
      return true;
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<std::unique_ptr<Dataset>> ParseTrace(
    std::string_view jsonl, const TraceOptions& options,
    const PromptSynthesizer* synth) {
  if (options.block_size < 1 || !(options.speedup > 0) ||
      !std::isfinite(options.speedup)) {
    return absl::InvalidArgumentError(
        "trace block size must be >= 1 and speedup > 0");
  }
  std::vector<TraceEntry> entries;
  int line_no = 0;
  std::optional<double> first_ms;
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(jsonl.data(), jsonl.size()), '\n')) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == absl::string_view::npos) continue;
    json j = json::parse(line.begin(), line.end(), nullptr,
                         /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("trace line ", line_no, ": not a JSON object"));
    }
    TraceEntry e;
    auto ts = j.find("timestamp");
    if (ts == j.end() || !ts->is_number() ||
        !std::isfinite(ts->get<double>())) {
      return absl::InvalidArgumentError(
          absl::StrCat("trace line ", line_no, ": missing number 'timestamp'"));
    }
    const double ms = ts->get<double>();
    first_ms = std::min(first_ms.value_or(ms), ms);
    e.time_s = ms;  // made relative below
    auto in = GetCount(j, "input_length", line_no);
    if (!in.ok()) return in.status();
    auto out = GetCount(j, "output_length", line_no);
    if (!out.ok()) return out.status();
    e.input_len = *in;
    e.output_len = *out;
    if (auto h = j.find("hash_ids"); h != j.end()) {
      if (!h->is_array()) {
        return absl::InvalidArgumentError(
            absl::StrCat("trace line ", line_no, ": hash_ids is not an array"));
      }
      for (const json& id : *h) {
        if (!id.is_number_integer()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "trace line ", line_no, ": hash ids must be integers"));
        }
        e.hash_ids.push_back(id.get<int64_t>());
      }
    }
    entries.push_back(std::move(e));
  }
  if (entries.empty()) {
    return absl::InvalidArgumentError("trace has no requests");
  }
  // Replay in time order, relative to the earliest request.
  std::stable_sort(entries.begin(), entries.end(),
                   [](const TraceEntry& a, const TraceEntry& b) {
                     return a.time_s < b.time_s;
                   });
  for (TraceEntry& e : entries) {
    e.time_s = (e.time_s - *first_ms) / 1e3 / options.speedup;
  }
  return std::make_unique<TraceDataset>(std::move(entries), options, synth);
}

absl::StatusOr<std::unique_ptr<Dataset>> LoadTrace(
    const std::string& path, const TraceOptions& options,
    const PromptSynthesizer* synth) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseTrace(*text, options, synth);
}

absl::StatusOr<std::unique_ptr<Dataset>> ParseShareGpt(
    std::string_view text, const ShareGptOptions& options,
    const PromptSynthesizer* synth) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_array()) {
    return absl::InvalidArgumentError("ShareGPT file is not a JSON array");
  }
  std::vector<ShareGptEntry> entries;
  for (const json& item : j) {
    if (!item.is_object()) continue;
    auto conv = item.find("conversations");
    if (conv == item.end()) conv = item.find("messages");
    if (conv == item.end() || !conv->is_array() || conv->size() < 2) continue;
    std::string who0, text0, who1, text1;
    if (!ReadTurn((*conv)[0], &who0, &text0) ||
        !ReadTurn((*conv)[1], &who1, &text1)) {
      continue;
    }
    if (who0 != "human" && who0 != "user") continue;
    ShareGptEntry e;
    e.prompt_tokens = synth->CountTokens(text0);
    e.output_len = options.output_len.value_or(synth->CountTokens(text1));
    if (e.prompt_tokens < options.min_len || e.output_len < 1 ||
        (!options.output_len && e.output_len < options.min_len) ||
        e.prompt_tokens > options.max_input_len ||
        e.output_len > options.max_output_len) {
      continue;
    }
    e.prompt = std::move(text0);
    entries.push_back(std::move(e));
  }
  if (entries.empty()) {
    return absl::InvalidArgumentError("ShareGPT file has no usable entry");
  }
  return std::make_unique<ShareGptDataset>(std::move(entries));
}

absl::StatusOr<std::unique_ptr<Dataset>> LoadShareGpt(
    const std::string& path, const ShareGptOptions& options,
    const PromptSynthesizer* synth) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseShareGpt(*text, options, synth);
}

}  // namespace triptych::loadgen
