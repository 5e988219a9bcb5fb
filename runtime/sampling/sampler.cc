#include "runtime/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "runtime/sampling/penalties.h"

namespace triptych::sampling {
namespace {

// top_p bisects with nth_element until the range that holds the cut-off is
// this small, then sorts that range.
constexpr size_t kTopPLinearScan = 64;

// top_k up to this size uses a bounded heap (one pass over the vocabulary);
// larger k uses nth_element.
constexpr int32_t kTopKHeapLimit = 4096;

[[noreturn]] void Die(const char* message) {
  std::fprintf(stderr, "triptych::sampling::Sampler: %s\n", message);
  std::abort();
}

// Total order used everywhere candidates are ranked: higher logit first,
// lower id on ties.
struct Better {
  absl::Span<const float> logits;
  bool operator()(int32_t a, int32_t b) const {
    const float la = logits[a];
    const float lb = logits[b];
    return la > lb || (la == lb && a < b);
  }
};

// Returns the index of the largest logit (lowest id on ties). Aborts on NaN
// or when every logit is -inf.
int32_t Argmax(absl::Span<const float> logits) {
  int32_t best = 0;
  float best_value = logits[0];
  bool has_nan = false;
  for (size_t i = 0; i < logits.size(); ++i) {
    const float v = logits[i];
    has_nan |= v != v;
    if (v > best_value) {
      best_value = v;
      best = static_cast<int32_t>(i);
    }
  }
  if (has_nan) Die("NaN logit");
  if (best_value == -std::numeric_limits<float>::infinity()) {
    Die("every logit is -inf");
  }
  return best;
}

// log(sum(exp(logits))): float exp(), double accumulation.
float LogSumExp(absl::Span<const float> logits, float max_logit) {
  double sum = 0;
  for (float l : logits) sum += std::exp(l - max_logit);
  return max_logit + static_cast<float>(std::log(sum));
}

// Replaces *out with the ids of the k best tokens among those whose logit is
// >= min_logit, best first, in one pass with a bounded heap: O(V log k), and
// most tokens are rejected by a single comparison with the worst kept one.
void BestK(absl::Span<const float> logits, int32_t k, float min_logit,
           std::vector<int32_t>* out) {
  std::vector<int32_t>& heap = *out;
  heap.clear();
  if (k <= 0) return;
  heap.reserve(k);
  // With `Better` as the heap's "less", the heap's top is the worst kept.
  const Better better{logits};
  const auto vocab = static_cast<int32_t>(logits.size());
  for (int32_t id = 0; id < vocab; ++id) {
    if (!(logits[id] >= min_logit)) continue;
    if (static_cast<int32_t>(heap.size()) < k) {
      heap.push_back(id);
      std::push_heap(heap.begin(), heap.end(), better);
    } else if (better(id, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), better);
      heap.back() = id;
      std::push_heap(heap.begin(), heap.end(), better);
    }
  }
  std::sort_heap(heap.begin(), heap.end(), better);
}

// The n best (token, logprob) pairs, best first.
std::vector<std::pair<int32_t, float>> TopLogprobs(
    absl::Span<const float> logits, int32_t n, float log_sum_exp) {
  std::vector<int32_t> ids;
  BestK(logits, n, -std::numeric_limits<float>::infinity(), &ids);
  std::vector<std::pair<int32_t, float>> out;
  out.reserve(ids.size());
  for (int32_t id : ids) out.emplace_back(id, logits[id] - log_sum_exp);
  return out;
}

}  // namespace

void ApplyLogitBias(const SamplingParams& params, absl::Span<float> logits) {
  for (const auto& [token, bias] : params.logit_bias) {
    if (token >= 0 && static_cast<size_t>(token) < logits.size()) {
      logits[token] += bias;
    }
  }
}

Sampler::Sampler(const SamplingParams& params)
    : params_(params), rng_(params.seed) {
  if (!Validate(params_).ok()) Die("invalid SamplingParams; call Validate()");
}

double Sampler::NextUniform() {
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53;
}

Sampler::Result Sampler::Sample(absl::Span<float> logits,
                                absl::Span<const int32_t> generated) {
  if (logits.empty()) Die("empty logits");
  ApplyLogitBias(params_, logits);
  ApplyPenalties(params_, logits, generated);

  Result result;
  const int32_t argmax = Argmax(logits);  // Also checks the preconditions.
  const float max_logit = logits[argmax];
  result.token = params_.temperature == 0.0f ? argmax : Draw(logits, max_logit);
  if (params_.logprobs) {
    const float lse = LogSumExp(logits, max_logit);
    result.logprob = logits[result.token] - lse;
    if (params_.top_logprobs > 0) {
      result.top_logprobs = TopLogprobs(logits, params_.top_logprobs, lse);
    }
  }
  return result;
}

