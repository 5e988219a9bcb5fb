#include "tools/loadgen/testing/fake_openai_server.h"

#include <string_view>
#include <utility>  // before Asio: its awaitable.hpp uses std::exchange

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "boost/asio/co_spawn.hpp"
#include "boost/asio/detached.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/redirect_error.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/use_awaitable.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/http.hpp"
#include "nlohmann/json.hpp"

namespace triptych::loadgen_testing {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using json = nlohmann::json;
using tcp = asio::ip::tcp;

namespace {

struct Exchange {
  bool chat = true;
  bool stream = false;
  bool include_usage = false;
  int64_t max_tokens = 16;
  int64_t prompt_words = 0;
};

Exchange Understand(const http::request<http::string_body>& req) {
  Exchange x;
  x.chat = std::string(req.target()).find("chat") != std::string::npos;
  json body = json::parse(req.body(), nullptr, false);
  if (!body.is_object()) return x;
  x.stream = body.value("stream", false);
  if (auto so = body.find("stream_options");
      so != body.end() && so->is_object()) {
    x.include_usage = so->value("include_usage", false);
  }
  for (const char* k : {"max_tokens", "max_completion_tokens"}) {
    if (auto it = body.find(k); it != body.end() && it->is_number_integer()) {
      x.max_tokens = it->get<int64_t>();
    }
  }
  std::string prompt;
  if (auto p = body.find("prompt"); p != body.end() && p->is_string()) {
    prompt = p->get<std::string>();
  }
  if (auto m = body.find("messages"); m != body.end() && m->is_array()) {
    for (const json& msg : *m) {
      if (msg.is_object() && msg.contains("content") &&
          msg["content"].is_string()) {
        prompt += " " + msg["content"].get<std::string>();
      }
    }
  }
  bool in_word = false;
  for (char c : prompt) {
    if (c != ' ' && !in_word) ++x.prompt_words;
    in_word = c != ' ';
  }
  return x;
}

json Usage(const Exchange& x) {
  return {{"prompt_tokens", x.prompt_words},
          {"completion_tokens", x.max_tokens},
          {"total_tokens", x.prompt_words + x.max_tokens}};
}

json Choice(const Exchange& x, const std::string& text, bool last) {
  json c = {{"index", 0}};
  if (x.chat) {
    c[x.stream ? "delta" : "message"] = {{"role", "assistant"},
                                         {"content", text}};
  } else {
    c["text"] = text;
  }
  c["finish_reason"] = last ? json("length") : json(nullptr);
  return c;
}

std::string ChunkedPiece(std::string_view data) {
  return absl::StrFormat("%x\r\n%s\r\n", data.size(), data);
}

}  // namespace

// Coroutines are static functions taking `self`, not capturing lambdas: a
// coroutine frame refers to its lambda object, which would die first.
struct FakeOpenAiServer::Impl {
  static asio::awaitable<void> Serve(FakeOpenAiServer* self,
                                     tcp::socket socket);
  static asio::awaitable<void> Accept(FakeOpenAiServer* self);

  asio::io_context io{1};
  tcp::acceptor acceptor{io};
};

FakeOpenAiServer::FakeOpenAiServer(FakeServerOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>()) {}

FakeOpenAiServer::~FakeOpenAiServer() {
  impl_->io.stop();
  if (thread_.joinable()) thread_.join();
}

std::string FakeOpenAiServer::url() const {
  return absl::StrCat("http://127.0.0.1:", port_);
}

std::string FakeOpenAiServer::last_body() const {
  absl::MutexLock lock(&mu_);
  return last_body_;
}

void FakeOpenAiServer::RecordBody(std::string body) {
  absl::MutexLock lock(&mu_);
  last_body_ = std::move(body);
}

int FakeOpenAiServer::UnusedPort() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

absl::StatusOr<std::unique_ptr<FakeOpenAiServer>> FakeOpenAiServer::Start(
    FakeServerOptions options) {
  std::unique_ptr<FakeOpenAiServer> server(
      new FakeOpenAiServer(std::move(options)));
  Impl& impl = *server->impl_;
  boost::system::error_code ec;
  const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  impl.acceptor.open(ep.protocol(), ec);
  if (!ec) impl.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl.acceptor.bind(ep, ec);
  if (!ec) impl.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("fake server: ", ec.message()));
  }
  server->port_ = impl.acceptor.local_endpoint().port();

  asio::co_spawn(impl.io, Impl::Accept(server.get()), asio::detached);
  server->thread_ = std::thread([&io = impl.io] { io.run(); });
  return server;
}

