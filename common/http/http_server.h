#ifndef TRIPTYCH_COMMON_HTTP_HTTP_SERVER_H_
#define TRIPTYCH_COMMON_HTTP_HTTP_SERVER_H_

// An asynchronous HTTP/1.1 server (Boost.Beast over Asio) shared by every
// Triptych service for its HTTP endpoints (OpenAI API, /metrics, probes).
//
// A fixed pool of I/O threads runs every connection; there is no thread per
// connection, so thousands of long-lived streaming responses cost one socket
// and a few hundred bytes each. Connections are kept alive between requests.
//
// Routing is by method + path (the target without its query string): exact
// routes first, then the longest matching prefix route. A path no route
// matches answers 404; a path matched only under other methods answers 405
// with an Allow header. Request bodies over `max_body_bytes` answer 413.
//
// Handlers run on an I/O thread and must not block: a handler that waits on
// something (a backend, a model) takes the Responder and answers later from
// any thread, either with one full Response or with a chunked stream
// (StreamWriter) for Server-Sent Events. While the answer is pending the
// server keeps a read outstanding on the socket, so a client that goes away
// is noticed at once (OnDisconnect) even when nothing is being written.
//
// Lifecycle: Create() -> Handle*() routes -> Start() -> Stop(). Routes are
// fixed once started. Stop() stops accepting, closes idle connections, lets
// in-flight requests and streams finish until the deadline, then closes the
// rest (their disconnect callbacks fire) and joins the I/O threads.
//
// Thread safety: Handle*() before Start() only; Start() once; port(),
// draining() from any thread; Stop() from any thread except an I/O thread.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace triptych::http {

using Header = std::pair<std::string, std::string>;
using Headers = std::vector<Header>;

struct Request {
  std::string method;  // "GET", "POST", ... as sent
  std::string target;  // as sent, e.g. "/v1/models?x=1"
  std::string path;    // target up to '?'
  std::string query;   // after '?', without it; empty when none
  Headers headers;     // in arrival order, names as sent
  std::string body;
  std::string peer;  // "ip:port" of the client

  // Value of the first header named `name` (case-insensitive), if any.
  std::optional<std::string> Header(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  Headers headers;  // extra headers; Content-Length etc. are set by the server
  std::string body;

  static Response Json(int status, std::string body);
  static Response Text(int status, std::string body);
};

namespace internal {
class Exchange;
}  // namespace internal

// The body of a chunked (Transfer-Encoding: chunked) response in progress,
// e.g. an SSE stream. Thread-safe; may outlive the connection (writes then
// fail). Owned jointly by whoever holds a shared_ptr.
class StreamWriter {
 public:
  // Made by Responder::StartStream; `active` is false when the request was
  // already answered (every write then fails).
  StreamWriter(std::shared_ptr<internal::Exchange> exchange, bool active)
      : exchange_(std::move(exchange)), active_(active) {}
  // Closes the stream (as Close()).
  ~StreamWriter();
  StreamWriter(const StreamWriter&) = delete;
  StreamWriter& operator=(const StreamWriter&) = delete;

  // Queues `chunk` (empty chunks are skipped) and returns at once. Returns
  // false once the client is gone, the stream was closed, or the client fell
  // more than ServerOptions::max_stream_buffer_bytes behind (which also
  // drops the connection).
  bool Write(std::string chunk);

  // Ends the body after everything queued is sent. Idempotent.
  void Close();

  // See Responder::OnDisconnect.
  void OnDisconnect(std::function<void()> callback);

  // True once the client went away (or the server force-closed it).
  bool disconnected() const;

 private:
  const std::shared_ptr<internal::Exchange> exchange_;
  const bool active_;
};

// The answer channel of one request, passed to async handlers. Exactly one
// of Respond() / StartStream() takes effect; later calls are ignored.
// Thread-safe. Dropping every reference without answering sends 500.
class Responder {
 public:
  explicit Responder(std::shared_ptr<internal::Exchange> exchange)
      : exchange_(std::move(exchange)) {}
  // Answers 500 if nothing was answered.
  ~Responder();
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;

