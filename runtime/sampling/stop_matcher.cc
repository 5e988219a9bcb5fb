#include "runtime/sampling/stop_matcher.h"

#include <algorithm>
#include <cstddef>
#include <utility>

namespace triptych::sampling {

StopMatcher::StopMatcher(std::vector<std::string> stop_strings)
    : stops_(std::move(stop_strings)) {}

StopMatcher::Result StopMatcher::Consume(std::string_view piece) {
  Result result;
  if (stopped_) return result;
  held_.append(piece);

  // Earliest complete match. A stop string cannot lie entirely inside the
  // previously held text (it would have matched then), so searching the
  // whole buffer finds only new matches.
  size_t best_pos = std::string::npos;
  for (size_t i = 0; i < stops_.size(); ++i) {
    if (stops_[i].empty()) continue;
    const size_t pos = held_.find(stops_[i]);
    if (pos < best_pos) {
      best_pos = pos;
      result.stop_index = static_cast<int>(i);
    }
  }
  if (best_pos != std::string::npos) {
    result.text = held_.substr(0, best_pos);
    result.stopped = true;
    stopped_ = true;
    held_.clear();
    return result;
  }

  // Hold back the longest suffix of the buffer that is a proper prefix of
  // some stop string.
  size_t hold = 0;
  for (const std::string& stop : stops_) {
    const size_t max_len =
        std::min(stop.size() - (stop.empty() ? 0 : 1), held_.size());
    for (size_t len = max_len; len > hold; --len) {
      if (std::string_view(held_).substr(held_.size() - len) ==
          std::string_view(stop).substr(0, len)) {
        hold = len;
        break;
      }
    }
  }
  result.text = held_.substr(0, held_.size() - hold);
  held_.erase(0, held_.size() - hold);
  return result;
}

std::string StopMatcher::Flush() {
  std::string out;
  out.swap(held_);
  return out;
}

}  // namespace triptych::sampling
