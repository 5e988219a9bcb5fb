#include "scheduler/router.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace triptych::scheduler {
namespace {

// A routable node with what the policies compare.
struct Candidate {
  const NodeView* node = nullptr;
  int overlap_blocks = 0;  // prompt blocks in the node's own cache
  // Prompt blocks the node need not compute: its own, or more when a memory
  // node's KV history holds a longer prefix (fetched, not computed).
  int reusable_blocks = 0;
  int prompt_blocks = 0;
  int active = 0;        // requests on the node, our view or its own
  double free_frac = 1;  // free KV blocks / total
  absl::Duration est_ttft;
};

// Lower is better: fewer active requests, then more free KV. Nodes equal on
// both are a tie, which the router breaks by rotation (see Route).
bool LessLoaded(const Candidate& a, const Candidate& b) {
  if (a.active != b.active) return a.active < b.active;
  return a.free_frac > b.free_frac;
}

// Routable nodes of `role`: healthy ones, or suspect ones when none is
// healthy. Excluded nodes never.
std::vector<const NodeView*> Routable(
    const std::vector<NodeView>& nodes, NodeRole role,
    const absl::flat_hash_set<std::string>& exclude) {
  std::vector<const NodeView*> healthy, suspect;
  for (const NodeView& n : nodes) {
    if (n.info.role != role || exclude.contains(n.info.id)) continue;
    if (n.state == NodeState::kHealthy) healthy.push_back(&n);
    if (n.state == NodeState::kSuspect) suspect.push_back(&n);
  }
  return healthy.empty() ? suspect : healthy;
}

}  // namespace

Router::Router(RouterOptions options, NodeRegistry* registry,
               const GlobalBlockIndex* index, LoadTracker* load)
    : options_(std::move(options)),
      registry_(registry),
      index_(index),
      load_(load),
      policy_(options_.policy) {}