asio::awaitable<void> FakeOpenAiServer::Impl::Accept(FakeOpenAiServer* self) {
  boost::system::error_code ec;
  for (;;) {
    tcp::socket socket = co_await self->impl_->acceptor.async_accept(
        asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) continue;
    asio::co_spawn(self->impl_->io, Serve(self, std::move(socket)),
                   asio::detached);
  }
}

// One connection: read a request, answer, close.
asio::awaitable<void> FakeOpenAiServer::Impl::Serve(FakeOpenAiServer* self,
                                                    tcp::socket socket) {
  {
    const FakeServerOptions& o = self->options_;
    boost::system::error_code ec;
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    boost::beast::flat_buffer buffer;
    http::request<http::string_body> req;
    co_await http::async_read(socket, buffer, req, token);
    if (ec) co_return;
    ++self->requests_;
    self->RecordBody(req.body());
    const Exchange x = Understand(req);
    asio::steady_timer timer(socket.get_executor());

    if (o.hang) {
      timer.expires_after(std::chrono::hours(24));
      co_await timer.async_wait(token);
      co_return;
    }
    if (o.status_code != 200) {
      http::response<http::string_body> res{
          static_cast<http::status>(o.status_code), 11};
      res.set(http::field::content_type, "application/json");
      res.body() = json{{"error",
                         {{"message", "fake failure"},
                          {"type", "server_error"},
                          {"code", o.status_code}}}}
                       .dump();
      res.prepare_payload();
      res.keep_alive(false);
      co_await http::async_write(socket, res, token);
      co_return;
    }
    if (!x.stream) {
      std::string text;
      for (int64_t i = 0; i < x.max_tokens; ++i) text += o.token_text;
      json body = {{"id", "fake"},
                   {"object", x.chat ? "chat.completion" : "text_completion"},
                   {"choices", json::array({Choice(x, text, true)})}};
      if (o.send_usage) body["usage"] = Usage(x);
      http::response<http::string_body> res{http::status::ok, 11};
      res.set(http::field::content_type, "application/json");
      res.body() = body.dump();
      res.prepare_payload();
      res.keep_alive(false);
      co_await http::async_write(socket, res, token);
      co_return;
    }

    // Streaming: hand-written chunked transfer encoding, one SSE event per
    // HTTP chunk.
    const std::string head =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n"
        "Connection: close\r\n\r\n";
    co_await asio::async_write(socket, asio::buffer(head), token);
    if (ec) co_return;
    auto send = [&](const std::string& event) -> asio::awaitable<void> {
      const std::string piece = ChunkedPiece(event);
      co_await asio::async_write(socket, asio::buffer(piece), token);
    };
    const std::string object =
        x.chat ? "chat.completion.chunk" : "text_completion";
    if (x.chat) {  // a role-only first chunk, as OpenAI sends
      json first = {
          {"id", "fake"},
          {"object", object},
          {"choices", json::array({{{"index", 0},
                                    {"delta", {{"role", "assistant"}}},
                                    {"finish_reason", nullptr}}})}};
      co_await send(absl::StrCat("data: ", first.dump(), "\n\n"));
    }
    const int per_chunk = std::max(1, o.tokens_per_chunk);
    for (int64_t sent = 0; sent < x.max_tokens && !ec;) {
      if (o.chunk_delay.count() > 0) {
        timer.expires_after(o.chunk_delay);
        co_await timer.async_wait(token);
      }
      std::string text;
      const int64_t n = std::min<int64_t>(per_chunk, x.max_tokens - sent);
      for (int64_t i = 0; i < n; ++i) text += o.token_text;
      sent += n;
      json chunk = {
          {"id", "fake"},
          {"object", object},
          {"choices", json::array({Choice(x, text, sent == x.max_tokens)})}};
      if (x.include_usage) chunk["usage"] = nullptr;
      co_await send(absl::StrCat("data: ", chunk.dump(), "\n\n"));
      if (o.malformed_sse) {
        co_await send("data: {\"choices\": [ this is not json\n\n");
      }
    }
    if (ec) co_return;
    if (x.include_usage && o.send_usage) {
      json last = {{"id", "fake"},
                   {"object", object},
                   {"choices", json::array()},
                   {"usage", Usage(x)}};
      co_await send(absl::StrCat("data: ", last.dump(), "\n\n"));
    }
    co_await send("data: [DONE]\n\n");
    const std::string end = "0\r\n\r\n";
    co_await asio::async_write(socket, asio::buffer(end), token);
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
  }
}

}  // namespace triptych::loadgen_testing
