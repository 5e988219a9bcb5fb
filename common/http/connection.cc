#include "common/http/connection.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "boost/asio/post.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/http/error.hpp"
#include "boost/beast/http/read.hpp"
#include "boost/beast/http/status.hpp"
#include "boost/beast/http/write.hpp"
#include "nlohmann/json.hpp"

namespace triptych::http::internal {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
// How long a connection being closed after a final response keeps draining
// what the client still sends, so the response is not lost to a TCP reset.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr std::size_t kWatchReadBytes = 4096;

// Header names and values must not smuggle line breaks into the response.
std::string Sanitize(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c == '\r' || c == '\n' || c == '\0') c = ' ';
  }
  return out;
}

int ValidStatus(int status) { return status >= 100 && status <= 599 ? status : 500; }

std::string ErrorJson(int status, const std::string& message) {
  nlohmann::json j = {{"error",
                       {{"message", message},
                        {"type", status >= 500 ? "server_error" : "invalid_request_error"},
                        {"param", nullptr},
                        {"code", nullptr}}}};
  return j.dump();
}

}  // namespace

// ---------------------------------------------------------------- Exchange

Exchange::Exchange(std::weak_ptr<Session> session, std::shared_ptr<ServerLife> life,
                   bool chunked, bool keep_alive, int64_t max_buffer_bytes,
                   std::string server_name)
    : session_(std::move(session)),
      life_(std::move(life)),
      chunked_(chunked),
      keep_alive_(keep_alive),
      max_buffer_bytes_(max_buffer_bytes),
      server_name_(std::move(server_name)) {}

bool Exchange::Respond(Response response) {
  {
    absl::MutexLock lock(&mu_);
    if (answer_ != Answer::kNone || disconnected_) return false;
    answer_ = Answer::kFull;
  }
  absl::ReaderMutexLock alive(&life_->mu);  // outlives `session`: see ServerLife
  if (!life_->alive) return false;
  std::shared_ptr<Session> session = session_.lock();
  if (session == nullptr) return false;
  const bool keep_alive = keep_alive_;
  session->Post([session, keep_alive, r = std::move(response)]() mutable {
    session->SendFull(std::move(r), keep_alive);
  });
  return true;
}

bool Exchange::StartStream(int status, const std::string& content_type, const Headers& headers) {
  status = ValidStatus(status);
  std::string head = absl::StrCat(
      "HTTP/1.1 ", status, " ",
      std::string(bhttp::obsolete_reason(static_cast<bhttp::status>(status))),
      "\r\nServer: ", Sanitize(server_name_), "\r\nContent-Type: ", Sanitize(content_type), "\r\n");
  for (const auto& [name, value] : headers) {
    absl::StrAppend(&head, Sanitize(name), ": ", Sanitize(value), "\r\n");
  }
  if (chunked_) absl::StrAppend(&head, "Transfer-Encoding: chunked\r\n");
  absl::StrAppend(&head, "Connection: ", keep_alive_ && chunked_ ? "keep-alive" : "close",
                  "\r\n\r\n");
  absl::MutexLock lock(&mu_);
  if (answer_ != Answer::kNone || disconnected_) return false;
  answer_ = Answer::kStream;
  pending_ = std::move(head);
  ScheduleFlushLocked();
  return true;
}

bool Exchange::Write(std::string chunk) {
  bool overflowed = false;
  {
    absl::MutexLock lock(&mu_);
    if (answer_ != Answer::kStream || closed_ || dropped_ || disconnected_) return false;
    if (chunk.empty()) return true;
    if (static_cast<int64_t>(pending_.size() + chunk.size()) > max_buffer_bytes_) {
      // The client reads slower than we produce: drop it rather than grow
      // without bound. The disconnect callback fires from ForceClose.
      dropped_ = true;
      overflowed = true;
    } else {
      if (chunked_) {
        absl::StrAppend(&pending_, absl::Hex(chunk.size()), "\r\n", chunk, "\r\n");
      } else {
        pending_.append(chunk);
      }
      ScheduleFlushLocked();
      return true;
    }
  }
  if (overflowed) {
    // Lock order: mu_ before life_->mu (ScheduleFlushLocked), never inside it.
    absl::ReaderMutexLock alive(&life_->mu);  // outlives `session`: see ServerLife
    if (!life_->alive) return false;
    std::shared_ptr<Session> session = session_.lock();
    if (session != nullptr) session->Post([session] { session->ForceClose(); });
  }
  return false;
}

void Exchange::Close() {
  absl::MutexLock lock(&mu_);
  if (answer_ != Answer::kStream || closed_ || dropped_ || disconnected_) return;
  closed_ = true;
  if (chunked_) pending_.append("0\r\n\r\n");
  ScheduleFlushLocked();
}

