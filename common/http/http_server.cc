#include "common/http/http_server.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/address.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/executor_work_guard.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/strand.hpp"
#include "boost/asio/ssl.hpp"
#include "common/http/connection.h"

namespace triptych::http {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

// ------------------------------------------------------ Request / Response

std::optional<std::string> Request::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, std::string(name))) return value;
  }
  return std::nullopt;
}

Response Response::Json(int status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

Response Response::Text(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

// ------------------------------------------------ StreamWriter / Responder

StreamWriter::~StreamWriter() {
  if (active_) exchange_->Close();
}

bool StreamWriter::Write(std::string chunk) {
  return active_ && exchange_->Write(std::move(chunk));
}

void StreamWriter::Close() {
  if (active_) exchange_->Close();
}

void StreamWriter::OnDisconnect(std::function<void()> callback) {
  exchange_->OnDisconnect(std::move(callback));
}

bool StreamWriter::disconnected() const { return exchange_->disconnected(); }

Responder::~Responder() { exchange_->Abandon(); }

bool Responder::Respond(Response response) { return exchange_->Respond(std::move(response)); }

std::shared_ptr<StreamWriter> Responder::StartStream(int status, std::string content_type,
                                                     Headers headers) {
  const bool active = exchange_->StartStream(status, content_type, headers);
  return std::make_shared<StreamWriter>(exchange_, active);
}

void Responder::OnDisconnect(std::function<void()> callback) {
  exchange_->OnDisconnect(std::move(callback));
}

bool Responder::disconnected() const { return exchange_->disconnected(); }

// ------------------------------------------------------------ Server::Impl

class Server::Impl : public internal::SessionHost {
 public:
  explicit Impl(ServerOptions options, std::atomic<bool>* draining)
      : options_(std::move(options)), draining_(draining) {}

  ~Impl() override {
    // Exchanges held elsewhere stop touching sessions (ServerLife); then
    // destroy the acceptor and the io_context (and with it any handler
    // still holding a Session) while the session registry is alive.
    {
      absl::WriterMutexLock lock(&life_->mu);
      life_->alive = false;
    }
    acceptor_.reset();
    accept_retry_.reset();
    ioc_.reset();
  }

  void AddRoute(std::string method, std::string path, bool prefix, Handler handler,
                AsyncHandler async_handler) {
    Entry& entry = (prefix ? prefix_routes_ : exact_routes_)[std::move(path)][std::move(method)];
    entry.handler = std::move(handler);
    entry.async_handler = std::move(async_handler);
  }

  absl::Status Start(std::atomic<int>* port_out) {
    if (started_) return absl::FailedPreconditionError("http server already started");
    if (draining_->load()) return absl::FailedPreconditionError("http server stopped");
    if (absl::Status s = LoadTls(); !s.ok()) return s;
    std::string host = options_.host == "localhost" ? "127.0.0.1" : options_.host;
    error_code ec;
    const asio::ip::address address = asio::ip::make_address(host, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("http: invalid listen address '", options_.host, "': ", ec.message()));
    }
    ioc_ = std::make_unique<asio::io_context>(options_.num_threads);
    acceptor_ = std::make_unique<tcp::acceptor>(asio::make_strand(*ioc_));
    accept_retry_ = std::make_unique<asio::steady_timer>(acceptor_->get_executor());
    const tcp::endpoint endpoint(address, static_cast<unsigned short>(options_.port));
    acceptor_->open(endpoint.protocol(), ec);
    if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(endpoint, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat("http: cannot listen on ", options_.host,
                                                 ":", options_.port, ": ", ec.message()));
    }
    port_out->store(acceptor_->local_endpoint().port());
    started_ = true;
    work_.emplace(ioc_->get_executor());
    asio::post(acceptor_->get_executor(), [this] { DoAccept(); });
    for (int i = 0; i < options_.num_threads; ++i) {
      threads_.emplace_back([this] { ioc_->run(); });
    }
    return absl::OkStatus();
  }

  void Stop(absl::Duration deadline) {
    {
      absl::MutexLock lock(&stop_mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    draining_->store(true);
    if (!started_) return;
    for (const std::thread& t : threads_) {
      if (t.get_id() == std::this_thread::get_id()) {
        std::fprintf(stderr, "http::Server::Stop called from an I/O thread\n");
        std::abort();
      }
    }
    asio::post(acceptor_->get_executor(), [this] {
      error_code ec;
      acceptor_->close(ec);
      accept_retry_->cancel();
    });
    ForEachSession([](const std::shared_ptr<internal::Session>& s) {
      s->Post([s] { s->Drain(); });
    });
    auto no_sessions = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return sessions_.empty(); };
    bool drained;
    {
      absl::MutexLock lock(&mu_);
      drained = mu_.AwaitWithTimeout(absl::Condition(&no_sessions), deadline);
    }
    if (!drained) {
      ForEachSession([](const std::shared_ptr<internal::Session>& s) {
        s->Post([s] { s->ForceClose(); });
      });
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&no_sessions), absl::Seconds(10));
    }
    work_.reset();
    ioc_->stop();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

  int64_t connection_count() const {
    absl::MutexLock lock(&mu_);
    return static_cast<int64_t>(sessions_.size());
  }

  // SessionHost:
  const ServerOptions& options() const override { return options_; }
  bool draining() const override { return draining_->load(); }
  const std::shared_ptr<internal::ServerLife>& life() const override { return life_; }

  internal::RouteMatch FindRoute(const std::string& method,
                                 const std::string& path) const override {
    auto exact = exact_routes_.find(path);
    if (exact != exact_routes_.end()) return Match(exact->second, method);
    // Longest prefix first: std::map orders keys, so scan all and keep the
    // longest; route tables are small.
    const std::map<std::string, Entry>* best = nullptr;
    std::size_t best_len = 0;
    for (const auto& [prefix, methods] : prefix_routes_) {
      if (path.compare(0, prefix.size(), prefix) == 0 &&
          (best == nullptr || prefix.size() > best_len)) {
        best = &methods;
        best_len = prefix.size();
      }
    }
    if (best != nullptr) return Match(*best, method);
    return {};
  }

  void OnSessionGone(uint64_t id) override {
    absl::MutexLock lock(&mu_);
    sessions_.erase(id);
  }

 private:
  struct Entry {
    Handler handler;
    AsyncHandler async_handler;
  };

  static internal::RouteMatch Match(const std::map<std::string, Entry>& methods,
                                    const std::string& method) {
    internal::RouteMatch m;
    auto it = methods.find(method);
    if (it != methods.end()) {
      if (it->second.handler) m.handler = &it->second.handler;
      if (it->second.async_handler) m.async_handler = &it->second.async_handler;
      return m;
    }
    std::vector<std::string> allowed;
    for (const auto& [name, entry] : methods) allowed.push_back(name);
    m.allow = absl::StrJoin(allowed, ", ");
    return m;
  }

  void ForEachSession(const std::function<void(const std::shared_ptr<internal::Session>&)>& fn) {
    std::vector<std::shared_ptr<internal::Session>> live;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [id, weak] : sessions_) {
        if (auto s = weak.lock()) live.push_back(std::move(s));
      }
    }
    for (const auto& s : live) fn(s);
  }

  // Runs on the acceptor's strand.
  void DoAccept() {
    acceptor_->async_accept(asio::make_strand(*ioc_), [this](error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor_->is_open()) return;
      if (ec) {
        // E.g. out of file descriptors: back off briefly instead of spinning.
        accept_retry_->expires_after(std::chrono::milliseconds(50));
        accept_retry_->async_wait([this](error_code wait_ec) {
          if (!wait_ec && acceptor_->is_open()) DoAccept();
        });
        return;
      }
      std::shared_ptr<internal::Session> session;
      {
        absl::MutexLock lock(&mu_);
        if (!draining_->load() &&
            static_cast<int64_t>(sessions_.size()) < options_.max_connections) {
          const uint64_t id = next_id_++;
          session = std::make_shared<internal::Session>(std::move(socket), this, id, tls_.get());
          sessions_.emplace(id, session);
        }
      }
      if (session != nullptr) {
        session->Start();
      } else {
        error_code close_ec;
        socket.close(close_ec);
      }
      DoAccept();
    });
  }

  absl::Status LoadTls() {
    if (options_.tls_cert_file.empty() && options_.tls_key_file.empty()) return absl::OkStatus();
    if (options_.tls_cert_file.empty() || options_.tls_key_file.empty()) {
      return absl::InvalidArgumentError("https needs both a certificate and a private key file");
    }
    auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
    error_code ec;
    ctx->use_certificate_chain_file(options_.tls_cert_file, ec);
    if (ec) {
      return absl::InvalidArgumentError(absl::StrCat("https: cannot load certificate ",
                                                     options_.tls_cert_file, ": ", ec.message()));
    }
    ctx->use_private_key_file(options_.tls_key_file, asio::ssl::context::pem, ec);
    if (ec) {
      return absl::InvalidArgumentError(absl::StrCat("https: cannot load private key ",
                                                     options_.tls_key_file, ": ", ec.message()));
    }
    tls_ = std::move(ctx);
    return absl::OkStatus();
  }

  const ServerOptions options_;
  std::atomic<bool>* const draining_;
  std::unique_ptr<asio::ssl::context> tls_;  // null: plain HTTP
  const std::shared_ptr<internal::ServerLife> life_ = std::make_shared<internal::ServerLife>();
  std::map<std::string, std::map<std::string, Entry>> exact_routes_;
  std::map<std::string, std::map<std::string, Entry>> prefix_routes_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, std::weak_ptr<internal::Session>> sessions_
      ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;

  absl::Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
  bool started_ = false;

  // Declared last among the Asio objects' owners so ~Impl can order them.
  std::unique_ptr<asio::io_context> ioc_;
  std::unique_ptr<tcp::acceptor> acceptor_;
  std::unique_ptr<asio::steady_timer> accept_retry_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
};