int32_t Sampler::Draw(absl::Span<const float> logits, float max_logit) {
  const float inv_t = 1.0f / params_.temperature;
  // Unnormalised probability of token i at this temperature, relative to the
  // most likely token (so the best weight is exactly 1).
  auto weight = [&](int32_t i) {
    return std::exp((logits[i] - max_logit) * inv_t);
  };
  const auto vocab = static_cast<int32_t>(logits.size());
  const bool use_top_k = params_.top_k > 0 && params_.top_k < vocab;
  const bool use_top_p = params_.top_p < 1.0f;
  const bool use_min_p = params_.min_p > 0.0f;

  if (!use_top_k && !use_top_p && !use_min_p) {
    // Plain temperature sampling over the whole vocabulary in id order.
    weights_.resize(vocab);
    double total = 0;
    for (int32_t i = 0; i < vocab; ++i) {
      weights_[i] = weight(i);
      total += weights_[i];
    }
    const double target = NextUniform() * total;
    double acc = 0;
    int32_t last_nonzero = 0;
    for (int32_t i = 0; i < vocab; ++i) {
      if (weights_[i] == 0) continue;
      acc += weights_[i];
      last_nonzero = i;
      if (target < acc) return i;
    }
    return last_nonzero;  // Only reachable through rounding.
  }

  // min_p in logit space (no exp() in the O(V) scan):
  //   p_i >= min_p * p_max  <=>  logit_i >= max_logit + T * log(min_p).
  // The ratio to p_max survives renormalisation, so filtering first gives
  // the same result as applying min_p after top_k / top_p.
  const float min_logit =
      use_min_p ? static_cast<float>(max_logit + params_.temperature *
                                                     std::log(params_.min_p))
                : -std::numeric_limits<float>::infinity();
  const Better better{logits};
  const int32_t k = params_.top_k;
  if (use_top_k && k <= kTopKHeapLimit) {
    BestK(logits, k, min_logit, &candidates_);
  } else {
    candidates_.clear();
    for (int32_t i = 0; i < vocab; ++i) {
      if (logits[i] >= min_logit) candidates_.push_back(i);
    }
    if (use_top_k && static_cast<size_t>(k) < candidates_.size()) {
      std::nth_element(candidates_.begin(), candidates_.begin() + k,
                       candidates_.end(), better);
      candidates_.resize(k);
    }
  }

  // Weights by token id for the surviving candidates (scratch, size V).
  weights_.resize(vocab);
  for (int32_t id : candidates_) weights_[id] = weight(id);
  auto mass = [&](size_t from, size_t to) {
    double sum = 0;
    for (size_t j = from; j < to; ++j) sum += weights_[candidates_[j]];
    return sum;
  };

  if (use_top_p) {
    const double total = mass(0, candidates_.size());
    const double target = params_.top_p * total;
    // Drop the long tail first: the tokens lighter than (1 - top_p) / n hold
    // at most 1 - top_p of the mass together, so the rest is a best-first
    // prefix that already reaches top_p and the cut-off lies inside it. For
    // real LLM distributions this removes most of the vocabulary in one
    // linear pass.
    const double tail =
        (1.0 - params_.top_p) * total / static_cast<double>(candidates_.size());
    candidates_.erase(
        std::remove_if(candidates_.begin(), candidates_.end(),
                       [&](int32_t id) { return weights_[id] < tail; }),
        candidates_.end());
    // Find the smallest best-first prefix whose mass reaches `target` without
    // sorting everything: bisect with nth_element, keeping the invariant
    // that [0, lo) holds less than target and [0, hi) at least target (or
    // hi == size). Expected O(n) instead of O(n log n) for flat
    // distributions; [0, lo) is always better than [lo, n).
    size_t lo = 0;
    size_t hi = candidates_.size();
    double mass_before_lo = 0;
    while (hi - lo > kTopPLinearScan) {
      const size_t mid = lo + (hi - lo) / 2;
      std::nth_element(candidates_.begin() + lo, candidates_.begin() + mid,
                       candidates_.begin() + hi, better);
      const double m = mass(lo, mid);
      if (mass_before_lo + m >= target) {
        hi = mid;
      } else {
        mass_before_lo += m;
        lo = mid;
      }
    }
    std::sort(candidates_.begin() + lo, candidates_.begin() + hi, better);
    // Keep tokens while the mass before them is < top_p.
    double acc = mass_before_lo;
    size_t keep = lo;
    while (keep < hi && (keep == 0 || acc < target)) {
      acc += weights_[candidates_[keep]];
      ++keep;
    }
    candidates_.resize(keep);
  }
  // nth_element leaves an implementation-defined order; draw in id order so
  // results do not depend on the standard library.
  if (use_top_k || use_top_p) std::sort(candidates_.begin(), candidates_.end());

  double total = 0;
  for (int32_t id : candidates_) total += weights_[id];
  const double target = NextUniform() * total;
  double acc = 0;
  int32_t last_nonzero = candidates_.front();
  for (int32_t id : candidates_) {
    if (weights_[id] == 0) continue;
    acc += weights_[id];
    last_nonzero = id;
    if (target < acc) return id;
  }
  return last_nonzero;  // Only reachable through rounding.
}

}  // namespace triptych::sampling
