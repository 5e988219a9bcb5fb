#ifndef TRIPTYCH_COMMON_HTTP_CONNECTION_H_
#define TRIPTYCH_COMMON_HTTP_CONNECTION_H_

// Internal to triptych_http: one accepted connection (Session) and the
// answer state of one request (Exchange). Users see them only through
// Responder / StreamWriter (http_server.h).
//
// Threading: every socket operation of a Session runs on its strand. An
// Exchange is touched from handler threads and the strand; its state is
// guarded by its own mutex and it only holds a weak_ptr to the Session, so
// a handler that keeps a Responder never keeps a closed connection alive.
//
// Session phases (per request on a keep-alive connection):
//
//   kReading --request--> kHandling --answer written, keep-alive--> kReading
//      |                     |--error answer written--> kLingering --> kClosed
//      +--error/EOF/idle-----+--disconnect/overflow/force-----------> kClosed
//
// While kHandling an async handler's answer, a read stays pending on the
// socket ("watch"): EOF or an error there is a disconnect; bytes that arrive
// (a pipelined next request) are kept in the read buffer.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/strand.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/http/message.hpp"
#include "boost/beast/http/parser.hpp"
#include "boost/beast/http/string_body.hpp"
#include "common/http/http_server.h"

namespace triptych::http::internal {

class Session;

// Routing result for one request.
struct RouteMatch {
  const Handler* handler = nullptr;
  const AsyncHandler* async_handler = nullptr;
  std::string allow;  // for 405: methods the path accepts; empty = 404
};

// What a Session needs from its server. Outlives every Session.
// Whether the server's io_context (and so every session's socket and timer)
// still exists. Exchanges are held by handlers on any thread, possibly past
// the server's end (a backend's last event after shutdown): they lock their
// session only under a reader lock while `alive`, so a session is never used
// or destroyed after its io_context. The server clears `alive` (writer lock)
// before destroying the io_context.
struct ServerLife {
  absl::Mutex mu;
  bool alive ABSL_GUARDED_BY(mu) = true;
};

class SessionHost {
 public:
  virtual ~SessionHost() = default;
  virtual const std::shared_ptr<ServerLife>& life() const = 0;
  virtual const ServerOptions& options() const = 0;
  virtual RouteMatch FindRoute(const std::string& method, const std::string& path) const = 0;
  virtual bool draining() const = 0;
  virtual void OnSessionGone(uint64_t id) = 0;
};

// Answer state of one request. Thread-safe.
class Exchange {
 public:
  Exchange(std::weak_ptr<Session> session, std::shared_ptr<ServerLife> life, bool chunked,
           bool keep_alive, int64_t max_buffer_bytes, std::string server_name);

  bool Respond(Response response);
  // Returns false when already answered (the writer then stays inert).
  bool StartStream(int status, const std::string& content_type, const Headers& headers);
  bool Write(std::string chunk);
  void Close();
  void OnDisconnect(std::function<void()> callback);
  bool disconnected() const;
  // Unanswered and no one can answer any more: 500.
  void Abandon();

  // --- Called by the Session, on its strand. ---
  // Marks the client gone and runs the disconnect callback (once), unless
  // the response already completed.
  void MarkDisconnected();
  // Marks the response fully written; later disconnects are not reported.
  void MarkComplete();
  // Moves queued stream bytes to `out`; `*last` is true when they end the
  // response. Returns false when there is nothing to write.
  bool TakePending(std::string* out, bool* last);

 private:
  enum class Answer { kNone, kFull, kStream };
  void ScheduleFlushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::weak_ptr<Session> session_;
  const std::shared_ptr<ServerLife> life_;
  const bool chunked_;  // HTTP/1.1; HTTP/1.0 streams raw and closes
  const bool keep_alive_;
  const int64_t max_buffer_bytes_;
  const std::string server_name_;

  mutable absl::Mutex mu_;
  Answer answer_ ABSL_GUARDED_BY(mu_) = Answer::kNone;
  bool disconnected_ ABSL_GUARDED_BY(mu_) = false;
  bool complete_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;   // stream end queued
  bool dropped_ ABSL_GUARDED_BY(mu_) = false;  // client too slow: closing
  bool flush_scheduled_ ABSL_GUARDED_BY(mu_) = false;
  std::string pending_ ABSL_GUARDED_BY(mu_);
  std::function<void()> on_disconnect_ ABSL_GUARDED_BY(mu_);
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  // `tls` (optional, owned by the server) makes this an HTTPS connection:
  // a TLS handshake precedes the first request.
  Session(boost::asio::ip::tcp::socket socket, SessionHost* host, uint64_t id,
          boost::asio::ssl::context* tls = nullptr);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Begins reading requests. Call once.
  void Start();
  // Server draining: closes the connection when it is between requests.
  void Drain();
  // Closes the connection now; a pending answer sees a disconnect.
  void ForceClose();

  // --- Posted by Exchange; run on the strand. ---
  void SendFull(Response response, bool keep_alive);
  void FlushStream();
  void Post(std::function<void()> fn);

 private:
  enum class Phase { kReading, kHandling, kLingering, kClosed };

  void ReadRequest();
  void OnHeader(boost::system::error_code ec);
  void ReadBody();
  void OnRequest(boost::system::error_code ec);
  void Dispatch();
  void StartWatch();
  void OnWatch(boost::system::error_code ec, std::size_t n);
  void HandleReadError(boost::system::error_code ec);
  void ResponseDone(bool keep_alive);
  void SendError(int status, const std::string& message);
  // After an error answer (413, 400) the client may still be sending:
  // half-close, drain what arrives for a while, then Close(), so the answer
  // is not destroyed by a TCP reset.
  void LingerClose();
  // Closes the socket; a pending answer's exchange sees a disconnect.
  void Close();
  void ArmTimer(std::chrono::steady_clock::duration d);
  void CancelTimer();
  // The TCP socket under either kind of stream.
  boost::asio::ip::tcp::socket& Socket();
  // Calls fn(stream) with the plain socket or the TLS stream.
  template <typename F>
  void WithStream(F&& fn) {
    std::visit(fn, stream_);
  }

  using TlsStream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;
  std::variant<boost::asio::ip::tcp::socket, TlsStream> stream_;
  SessionHost* const host_;
  const uint64_t id_;
  std::string peer_;
  boost::asio::steady_timer timer_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  std::shared_ptr<boost::beast::http::response<boost::beast::http::string_body>> full_;
  std::string write_buf_;
  std::shared_ptr<Exchange> exchange_;
  Phase phase_ = Phase::kReading;
  uint64_t timer_gen_ = 0;  // a timer firing for an older arming is ignored
  bool http11_ = true;
  bool keep_alive_ = false;
  bool watch_pending_ = false;
  bool want_next_ = false;  // answer done; read next request after watch
  bool writing_ = false;
  bool linger_ = false;  // error answer to a request possibly not fully read
};

}  // namespace triptych::http::internal

#endif  // TRIPTYCH_COMMON_HTTP_CONNECTION_H_