void Exchange::ScheduleFlushLocked() {
  if (flush_scheduled_) return;
  absl::ReaderMutexLock alive(&life_->mu);  // outlives `session`: see ServerLife
  if (!life_->alive) return;
  std::shared_ptr<Session> session = session_.lock();
  if (session == nullptr) return;
  flush_scheduled_ = true;
  // post() never runs the function inline, so holding mu_ here is safe.
  session->Post([session] { session->FlushStream(); });
}

void Exchange::OnDisconnect(std::function<void()> callback) {
  {
    absl::MutexLock lock(&mu_);
    if (!disconnected_) {
      on_disconnect_ = std::move(callback);
      return;
    }
  }
  if (callback) callback();
}

bool Exchange::disconnected() const {
  absl::MutexLock lock(&mu_);
  return disconnected_;
}

void Exchange::Abandon() {
  {
    absl::MutexLock lock(&mu_);
    if (answer_ != Answer::kNone || disconnected_) return;
  }
  Respond(Response::Json(500, ErrorJson(500, "handler dropped the request")));
}

void Exchange::MarkDisconnected() {
  std::function<void()> callback;
  {
    absl::MutexLock lock(&mu_);
    if (disconnected_ || complete_) return;
    disconnected_ = true;
    callback = std::move(on_disconnect_);
    pending_.clear();
  }
  if (callback) callback();
}

void Exchange::MarkComplete() {
  absl::MutexLock lock(&mu_);
  complete_ = true;
  on_disconnect_ = nullptr;
}

bool Exchange::TakePending(std::string* out, bool* last) {
  absl::MutexLock lock(&mu_);
  flush_scheduled_ = false;
  *last = false;
  if (complete_ || dropped_ || answer_ != Answer::kStream) return false;
  out->swap(pending_);
  pending_.clear();
  *last = closed_;
  if (closed_) complete_ = true;  // nothing more will come
  return !out->empty() || *last;
}

// ----------------------------------------------------------------- Session

namespace {

std::variant<asio::ip::tcp::socket, asio::ssl::stream<asio::ip::tcp::socket>> MakeStream(
    asio::ip::tcp::socket socket, asio::ssl::context* tls) {
  if (tls == nullptr) return socket;
  return asio::ssl::stream<asio::ip::tcp::socket>(std::move(socket), *tls);
}

}  // namespace

Session::Session(asio::ip::tcp::socket socket, SessionHost* host, uint64_t id,
                 asio::ssl::context* tls)
    : stream_(MakeStream(std::move(socket), tls)),
      host_(host),
      id_(id),
      timer_(Socket().get_executor()) {
  error_code ec;
  const auto endpoint = Socket().remote_endpoint(ec);
  if (!ec) peer_ = absl::StrCat(endpoint.address().to_string(), ":", endpoint.port());
  Socket().set_option(asio::ip::tcp::no_delay(true), ec);
}

asio::ip::tcp::socket& Session::Socket() {
  if (auto* tls = std::get_if<TlsStream>(&stream_)) return tls->next_layer();
  return std::get<asio::ip::tcp::socket>(stream_);
}

Session::~Session() { host_->OnSessionGone(id_); }

void Session::Post(std::function<void()> fn) { asio::post(Socket().get_executor(), std::move(fn)); }

void Session::Start() {
  TlsStream* tls = std::get_if<TlsStream>(&stream_);
  if (tls == nullptr) {
    Post([self = shared_from_this()] { self->ReadRequest(); });
    return;
  }
  Post([self = shared_from_this(), tls] {
    // A stalled handshake is closed by the idle timer like a stalled request.
    self->phase_ = Phase::kReading;
    self->ArmTimer(absl::ToChronoNanoseconds(self->host_->options().idle_timeout));
    tls->async_handshake(asio::ssl::stream_base::server, [self](error_code ec) {
      if (ec) {
        self->Close();
        return;
      }
      self->ReadRequest();
    });
  });
}

void Session::Drain() {
  if (phase_ == Phase::kReading && buffer_.size() == 0 &&
      (!parser_.has_value() || !parser_->got_some())) {
    Close();
  }
}

void Session::ForceClose() { Close(); }

void Session::ArmTimer(std::chrono::steady_clock::duration d) {
  const uint64_t gen = ++timer_gen_;
  timer_.expires_after(d);
  timer_.async_wait([self = shared_from_this(), gen](error_code ec) {
    if (ec || gen != self->timer_gen_) return;
    if (self->phase_ == Phase::kReading || self->phase_ == Phase::kLingering) {
      self->Close();
    }
  });
}

void Session::CancelTimer() {
  ++timer_gen_;
  timer_.cancel();
}

