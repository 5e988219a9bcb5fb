#include "tools/loadgen/dataset.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace triptych::loadgen {
namespace {

// Seed domains so that prompts, lengths and prefixes never share streams.
constexpr uint64_t kLengthDomain = 1;
constexpr uint64_t kPromptDomain = 2;
constexpr uint64_t kPrefixDomain = 3;
constexpr uint64_t kAnswerDomain = 4;

absl::Status Validate(const RandomOptions& o) {
  if (o.input_len < 1 || o.output_len < 1 || o.prefix_len < 0) {
    return absl::InvalidArgumentError(
        "input and output lengths must be >= 1 and the prefix >= 0");
  }
  if (!(o.range_ratio >= 0) || !std::isfinite(o.range_ratio)) {
    return absl::InvalidArgumentError("range ratio must be >= 0");
  }
  if (o.distribution == LengthDistribution::kUniform && o.range_ratio >= 1) {
    return absl::InvalidArgumentError("uniform range ratio must be < 1");
  }
  return absl::OkStatus();
}

int64_t DrawLength(int64_t len, const RandomOptions& o, std::mt19937_64& rng) {
  switch (o.distribution) {
    case LengthDistribution::kFixed:
      return len;
    case LengthDistribution::kUniform: {
      const auto lo = static_cast<int64_t>(
          std::floor(static_cast<double>(len) * (1 - o.range_ratio)));
      const auto hi = static_cast<int64_t>(
          std::ceil(static_cast<double>(len) * (1 + o.range_ratio)));
      return std::uniform_int_distribution<int64_t>(
          std::max<int64_t>(1, lo), std::max<int64_t>(1, hi))(rng);
    }
    case LengthDistribution::kNormal: {
      const double v = std::normal_distribution<double>(
          static_cast<double>(len),
          static_cast<double>(len) * o.range_ratio)(rng);
      return std::max<int64_t>(1, std::llround(v));
    }
  }
  return len;
}

// Lengths and text of the unique part of request `index`.
struct Draw {
  int64_t input_len;
  int64_t output_len;
  std::string text;
};

Draw DrawRequest(const RandomOptions& o, const PromptSynthesizer& synth,
                 int64_t index) {
  std::mt19937_64 rng(MixSeed(MixSeed(o.seed, kLengthDomain), index));
  Draw d;
  d.input_len = DrawLength(o.input_len, o, rng);
  d.output_len = DrawLength(o.output_len, o, rng);
  d.text =
      synth.Text(d.input_len, MixSeed(MixSeed(o.seed, kPromptDomain), index));
  return d;
}

std::string Join(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return absl::StrCat(a, " ", b);
}

class RandomDataset : public Dataset {
 public:
  RandomDataset(const RandomOptions& o, const PromptSynthesizer* synth)
      : o_(o),
        synth_(synth),
        prefix_(synth->Text(o.prefix_len, MixSeed(o.seed, kPrefixDomain))) {}

  std::optional<RequestSpec> Get(int64_t index) const override {
    Draw d = DrawRequest(o_, *synth_, index);
    RequestSpec r;
    r.messages.push_back({"user", Join(prefix_, d.text)});
    r.prompt_tokens = o_.prefix_len + d.input_len;
    r.max_tokens = d.output_len;
    return r;
  }
  std::optional<int64_t> size() const override { return std::nullopt; }
  std::string name() const override { return "random"; }

 private:
  const RandomOptions o_;
  const PromptSynthesizer* synth_;
  const std::string prefix_;
};

class SharedPrefixDataset : public Dataset {
 public:
  SharedPrefixDataset(const RandomOptions& o, const SharedPrefixOptions& p,
                      const PromptSynthesizer* synth)
      : o_(o), p_(p), synth_(synth) {
    for (int64_t g = 0; g < p.num_groups; ++g) {
      prefixes_.push_back(synth->Text(
          p.prefix_len, MixSeed(MixSeed(o.seed, kPrefixDomain), g + 1)));
    }
  }

