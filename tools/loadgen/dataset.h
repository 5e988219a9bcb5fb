#ifndef TRIPTYCH_TOOLS_LOADGEN_DATASET_H_
#define TRIPTYCH_TOOLS_LOADGEN_DATASET_H_

// Workloads: what each request asks. A Dataset maps a request index to a
// request, lazily, so duration-bound runs never run out and every request is
// reproducible from (seed, index).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/loadgen/prompt.h"

namespace triptych::loadgen {

struct Message {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

struct RequestSpec {
  // The conversation; the completions endpoint sends the contents joined by
  // "\n" as the prompt.
  std::vector<Message> messages;
  int64_t prompt_tokens = 0;  // what the workload meant to send
  int64_t max_tokens = 1;     // output length asked for
  // Send time relative to the start (trace replay); else the arrival
  // process decides.
  std::optional<double> timestamp_s;
};

// Thread-safe: Get is const and deterministic.
class Dataset {
 public:
  virtual ~Dataset() = default;
  // The request at `index` (>= 0), or nullopt past the end.
  virtual std::optional<RequestSpec> Get(int64_t index) const = 0;
  // Number of requests, or nullopt when unbounded.
  virtual std::optional<int64_t> size() const = 0;
  // Whether requests carry timestamps that replace the arrival process.
  virtual bool has_timestamps() const { return false; }
  virtual std::string name() const = 0;
};

enum class LengthDistribution { kFixed, kUniform, kNormal };
absl::StatusOr<LengthDistribution> ParseLengthDistribution(
    const std::string& name);

// Random lengths. Uniform draws from [len * (1 - r), len * (1 + r)];
// normal has mean len and std len * r, truncated to >= 1.
struct RandomOptions {
  int64_t input_len = 1024;
  int64_t output_len = 128;
  LengthDistribution distribution = LengthDistribution::kFixed;
  double range_ratio = 0;
  // Tokens of one fixed text put before every prompt (0 = none).
  int64_t prefix_len = 0;
  uint64_t seed = 0;
};

// Shared-prefix groups: request i belongs to group i % num_groups and starts
// with that group's `prefix_len`-token text, then a unique random part of
// RandomOptions::input_len tokens.
struct SharedPrefixOptions {
  int64_t num_groups = 8;
  int64_t prefix_len = 1024;
};

// Multi-turn conversations: each turn resends the whole history (user turns
// of `input_len` tokens, assistant turns of `output_len` synthetic tokens)
// plus a new user turn. Conversations run in waves of `conversations`: turn
// t of each of them is sent before turn t + 1 of any.
struct MultiTurnOptions {
  int64_t turns = 4;
  int64_t conversations = 16;
};

// Errors: kInvalidArgument for lengths < 1 (prefix >= 0), a negative or NaN
// ratio, groups/turns/conversations < 1. `synth` must outlive the dataset.
absl::StatusOr<std::unique_ptr<Dataset>> MakeRandomDataset(
    const RandomOptions& options, const PromptSynthesizer* synth);
absl::StatusOr<std::unique_ptr<Dataset>> MakeSharedPrefixDataset(
    const RandomOptions& options, const SharedPrefixOptions& prefix,
    const PromptSynthesizer* synth);
absl::StatusOr<std::unique_ptr<Dataset>> MakeMultiTurnDataset(
    const RandomOptions& options, const MultiTurnOptions& multi,
    const PromptSynthesizer* synth);

// Mooncake-style JSONL trace, one request per line:
//   {"timestamp": 27482, "input_length": 6955, "output_length": 52,
//    "hash_ids": [46, 47, 48, ...]}
// `timestamp` is in ms; a request is sent (timestamp - first timestamp) /
// speedup after the start. Each hash id stands for a block of
// `block_size` tokens whose text depends only on (seed, hash id), so equal
// hash ids give equal text; the last block is cut to what input_length
// leaves. Lines without hash_ids get unique random text. Blank lines are
// skipped.
struct TraceOptions {
  int64_t block_size = 512;
  double speedup = 1;                 // > 1 replays faster
  bool use_timestamps = true;         // false: the arrival process decides
  std::optional<int64_t> output_len;  // overrides output_length
  uint64_t seed = 0;
};

// Errors: kInvalidArgument naming the line for malformed JSON, missing or
// negative fields, non-integer hash ids; kNotFound for a missing file.
absl::StatusOr<std::unique_ptr<Dataset>> ParseTrace(
    std::string_view jsonl, const TraceOptions& options,
    const PromptSynthesizer* synth);
absl::StatusOr<std::unique_ptr<Dataset>> LoadTrace(
    const std::string& path, const TraceOptions& options,
    const PromptSynthesizer* synth);

// ShareGPT-style JSON: an array of {"conversations": [{"from": "human",
// "value": ...}, {"from": "gpt", "value": ...}, ...]} (also "messages" with
// "role"/"content"). The first human turn is the prompt; the output length
// is `output_len` if set, else the estimated length of the first reply.
// Entries without a human turn followed by a reply, or outside the length
// limits, are skipped; the rest are cycled through.
struct ShareGptOptions {
  std::optional<int64_t> output_len;
  int64_t min_len = 4;
  int64_t max_input_len = 8192;
  int64_t max_output_len = 4096;
};

// Errors: kInvalidArgument for malformed JSON or no usable entry;
// kNotFound for a missing file.
absl::StatusOr<std::unique_ptr<Dataset>> ParseShareGpt(
    std::string_view json, const ShareGptOptions& options,
    const PromptSynthesizer* synth);
absl::StatusOr<std::unique_ptr<Dataset>> LoadShareGpt(
    const std::string& path, const ShareGptOptions& options,
    const PromptSynthesizer* synth);

// Reads a whole file; kNotFound when it cannot be opened.
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace triptych::loadgen

#endif  // TRIPTYCH_TOOLS_LOADGEN_DATASET_H_