void Session::ReadRequest() {
  if (phase_ == Phase::kClosed) return;
  if (host_->draining() && buffer_.size() == 0) {
    Close();
    return;
  }
  phase_ = Phase::kReading;
  want_next_ = false;
  const ServerOptions& options = host_->options();
  parser_.emplace();
  parser_->body_limit(static_cast<uint64_t>(options.max_body_bytes));
  parser_->header_limit(static_cast<uint32_t>(options.max_header_bytes));
  ArmTimer(absl::ToChronoNanoseconds(options.idle_timeout));
  WithStream([this](auto& stream) {
    bhttp::async_read_header(
        stream, buffer_, *parser_,
        [self = shared_from_this()](error_code ec, std::size_t) { self->OnHeader(ec); });
  });
}

void Session::HandleReadError(error_code ec) {
  static const auto& http_category = error_code(bhttp::error::bad_target).category();
  if (ec == bhttp::error::body_limit) {
    SendError(413,
              absl::StrCat("request body exceeds ", host_->options().max_body_bytes, " bytes"));
  } else if (ec == bhttp::error::header_limit) {
    SendError(431, "request header fields too large");
  } else if (ec.category() == http_category && ec != bhttp::error::end_of_stream &&
             ec != bhttp::error::partial_message) {
    SendError(400, absl::StrCat("malformed HTTP request: ", ec.message()));
  } else {
    Close();  // EOF, reset, timeout, shutdown
  }
}

void Session::OnHeader(error_code ec) {
  if (phase_ == Phase::kClosed) return;
  if (ec) {
    HandleReadError(ec);
    return;
  }
  const auto& req = parser_->get();
  const auto expect = req[bhttp::field::expect];
  if (!parser_->is_done() &&
      absl::EqualsIgnoreCase(std::string(expect.data(), expect.size()), "100-continue")) {
    WithStream([&](auto& stream) {
      asio::async_write(stream, asio::buffer(kContinue, sizeof(kContinue) - 1),
                        [self = shared_from_this()](error_code ec, std::size_t) {
                          if (self->phase_ == Phase::kClosed) return;
                          if (ec) {
                            self->Close();
                            return;
                          }
                          self->ReadBody();
                        });
    });
    return;
  }
  ReadBody();
}

void Session::ReadBody() {
  if (parser_->is_done()) {
    OnRequest(error_code());
    return;
  }
  WithStream([&](auto& stream) {
    bhttp::async_read(
        stream, buffer_, *parser_,
        [self = shared_from_this()](error_code ec, std::size_t) { self->OnRequest(ec); });
  });
}

void Session::OnRequest(error_code ec) {
  if (phase_ == Phase::kClosed) return;
  if (ec) {
    HandleReadError(ec);
    return;
  }
  Dispatch();
}