  std::optional<RequestSpec> Get(int64_t index) const override {
    Draw d = DrawRequest(o_, *synth_, index);
    RequestSpec r;
    r.messages.push_back(
        {"user", Join(prefixes_[index % p_.num_groups], d.text)});
    r.prompt_tokens = p_.prefix_len + d.input_len;
    r.max_tokens = d.output_len;
    return r;
  }
  std::optional<int64_t> size() const override { return std::nullopt; }
  std::string name() const override { return "shared-prefix"; }

 private:
  const RandomOptions o_;
  const SharedPrefixOptions p_;
  const PromptSynthesizer* synth_;
  std::vector<std::string> prefixes_;
};

class MultiTurnDataset : public Dataset {
 public:
  MultiTurnDataset(const RandomOptions& o, const MultiTurnOptions& m,
                   const PromptSynthesizer* synth)
      : o_(o), m_(m), synth_(synth) {}

  std::optional<RequestSpec> Get(int64_t index) const override {
    const int64_t per_wave = m_.turns * m_.conversations;
    const int64_t wave = index / per_wave;
    const int64_t within = index % per_wave;
    const int64_t turn = within / m_.conversations;
    const int64_t conversation =
        wave * m_.conversations + within % m_.conversations;
    RequestSpec r;
    for (int64_t t = 0; t <= turn; ++t) {
      // Each turn is drawn as the random request at a unique index.
      Draw d = DrawRequest(o_, *synth_, conversation * m_.turns + t);
      r.messages.push_back({"user", d.text});
      r.prompt_tokens += d.input_len;
      if (t < turn) {
        r.messages.push_back(
            {"assistant",
             synth_->Text(d.output_len, MixSeed(MixSeed(o_.seed, kAnswerDomain),
                                                conversation * m_.turns + t))});
        r.prompt_tokens += d.output_len;
      } else {
        r.max_tokens = d.output_len;
      }
    }
    return r;
  }
  std::optional<int64_t> size() const override { return std::nullopt; }
  std::string name() const override { return "multi-turn"; }

 private:
  const RandomOptions o_;
  const MultiTurnOptions m_;
  const PromptSynthesizer* synth_;
};

}  // namespace

absl::StatusOr<LengthDistribution> ParseLengthDistribution(
    const std::string& name) {
  if (name == "fixed") return LengthDistribution::kFixed;
  if (name == "uniform") return LengthDistribution::kUniform;
  if (name == "normal") return LengthDistribution::kNormal;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown length distribution '", name,
                   "' (want fixed, uniform or normal)"));
}

absl::StatusOr<std::unique_ptr<Dataset>> MakeRandomDataset(
    const RandomOptions& options, const PromptSynthesizer* synth) {
  if (auto s = Validate(options); !s.ok()) return s;
  return std::make_unique<RandomDataset>(options, synth);
}

absl::StatusOr<std::unique_ptr<Dataset>> MakeSharedPrefixDataset(
    const RandomOptions& options, const SharedPrefixOptions& prefix,
    const PromptSynthesizer* synth) {
  if (auto s = Validate(options); !s.ok()) return s;
  if (prefix.num_groups < 1 || prefix.num_groups > (1 << 20) ||
      prefix.prefix_len < 0) {
    return absl::InvalidArgumentError(
        "prefix groups must be in [1, 2^20] and the prefix length >= 0");
  }
  return std::make_unique<SharedPrefixDataset>(options, prefix, synth);
}

absl::StatusOr<std::unique_ptr<Dataset>> MakeMultiTurnDataset(
    const RandomOptions& options, const MultiTurnOptions& multi,
    const PromptSynthesizer* synth) {
  if (auto s = Validate(options); !s.ok()) return s;
  if (multi.turns < 1 || multi.conversations < 1) {
    return absl::InvalidArgumentError("turns and conversations must be >= 1");
  }
  return std::make_unique<MultiTurnDataset>(options, multi, synth);
}

}  // namespace triptych::loadgen
