#include "tools/loadgen/client.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <utility>  // before Asio: its awaitable.hpp uses std::exchange
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "boost/asio/redirect_error.hpp"
#include "boost/asio/use_awaitable.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/http.hpp"
#include "tools/loadgen/sse.h"

namespace triptych::loadgen {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;

absl::StatusOr<Target> ParseUrl(const std::string& url,
                                const std::string& endpoint_path) {
  absl::string_view rest = url;
  if (absl::StartsWith(rest, "https://")) {
    return absl::UnimplementedError("https is not supported; use http://");
  }
  if (!absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("URL must start with http://, got '", url, "'"));
  }
  Target t;
  const size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  absl::string_view prefix =
      slash == absl::string_view::npos ? "" : rest.substr(slash);
  if (authority.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("no host in '", url, "'"));
  }
  // "[v6addr]:port", "host:port" or "host".
  size_t colon = authority.rfind(':');
  if (authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad host in '", url, "'"));
    }
    t.host = std::string(authority.substr(1, close - 1));
    colon = authority.find(':', close);
  } else {
    t.host = std::string(authority.substr(0, colon));
  }
  if (colon != absl::string_view::npos) {
    t.port = std::string(authority.substr(colon + 1));
    int port = 0;
    if (!absl::SimpleAtoi(t.port, &port) || port < 1 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad port in '", url, "'"));
    }
  }
  while (absl::ConsumeSuffix(&prefix, "/")) {
  }
  absl::ConsumeSuffix(&prefix, "/v1");
  t.path = absl::StrCat(std::string(prefix), endpoint_path);
  return t;
}

void StreamRegistry::CancelAll() {
  cancelled_ = true;
  for (beast::tcp_stream* s : streams_) s->cancel();
}

namespace {

constexpr size_t kMaxBodyBytes = size_t{64} << 20;
constexpr size_t kMaxErrorBodyBytes = 1024;

// Accumulates what the response carried, then decides the token counts.
class ResponseState {
 public:
  ResponseState(const ClientConfig& config, RequestResult* result)
      : config_(config), result_(result) {}

  // One parsed chunk (or whole non-streamed body) received at `t`.
  void Add(const ParsedChunk& chunk, double t) {
    if (!chunk.text.empty()) {
      result_->chunk_times_s.push_back(t);
      text_ += chunk.text;
    }
    if (chunk.prompt_tokens) prompt_usage_ = chunk.prompt_tokens;
    if (chunk.completion_tokens) completion_usage_ = chunk.completion_tokens;
    finished_ = finished_ || chunk.finished;
  }
  bool finished() const { return finished_; }

  // Sets the token counts and chunk credits of a successful request.
  void Finalize(const RequestSpec& spec) {
    RequestResult& r = *result_;
    const size_t chunks = r.chunk_times_s.size();
    if (completion_usage_) {
      r.output_tokens = *completion_usage_;
      r.output_source = TokenSource::kUsage;
    } else if (config_.counter != nullptr && config_.counter->has_tokenizer()) {
      r.output_tokens = config_.counter->CountTokens(text_);
      r.output_source = TokenSource::kTokenizer;
    } else if (r.streamed && chunks > 0 &&
               text_.size() <= chunks * kMaxBytesPerTokenChunk) {
      // Most servers stream one token per chunk; short chunks say so.
      r.output_tokens = static_cast<int64_t>(chunks);
      r.output_source = TokenSource::kChunks;
    } else {
      r.output_tokens = PromptSynthesizer::EstimateTokens(text_);
      r.output_source = TokenSource::kEstimate;
    }
    r.chunk_tokens.assign(chunks, chunks == 0
                                      ? 0.0
                                      : static_cast<double>(r.output_tokens) /
                                            static_cast<double>(chunks));
    if (prompt_usage_) {
      r.prompt_tokens = *prompt_usage_;
      r.prompt_source = TokenSource::kUsage;
    } else if (config_.counter != nullptr && config_.counter->has_tokenizer()) {
      r.prompt_tokens = 0;
      for (const Message& m : spec.messages) {
        r.prompt_tokens += config_.counter->CountTokens(m.content);
      }
      r.prompt_source = TokenSource::kTokenizer;
    } else {
      r.prompt_tokens = spec.prompt_tokens;
      r.prompt_source = TokenSource::kSynthetic;
    }
    if (config_.keep_text) r.generated_text = std::move(text_);
  }

