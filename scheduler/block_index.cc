#include "scheduler/block_index.h"

#include "runtime/kv/kv_cache.h"

namespace triptych::scheduler {

std::vector<BlockHash> PromptBlockHashes(absl::Span<const int32_t> tokens,
                                         int block_size) {
  std::vector<BlockHash> hashes;
  if (block_size <= 0) return hashes;
  const size_t bs = static_cast<size_t>(block_size);
  hashes.reserve(tokens.size() / bs);
  BlockHash parent = 0;
  for (size_t begin = 0; begin + bs <= tokens.size(); begin += bs) {
    parent = kv::KvCache::ChainHash(parent, tokens.subspan(begin, bs));
    hashes.push_back(parent);
  }
  return hashes;
}

void GlobalBlockIndex::Apply(const std::string& node,
                             absl::Span<const KvEvent> events) {
  if (events.empty()) return;
  absl::MutexLock lock(&mu_);
  auto& mine = by_node_[node];
  for (const KvEvent& e : events) {
    if (e.kind == KvEvent::Kind::kStored) {
      if (static_cast<int64_t>(mine.size()) >= max_blocks_per_node_) continue;
      if (mine.insert(e.hash).second) holders_[e.hash].insert(node);
    } else if (mine.erase(e.hash) > 0) {
      auto it = holders_.find(e.hash);
      if (it != holders_.end()) {
        it->second.erase(node);
        if (it->second.empty()) holders_.erase(it);
      }
    }
  }
  if (mine.empty()) by_node_.erase(node);
}

void GlobalBlockIndex::RemoveNode(const std::string& node) {
  absl::MutexLock lock(&mu_);
  auto node_it = by_node_.find(node);
  if (node_it == by_node_.end()) return;
  for (BlockHash h : node_it->second) {
    auto it = holders_.find(h);
    if (it == holders_.end()) continue;
    it->second.erase(node);
    if (it->second.empty()) holders_.erase(it);
  }
  by_node_.erase(node_it);
}

int GlobalBlockIndex::MatchPrefix(const std::string& node,
                                  absl::Span<const BlockHash> hashes) const {
  absl::MutexLock lock(&mu_);
  auto node_it = by_node_.find(node);
  if (node_it == by_node_.end()) return 0;
  int n = 0;
  for (BlockHash h : hashes) {
    if (!node_it->second.contains(h)) break;
    ++n;
  }
  return n;
}

int64_t GlobalBlockIndex::NumBlocks(const std::string& node) const {
  absl::MutexLock lock(&mu_);
  auto it = by_node_.find(node);
  return it == by_node_.end() ? 0 : static_cast<int64_t>(it->second.size());
}

int64_t GlobalBlockIndex::NumHashes() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(holders_.size());
}

}  // namespace triptych::scheduler
