#ifndef TRIPTYCH_SCHEDULER_BLOCK_INDEX_H_
#define TRIPTYCH_SCHEDULER_BLOCK_INDEX_H_

// The global KV block index: which nodes hold which prefix blocks, fed by
// the stored/evicted events nodes send with their heartbeats (the same chain
// hashes as kv::KvCache::ChainHash). The KV-aware router asks it how many
// leading blocks of a prompt each node already holds.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "scheduler/types.h"

namespace triptych::scheduler {

// Chain hashes of the full `block_size`-token blocks of `tokens` (a trailing
// partial block has no hash), computed with kv::KvCache::ChainHash so they
// match the hashes in the nodes' KV events. Empty when block_size <= 0.
std::vector<BlockHash> PromptBlockHashes(absl::Span<const int32_t> tokens,
                                         int block_size);

// Thread-safe.
class GlobalBlockIndex {
 public:
  // `max_blocks_per_node` bounds what one node can make the index hold (node
  // events are untrusted input); stored events past it are dropped.
  explicit GlobalBlockIndex(int64_t max_blocks_per_node = int64_t{1} << 22)
      : max_blocks_per_node_(max_blocks_per_node) {}
  GlobalBlockIndex(const GlobalBlockIndex&) = delete;
  GlobalBlockIndex& operator=(const GlobalBlockIndex&) = delete;

  // Applies `node`'s events in order.
  void Apply(const std::string& node, absl::Span<const KvEvent> events);

  // Forgets everything `node` held (it died or restarted).
  void RemoveNode(const std::string& node);

  // Number of leading `hashes` that `node` holds (stops at the first miss,
  // because a block's KV is only usable with its whole prefix).
  int MatchPrefix(const std::string& node,
                  absl::Span<const BlockHash> hashes) const;

  // Blocks held by `node`.
  int64_t NumBlocks(const std::string& node) const;
  // Distinct hashes in the index.
  int64_t NumHashes() const;

 private:
  const int64_t max_blocks_per_node_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<BlockHash, absl::flat_hash_set<std::string>> holders_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::flat_hash_set<BlockHash>> by_node_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace triptych::scheduler

#endif  // TRIPTYCH_SCHEDULER_BLOCK_INDEX_H_
