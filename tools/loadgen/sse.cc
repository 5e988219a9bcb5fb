#include "tools/loadgen/sse.h"

#include <utility>

namespace triptych::loadgen {

absl::Status SseParser::Feed(std::string_view bytes,
                             std::vector<SseEvent>* events) {
  for (char c : bytes) {
    if (skip_lf_) {
      skip_lf_ = false;
      if (c == '\n') continue;
    }
    if (c == '\r' || c == '\n') {
      skip_lf_ = c == '\r';
      Line(line_, events);
      line_.clear();
      continue;
    }
    if (line_.size() >= max_line_bytes_) {
      return absl::ResourceExhaustedError("server-sent event line too long");
    }
    line_.push_back(c);
  }
  return absl::OkStatus();
}

void SseParser::Finish(std::vector<SseEvent>* events) {
  if (!line_.empty()) {
    Line(line_, events);
    line_.clear();
  }
  Line("", events);
}

void SseParser::Line(std::string_view line, std::vector<SseEvent>* events) {
  if (line.empty()) {  // blank line: dispatch
    if (has_data_) events->push_back(std::move(pending_));
    pending_ = SseEvent();
    has_data_ = false;
    return;
  }
  if (line.front() == ':') return;  // comment
  std::string_view field = line, value;
  if (size_t colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) pending_.data.push_back('\n');
    pending_.data.append(value);
    has_data_ = true;
  } else if (field == "event") {
    pending_.event = std::string(value);
  }
}

}  // namespace triptych::loadgen
