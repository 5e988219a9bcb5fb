#ifndef TRIPTYCH_TOOLS_LOADGEN_SSE_H_
#define TRIPTYCH_TOOLS_LOADGEN_SSE_H_

// Incremental parser for text/event-stream bodies (the WHATWG server-sent
// events format) as OpenAI-compatible servers stream them.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace triptych::loadgen {

struct SseEvent {
  std::string event;  // "event:" field; empty means "message"
  std::string data;   // "data:" lines joined with '\n'
};

// Feed bytes as they arrive (split anywhere, even inside a "\r\n"); complete
// events come out. Lines may end in "\n", "\r\n" or "\r". Comments (":...")
// and unknown fields are ignored as the format says. Not thread-safe.
class SseParser {
 public:
  explicit SseParser(size_t max_line_bytes = size_t{16} << 20)
      : max_line_bytes_(max_line_bytes) {}

  // Appends every event completed by `bytes` to `events`. Errors:
  // kResourceExhausted when a line grows past the limit (the parser is then
  // unusable).
  absl::Status Feed(std::string_view bytes, std::vector<SseEvent>* events);

  // End of stream: dispatches a pending event that lacked its blank line
  // (lenient: some servers close right after the last data line).
  void Finish(std::vector<SseEvent>* events);

 private:
  void Line(std::string_view line, std::vector<SseEvent>* events);

  const size_t max_line_bytes_;
  std::string line_;
  bool skip_lf_ = false;  // a '\r' ended the last line; drop a following '\n'
  bool has_data_ = false;
  SseEvent pending_;
};

}  // namespace triptych::loadgen

#endif  // TRIPTYCH_TOOLS_LOADGEN_SSE_H_