void Session::Dispatch() {
  CancelTimer();
  bhttp::request<bhttp::string_body> msg = parser_->release();
  parser_.reset();
  Request req;
  req.method = std::string(msg.method_string());
  req.target = std::string(msg.target());
  const std::size_t q = req.target.find('?');
  req.path = req.target.substr(0, q);
  if (q != std::string::npos) req.query = req.target.substr(q + 1);
  for (const auto& field : msg) {
    req.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  req.body = std::move(msg.body());
  req.peer = peer_;
  http11_ = msg.version() >= 11;
  keep_alive_ = msg.keep_alive() && !host_->draining();
  phase_ = Phase::kHandling;

  const RouteMatch match = host_->FindRoute(req.method, req.path);
  if (match.handler == nullptr && match.async_handler == nullptr) {
    if (match.allow.empty()) {
      SendFull(Response::Json(404, ErrorJson(404, absl::StrCat("no route for ", req.path))),
               keep_alive_);
    } else {
      Response r = Response::Json(
          405, ErrorJson(405, absl::StrCat("method ", req.method, " not allowed for ", req.path,
                                           "; allowed: ", match.allow)));
      r.headers.emplace_back("Allow", match.allow);
      SendFull(std::move(r), keep_alive_);
    }
    return;
  }
  if (match.handler != nullptr) {
    Response response;
    try {
      response = (*match.handler)(req);
    } catch (const std::exception& e) {
      response = Response::Json(500, ErrorJson(500, absl::StrCat("internal error: ", e.what())));
    }
    SendFull(std::move(response), keep_alive_);
    return;
  }
  exchange_ = std::make_shared<Exchange>(weak_from_this(), host_->life(), http11_, keep_alive_,
                                         host_->options().max_stream_buffer_bytes,
                                         host_->options().server_name);
  StartWatch();
  std::shared_ptr<Exchange> exchange = exchange_;
  try {
    (*match.async_handler)(std::move(req), std::make_shared<Responder>(exchange));
  } catch (const std::exception& e) {
    exchange->Respond(
        Response::Json(500, ErrorJson(500, absl::StrCat("internal error: ", e.what()))));
  }
}

void Session::StartWatch() {
  if (watch_pending_ || phase_ == Phase::kClosed || phase_ == Phase::kReading) return;
  const ServerOptions& options = host_->options();
  if (static_cast<int64_t>(buffer_.size()) > options.max_body_bytes + options.max_header_bytes) {
    return;  // a client pipelining this much gets no disconnect detection
  }
  watch_pending_ = true;
  WithStream([this](auto& stream) {
    stream.async_read_some(
        buffer_.prepare(kWatchReadBytes),
        [self = shared_from_this()](error_code ec, std::size_t n) { self->OnWatch(ec, n); });
  });
}

void Session::OnWatch(error_code ec, std::size_t n) {
  watch_pending_ = false;
  if (phase_ == Phase::kClosed) return;
  if (phase_ == Phase::kLingering) {
    if (ec) {
      Close();
      return;
    }
    buffer_.consume(buffer_.size());
    StartWatch();
    return;
  }
  if (!ec) {
    buffer_.commit(n);
    if (want_next_) {
      ReadRequest();
    } else {
      StartWatch();
    }
    return;
  }
  if (ec == asio::error::operation_aborted && want_next_) {
    ReadRequest();
    return;
  }
  Close();  // EOF or reset: the client is gone
}

void Session::SendFull(Response response, bool keep_alive) {
  if (phase_ == Phase::kClosed) return;
  auto res = std::make_shared<bhttp::response<bhttp::string_body>>();
  res->version(http11_ ? 11 : 10);
  res->result(static_cast<unsigned>(ValidStatus(response.status)));
  res->set(bhttp::field::server, Sanitize(host_->options().server_name));
  res->set(bhttp::field::content_type, Sanitize(response.content_type));
  for (const auto& [name, value] : response.headers) {
    res->insert(Sanitize(name), Sanitize(value));
  }
  res->body() = std::move(response.body);
  res->keep_alive(keep_alive);
  res->prepare_payload();
  writing_ = true;
  WithStream([&](auto& stream) {
    bhttp::async_write(stream, *res,
                       [self = shared_from_this(), res, keep_alive](error_code ec, std::size_t) {
                         self->writing_ = false;
                         if (self->phase_ == Phase::kClosed) return;
                         if (ec) {
                           self->Close();
                           return;
                         }
                         self->ResponseDone(keep_alive);
                       });
  });
}

void Session::FlushStream() {
  if (phase_ != Phase::kHandling || writing_ || exchange_ == nullptr) return;
  bool last = false;
  if (!exchange_->TakePending(&write_buf_, &last)) return;
  const bool keep_alive = keep_alive_ && http11_;
  if (write_buf_.empty()) {
    ResponseDone(keep_alive);
    return;
  }
  writing_ = true;
  WithStream([&](auto& stream) {
    asio::async_write(stream, asio::buffer(write_buf_),
                      [self = shared_from_this(), last, keep_alive](error_code ec, std::size_t) {
                        self->writing_ = false;
                        self->write_buf_.clear();
                        if (self->phase_ == Phase::kClosed) return;
                        if (ec) {
                          self->Close();
                          return;
                        }
                        if (last) {
                          self->ResponseDone(keep_alive);
                        } else {
                          self->FlushStream();
                        }
                      });
  });
}

void Session::ResponseDone(bool keep_alive) {
  if (exchange_ != nullptr) {
    exchange_->MarkComplete();
    exchange_.reset();
  }
  if (linger_) {
    LingerClose();
    return;
  }
  if (!keep_alive || host_->draining()) {
    Close();
    return;
  }
  if (watch_pending_) {
    // The pending watch read completes (aborted, or with bytes of the next
    // request) and then starts reading the next request.
    want_next_ = true;
    error_code ec;
    Socket().cancel(ec);
    return;
  }
  ReadRequest();
}

void Session::SendError(int status, const std::string& message) {
  phase_ = Phase::kHandling;
  keep_alive_ = false;
  linger_ = true;
  SendFull(Response::Json(status, ErrorJson(status, message)), false);
}

void Session::LingerClose() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kLingering;
  error_code ec;
  Socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  if (ec) {
    Close();
    return;
  }
  ArmTimer(kLingerTime);
  StartWatch();
}

void Session::Close() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  CancelTimer();
  error_code ec;
  Socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  Socket().close(ec);
  if (exchange_ != nullptr) {
    std::shared_ptr<Exchange> exchange = std::move(exchange_);
    exchange_.reset();
    exchange->MarkDisconnected();
  }
}

}  // namespace triptych::http::internal
