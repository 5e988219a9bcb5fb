#ifndef TRIPTYCH_TOOLS_LOADGEN_REQUEST_RESULT_H_
#define TRIPTYCH_TOOLS_LOADGEN_REQUEST_RESULT_H_

// What the client observed for one request. Times are seconds on the
// benchmark clock (steady clock, 0 = benchmark start).

#include <cstdint>
#include <string>
#include <vector>

namespace triptych::loadgen {

// Where a token count came from, most trusted first.
enum class TokenSource {
  kNone,       // nothing to count (failed request)
  kUsage,      // the server's `usage` object
  kTokenizer,  // counted with --tokenizer on the client
  kChunks,     // one token per streamed chunk that carried text
  kEstimate,   // tokenizer-free estimate from the text (see CountText)
  kSynthetic,  // prompt length the workload asked for (prompts only)
};

const char* TokenSourceName(TokenSource source);

struct RequestResult {
  int64_t index = 0;     // position in the workload
  bool warmup = false;   // excluded from the metrics
  bool success = false;  // full response received and parsed
  // Empty on success; else a stable error kind used as a JSON key:
  // "connection_refused", "connect_error", "http_<status>", "malformed_sse",
  // "malformed_response", "stream_error", "incomplete_stream", "timeout",
  // "deadline", "io_error", "empty_response".
  std::string error_kind;
  std::string error_message;

  double scheduled_s = 0;  // planned arrival
  double start_s = 0;      // request sent (after the concurrency limit)
  double end_s = 0;        // response complete or failed
  // Arrival time of every chunk that carried generated text, and how many
  // tokens each is credited with (sums to output_tokens on success).
  std::vector<double> chunk_times_s;
  std::vector<double> chunk_tokens;
  bool streamed = false;

  int64_t prompt_tokens = 0;
  TokenSource prompt_source = TokenSource::kNone;
  int64_t output_tokens = 0;
  TokenSource output_source = TokenSource::kNone;
  std::string generated_text;  // kept only when asked (--save-detailed)

  double ttft_s() const {
    return chunk_times_s.empty() ? end_s - start_s
                                 : chunk_times_s.front() - start_s;
  }
  double e2e_s() const { return end_s - start_s; }
};

}  // namespace triptych::loadgen

#endif  // TRIPTYCH_TOOLS_LOADGEN_REQUEST_RESULT_H_