  // Sends a complete response. Returns false when the client is gone or
  // the request was already answered.
  bool Respond(Response response);

  // Sends the status line and headers of a chunked response now and returns
  // its body writer (never null; writes fail if the client is gone).
  std::shared_ptr<StreamWriter> StartStream(int status,
                                            std::string content_type,
                                            Headers headers = {});

  // `callback` runs once, on an I/O thread, when the client disconnects
  // before the response is complete (or the server force-closes it on
  // Stop()). Runs immediately, on the caller's thread, when the client is
  // already gone. Keep it short (e.g. cancel the backend request). Replaces
  // an earlier callback.
  void OnDisconnect(std::function<void()> callback);

  bool disconnected() const;

 private:
  const std::shared_ptr<internal::Exchange> exchange_;
};

// Synchronous handler: cheap work, answered inline.
using Handler = std::function<Response(const Request&)>;
// Asynchronous handler: answers through the Responder, now or later.
using AsyncHandler =
    std::function<void(Request request, std::shared_ptr<Responder> responder)>;

struct ServerOptions {
  std::string host = "127.0.0.1";  // "0.0.0.0" / "::" for all interfaces
  int port = 0;                    // 0 = pick a free port, see port()
  int num_threads = 2;             // I/O threads
  int64_t max_body_bytes = 8 << 20;
  int64_t max_header_bytes = 64 << 10;
  // Maximum bytes queued per streaming response before the client counts as
  // too slow and is dropped.
  int64_t max_stream_buffer_bytes = 16 << 20;
  // A keep-alive connection with no complete request for this long closes.
  absl::Duration idle_timeout = absl::Seconds(60);
  int max_connections = 20000;  // further connections are refused (closed)
  std::string server_name = "triptych";
  // HTTPS: PEM certificate chain and private key; both empty = plain HTTP.
  // Start() fails with kInvalidArgument when only one is given or they
  // cannot be loaded. TLS 1.2 and 1.3 only.
  std::string tls_cert_file;
  std::string tls_key_file;
};

class Server {
 public:
  // Validates options. Errors: kInvalidArgument.
  static absl::StatusOr<std::unique_ptr<Server>> Create(ServerOptions options);
  ~Server();  // Stop(absl::ZeroDuration()) when still running.
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Routes `method` + exact `path` to a handler. Registering the same
  // method + path again replaces the handler.
  void Handle(std::string method, std::string path, Handler handler);
  void HandleAsync(std::string method, std::string path, AsyncHandler handler);
  // Routes every path starting with `prefix` (longest prefix wins; exact
  // routes win over prefix routes).
  void HandlePrefix(std::string method, std::string prefix, Handler handler);
  void HandlePrefixAsync(std::string method, std::string prefix,
                         AsyncHandler handler);

  // Binds, listens and starts the I/O threads. Errors: kInvalidArgument
  // (bad host), kUnavailable (cannot bind, e.g. the port is in use),
  // kFailedPrecondition (already started).
  absl::Status Start();

  // The bound port (the real one when options.port was 0); 0 before Start().
  int port() const { return port_.load(); }

  // True once Stop() began.
  bool draining() const { return draining_.load(); }

  // Stops accepting and waits up to `deadline` for in-flight requests and
  // streams to complete, then closes what is left and joins the I/O
  // threads. Idempotent; later calls return at once.
  void Stop(absl::Duration deadline = absl::Seconds(30));

  // Open connections (for tests and metrics).
  int64_t connection_count() const;

 private:
  class Impl;
  explicit Server(ServerOptions options);

  std::unique_ptr<Impl> impl_;
  std::atomic<int> port_{0};
  std::atomic<bool> draining_{false};
};

}  // namespace triptych::http

#endif  // TRIPTYCH_COMMON_HTTP_HTTP_SERVER_H_