// ------------------------------------------------------------------ Server

absl::StatusOr<std::unique_ptr<Server>> Server::Create(ServerOptions options) {
  if (options.num_threads < 1 || options.num_threads > 1024) {
    return absl::InvalidArgumentError("http: num_threads must be in [1, 1024]");
  }
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError("http: port must be in [0, 65535]");
  }
  if (options.max_body_bytes < 0 || options.max_header_bytes < 1024 ||
      options.max_header_bytes > (1 << 30) || options.max_stream_buffer_bytes < 1) {
    return absl::InvalidArgumentError("http: invalid size limits");
  }
  if (options.max_connections < 1) {
    return absl::InvalidArgumentError("http: max_connections must be positive");
  }
  return std::unique_ptr<Server>(new Server(std::move(options)));
}

Server::Server(ServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options), &draining_)) {}

Server::~Server() { Stop(absl::ZeroDuration()); }

void Server::Handle(std::string method, std::string path, Handler handler) {
  impl_->AddRoute(std::move(method), std::move(path), false, std::move(handler), nullptr);
}

void Server::HandleAsync(std::string method, std::string path, AsyncHandler handler) {
  impl_->AddRoute(std::move(method), std::move(path), false, nullptr, std::move(handler));
}

void Server::HandlePrefix(std::string method, std::string prefix, Handler handler) {
  impl_->AddRoute(std::move(method), std::move(prefix), true, std::move(handler), nullptr);
}

void Server::HandlePrefixAsync(std::string method, std::string prefix,
                               AsyncHandler handler) {
  impl_->AddRoute(std::move(method), std::move(prefix), true, nullptr, std::move(handler));
}

absl::Status Server::Start() { return impl_->Start(&port_); }

void Server::Stop(absl::Duration deadline) { impl_->Stop(deadline); }

int64_t Server::connection_count() const { return impl_->connection_count(); }

}  // namespace triptych::http