 private:
  // Chunks averaging more bytes than this are taken to hold several tokens
  // (one English BPE token averages ~4 bytes; 8 allows long words).
  static constexpr size_t kMaxBytesPerTokenChunk = 8;

  const ClientConfig& config_;
  RequestResult* result_;
  std::string text_;
  std::optional<int64_t> prompt_usage_;
  std::optional<int64_t> completion_usage_;
  bool finished_ = false;
};

void Fail(RequestResult* r, std::string kind, std::string message) {
  r->success = false;
  r->error_kind = std::move(kind);
  r->error_message = std::move(message);
}

// The error kind of a transport error.
std::string KindOf(const boost::system::error_code& ec, bool connecting,
                   bool deadline_is_global, const StreamRegistry* registry) {
  if (registry != nullptr && registry->cancelled()) return "cancelled";
  if (ec == beast::error::timeout || ec == asio::error::operation_aborted) {
    return deadline_is_global ? "deadline" : "timeout";
  }
  if (ec == asio::error::connection_refused) return "connection_refused";
  return connecting ? "connect_error" : "io_error";
}

}  // namespace

asio::awaitable<void> SendRequest(const ClientConfig& config, RequestSpec spec,
                                  Clock::time_point deadline,
                                  bool deadline_is_global,
                                  RequestResult* result) {
  auto now_s = [&config] {
    return std::chrono::duration<double>(Clock::now() - config.epoch).count();
  };
  RequestResult& r = *result;
  r.start_s = now_s();
  r.streamed = config.api.stream;
  auto body = BuildRequestBody(config.api, spec);
  if (!body.ok()) {
    Fail(&r, "bad_request", std::string(body.status().message()));
    r.end_s = now_s();
    co_return;
  }

  beast::tcp_stream stream(co_await asio::this_coro::executor);
  if (config.registry != nullptr) config.registry->Add(&stream);
  // The registry must forget the stream on every exit path.
  struct Unregister {
    StreamRegistry* registry;
    beast::tcp_stream* stream;
    ~Unregister() {
      if (registry != nullptr) registry->Remove(stream);
    }
  } unregister{config.registry, &stream};

  // One deadline for connect, write and every read.
  stream.expires_at(deadline);
  boost::system::error_code ec;
  auto token = asio::redirect_error(asio::use_awaitable, ec);
  auto fail_io = [&](bool connecting, std::string_view what) {
    Fail(&r, KindOf(ec, connecting, deadline_is_global, config.registry),
         absl::StrCat(std::string(what), ": ", ec.message()));
    r.end_s = now_s();
  };
  if (config.registry != nullptr && config.registry->cancelled()) {
    ec = asio::error::operation_aborted;
    fail_io(true, "connect");
    co_return;
  }

  co_await stream.async_connect(config.endpoints, token);
  if (ec) {
    fail_io(true, "connect");
    co_return;
  }

  http::request<http::string_body> req{http::verb::post, config.target.path,
                                       11};
  req.set(http::field::host, config.target.host);
  req.set(http::field::user_agent, "triptych-loadgen");
  req.set(http::field::content_type, "application/json");
  req.set(http::field::accept,
          config.api.stream ? "text/event-stream" : "application/json");
  if (!config.api_key.empty()) {
    req.set(http::field::authorization,
            absl::StrCat("Bearer ", config.api_key));
  }
  req.body() = std::move(*body);
  req.prepare_payload();
  co_await http::async_write(stream, req, token);
  if (ec) {
    fail_io(false, "write");
    co_return;
  }

  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  // Not boost::none: Boost 1.74 compares Content-Length against the empty
  // optional and fails every sized body with "body limit exceeded".
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  co_await http::async_read_header(stream, buffer, parser, token);
  if (ec) {
    fail_io(false, "read header");
    co_return;
  }
  const unsigned status = parser.get().result_int();
  const bool sse = absl::StrContains(
      absl::AsciiStrToLower(
          std::string(parser.get()[http::field::content_type])),
      "text/event-stream");

  ResponseState state(config, &r);
  SseParser sse_parser;
  std::vector<SseEvent> events;
  std::string whole;  // non-SSE body (JSON response or error body)
  bool done = false;  // [DONE] seen
  std::string error_kind, error_message;
  std::array<char, 64 * 1024> chunk;

  while (!parser.is_done() && error_kind.empty()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    co_await http::async_read_some(stream, buffer, parser, token);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      fail_io(false, "read body");
      co_return;
    }
    const size_t n = chunk.size() - parser.get().body().size;
    const std::string_view bytes(chunk.data(), n);
    const double t = now_s();
    if (status != 200 || !sse) {
      const size_t cap = status != 200 ? kMaxErrorBodyBytes : kMaxBodyBytes;
      whole.append(
          bytes.substr(0, std::min(n, cap - std::min(cap, whole.size()))));
      if (status == 200 && whole.size() >= kMaxBodyBytes) {
        error_kind = "malformed_response";
        error_message = "response body over 64 MiB";
      }
      // An error body need not be read to the end.
      if (status != 200 && whole.size() >= kMaxErrorBodyBytes) break;
      continue;
    }
    events.clear();
    if (absl::Status s = sse_parser.Feed(bytes, &events); !s.ok()) {
      error_kind = "malformed_sse";
      error_message = std::string(s.message());
      break;
    }
    for (const SseEvent& e : events) {
      if (done) break;
      if (e.data == "[DONE]") {
        done = true;
        break;
      }
      auto parsed = ParseChunk(e.data);
      if (!parsed.ok()) {
        error_kind =
            absl::IsAborted(parsed.status()) ? "stream_error" : "malformed_sse";
        error_message = std::string(parsed.status().message());
        break;
      }
      state.Add(*parsed, t);
    }
    // Servers may keep the connection open after [DONE].
    if (done) break;
  }
  r.end_s = now_s();
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);

  if (status != 200) {
    Fail(&r, absl::StrCat("http_", status),
         whole.substr(0, kMaxErrorBodyBytes));
    co_return;
  }
  if (!error_kind.empty()) {
    Fail(&r, error_kind, error_message);
    co_return;
  }
  if (sse) {
    if (!done) {
      events.clear();
      sse_parser.Finish(&events);
      for (const SseEvent& e : events) {
        if (e.data == "[DONE]") {
          done = true;
        } else if (auto parsed = ParseChunk(e.data); parsed.ok()) {
          state.Add(*parsed, r.end_s);
        }
      }
    }
    if (!done && !state.finished()) {
      Fail(&r, "incomplete_stream", "stream ended without [DONE]");
      co_return;
    }
  } else {
    // Not streamed, or a server that ignored "stream": one JSON body.
    r.streamed = false;
    auto parsed = ParseChunk(whole);
    if (!parsed.ok()) {
      Fail(&r,
           absl::IsAborted(parsed.status()) ? "stream_error"
                                            : "malformed_response",
           std::string(parsed.status().message()));
      co_return;
    }
    state.Add(*parsed, r.end_s);
    // A whole response is one "chunk" at the end, but there is no first
    // token time to speak of: TTFT = E2E, no ITL, no TPOT.
  }
  r.success = true;
  state.Finalize(spec);
}

}  // namespace triptych::loadgen
