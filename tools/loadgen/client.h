#ifndef TRIPTYCH_TOOLS_LOADGEN_CLIENT_H_
#define TRIPTYCH_TOOLS_LOADGEN_CLIENT_H_

// The asynchronous HTTP/1.1 client: one coroutine per request on a single
// io_context thread, so thousands of concurrent streams need no threads.
// Each request opens its own connection (no pooling: connection set-up is
// part of TTFT, as for a fresh client).

#include <chrono>
#include <string>
#include <utility>  // before Asio: its awaitable.hpp uses std::exchange

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "boost/asio/awaitable.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/beast/core/tcp_stream.hpp"
#include "tools/loadgen/dataset.h"
#include "tools/loadgen/openai.h"
#include "tools/loadgen/prompt.h"
#include "tools/loadgen/request_result.h"

namespace triptych::loadgen {

using Clock = std::chrono::steady_clock;

// Where requests go, from --url "http://host[:port][/prefix]".
struct Target {
  std::string host;
  std::string port = "80";
  std::string path;  // full request path, e.g. "/v1/chat/completions"
};

// Parses `url` and appends `endpoint_path` to its path (a trailing "/v1" in
// the URL is dropped, so both "http://h:8000" and "http://h:8000/v1" work).
// Errors: kUnimplemented for https, kInvalidArgument otherwise.
absl::StatusOr<Target> ParseUrl(const std::string& url,
                                const std::string& endpoint_path);

// The streams of the requests in flight, so that the owner can cancel them
// (a stop or the hard deadline). Used from the io_context thread only.
class StreamRegistry {
 public:
  void Add(boost::beast::tcp_stream* s) { streams_.insert(s); }
  void Remove(boost::beast::tcp_stream* s) { streams_.erase(s); }
  // Cancels every pending operation; their requests fail as "cancelled".
  void CancelAll();
  bool cancelled() const { return cancelled_; }

 private:
  absl::flat_hash_set<boost::beast::tcp_stream*> streams_;
  bool cancelled_ = false;
};

// Everything a request needs besides its spec; must outlive the requests.
struct ClientConfig {
  Target target;
  boost::asio::ip::tcp::resolver::results_type endpoints;
  ApiOptions api;
  std::string api_key;  // sent as "Authorization: Bearer ..." when set
  bool keep_text = false;
  // Counts tokens when the server sends no usage (tokenizer or estimate).
  const PromptSynthesizer* counter = nullptr;
  Clock::time_point epoch;  // benchmark time 0
  StreamRegistry* registry = nullptr;
};

// Sends `spec` and fills `result` (start_s, end_s, chunks, tokens, success
// or error kind). Never throws and never outlives `deadline`: past it the
// request fails as "timeout", or as "deadline" when `deadline_is_global`.
// Runs on the io_context thread; `result` must stay valid until it returns.
boost::asio::awaitable<void> SendRequest(const ClientConfig& config,
                                         RequestSpec spec,
                                         Clock::time_point deadline,
                                         bool deadline_is_global,
                                         RequestResult* result);

}  // namespace triptych::loadgen

#endif  // TRIPTYCH_TOOLS_LOADGEN_CLIENT_H_