absl::StatusOr<RouteDecision> Router::Route(const RouteRequest& request) {
  if (request.prompt_tokens.empty()) {
    return absl::InvalidArgumentError("empty prompt");
  }
  const absl::Duration ttft_target = request.ttft_target > absl::ZeroDuration()
                                         ? request.ttft_target
                                         : options_.ttft_target;
  const absl::Duration tpot_target = request.tpot_target > absl::ZeroDuration()
                                         ? request.tpot_target
                                         : options_.tpot_target;
  const int prompt_len = static_cast<int>(request.prompt_tokens.size());
  const std::vector<NodeView> nodes = registry_->Snapshot();

  // Prompt hashes per block size (nodes may differ).
  absl::flat_hash_map<int, std::vector<BlockHash>> hashes_by_size;
  auto hashes_for = [&](int block_size) -> const std::vector<BlockHash>& {
    auto it = hashes_by_size.find(block_size);
    if (it == hashes_by_size.end()) {
      it = hashes_by_size
               .emplace(block_size,
                        PromptBlockHashes(request.prompt_tokens, block_size))
               .first;
    }
    return it->second;
  };
  // KV history: every prefill and decode node fetches what a memory node
  // holds, so its prefix counts as reusable on all of them.
  const std::vector<const NodeView*> memory_nodes =
      Routable(nodes, NodeRole::kMemory, request.exclude);
  auto history_blocks = [&](int block_size) {
    int best = 0;
    if (index_ == nullptr) return best;
    for (const NodeView* m : memory_nodes) {
      if (m->info.block_size != block_size) continue;
      best = std::max(best, index_->MatchPrefix(m->info.id, hashes_for(block_size)));
    }
    return best;
  };
  auto make_candidate = [&](const NodeView* n) {
    Candidate c;
    c.node = n;
    const auto& hashes = hashes_for(n->info.block_size);
    c.prompt_blocks = static_cast<int>(hashes.size());
    c.overlap_blocks =
        index_ == nullptr ? 0 : index_->MatchPrefix(n->info.id, hashes);
    c.reusable_blocks =
        std::max(c.overlap_blocks, history_blocks(n->info.block_size));
    c.active = std::max(load_->InFlight(n->info.id),
                        n->load.running + n->load.waiting);
    if (n->load.kv_blocks_total > 0) {
      c.free_frac = static_cast<double>(n->load.kv_blocks_free) /
                    static_cast<double>(n->load.kv_blocks_total);
    }
    return c;
  };

  absl::MutexLock lock(&mu_);
  const Policy policy = policy_.load();

  // ---- decode node
  const std::vector<const NodeView*> decode_nodes =
      Routable(nodes, NodeRole::kDecode, request.exclude);
  if (decode_nodes.empty()) {
    return absl::UnavailableError("no routable decode node");
  }
  std::vector<Candidate> open;
  for (const NodeView* n : decode_nodes) {
    Candidate c = make_candidate(n);
    const int cap =
        n->info.max_running > 0
            ? static_cast<int>(
                  std::ceil(n->info.max_running * options_.max_inflight_factor))
            : options_.default_max_inflight;
    if (load_->InFlight(n->info.id) >= cap) continue;
    // Blocks the prompt still needs; a node that cannot hold them would
    // only queue or preempt.
    const int64_t needed =
        (prompt_len + n->info.block_size - 1) / n->info.block_size -
        c.overlap_blocks;  // history blocks are copied into fresh blocks
    if (n->load.kv_blocks_total > 0 && needed > n->load.kv_blocks_free &&
        needed <= n->load.kv_blocks_total) {
      continue;
    }
    c.est_ttft = load_->EstimateTtft(
        n->info.id,
        prompt_len - std::min(prompt_len, c.reusable_blocks * n->info.block_size));
    open.push_back(c);
  }
  if (open.empty()) {
    return absl::ResourceExhaustedError("every decode node is at capacity");
  }
  // SLO preference: keep the nodes expected to meet both targets, if any.
  std::vector<Candidate> fit;
  for (const Candidate& c : open) {
    const auto tpot = load_->TpotEstimate(c.node->info.id);
    if (c.est_ttft <= ttft_target &&
        (!tpot.has_value() || *tpot <= tpot_target)) {
      fit.push_back(c);
    }
  }
  std::vector<Candidate>& pool = fit.empty() ? open : fit;
  std::sort(pool.begin(), pool.end(),
            [](const Candidate& a, const Candidate& b) {
              return a.node->info.id < b.node->info.id;
            });

  const Candidate* chosen = nullptr;
  std::string decode_reason;
  // Candidates equal under the policy share the work in turn rather than
  // by id: with short requests nothing is ever in flight when the next one
  // is routed, and an id tie-break would send all of it to the first node
  // (a restarted or newly added node would never warm up).
  auto rotate_ties = [&](const std::vector<Candidate>& from, uint64_t& turn, auto better) {
    std::vector<const Candidate*> best;
    for (const Candidate& c : from) {
      if (best.empty() || better(c, *best.front())) {
        best.assign(1, &c);
      } else if (!better(*best.front(), c)) {
        best.push_back(&c);
      }
    }
    return best[turn++ % best.size()];
  };
  switch (policy) {
    case Policy::kRoundRobin:
      chosen = &pool[round_robin_next_++ % pool.size()];
      decode_reason = "round_robin";
      break;
    case Policy::kLeastLoaded:
      chosen = rotate_ties(pool, decode_turn_, LessLoaded);
      decode_reason = "least_loaded";
      break;
    case Policy::kKvAware: {
      auto score = [&](const Candidate& c) {
        return options_.kv_overlap_weight * c.overlap_blocks -
               options_.load_weight * c.active;
      };
      chosen = rotate_ties(pool, decode_turn_, [&](const Candidate& a, const Candidate& b) {
        const double diff = score(a) - score(b);
        if (std::abs(diff) > 1e-9) return diff > 0;
        return LessLoaded(a, b);
      });
      decode_reason = chosen->overlap_blocks > 0    ? "kv_overlap"
                      : chosen->reusable_blocks > 0 ? "kv_history"
                                                    : "kv_miss";
      break;
    }
  }
  if (fit.empty()) decode_reason += "_over_slo";

  RouteDecision d;
  d.decode = NodeRef{chosen->node->info.id, chosen->node->info.address};
  d.policy = policy;
  d.overlap_blocks = chosen->overlap_blocks;
  d.prompt_blocks = chosen->prompt_blocks;
  d.cached_tokens = std::min(
      prompt_len, chosen->reusable_blocks * chosen->node->info.block_size);
  d.uncached_tokens = prompt_len - d.cached_tokens;

  // ---- conditional disaggregation
  std::string prefill_reason;
  const std::vector<const NodeView*> prefill_nodes =
      Routable(nodes, NodeRole::kPrefill, request.exclude);
  if (prefill_nodes.empty()) {
    prefill_reason = "local_no_prefill_node";
  } else if (d.uncached_tokens < options_.disagg_threshold_tokens) {
    prefill_reason = d.cached_tokens > 0 ? "local_cached" : "local_short";
  } else {
    std::vector<Candidate> prefill_pool;
    for (const NodeView* n : prefill_nodes) {
      Candidate c = make_candidate(n);
      c.est_ttft = load_->EstimateTtft(
          n->info.id,
          prompt_len -
              std::min(prompt_len, c.reusable_blocks * n->info.block_size));
      prefill_pool.push_back(c);
    }
    std::sort(prefill_pool.begin(), prefill_pool.end(),
              [](const Candidate& a, const Candidate& b) {
                return a.node->info.id < b.node->info.id;
              });
    // Soonest first token, then least loaded; equal nodes take turns.
    const Candidate* best = rotate_ties(
        prefill_pool, prefill_turn_, [](const Candidate& a, const Candidate& b) {
          if (a.est_ttft != b.est_ttft) return a.est_ttft < b.est_ttft;
          return LessLoaded(a, b);
        });
    if (best->est_ttft > ttft_target) {
      prefill_reason = "local_prefill_over_ttft";
    } else {
      d.prefill = NodeRef{best->node->info.id, best->node->info.address};
      prefill_reason = "remote_prefill";
    }
  }
  d.reason = absl::StrCat(decode_reason, "/", prefill_reason);
  counts_[{std::string(PolicyName(policy)), d.reason}]++;
  d.prefill_tokens_ahead =
      load_->OnAssigned(d.decode.id, d.prefill.has_value() ? d.prefill->id : d.decode.id,
                        d.uncached_tokens);
  return d;
}

std::map<std::pair<std::string, std::string>, int64_t> Router::DecisionCounts()
    const {
  absl::MutexLock lock(&mu_);
  return counts_;
}

}  // namespace triptych::scheduler
