#include "common/http/testing/test_client.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/read.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/http/parser.hpp"
#include "boost/beast/http/read.hpp"
#include "boost/beast/http/string_body.hpp"

namespace triptych::http::testing {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

std::optional<std::string> ClientResponse::Header(const std::string& name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return std::nullopt;
}

struct TestConnection::State {
  asio::io_context ioc;
  asio::ip::tcp::socket socket{ioc};
  boost::beast::flat_buffer buffer;
  std::optional<bhttp::response_parser<bhttp::string_body>> parser;
  std::size_t body_consumed = 0;
};

TestConnection::TestConnection(std::unique_ptr<State> state) : state_(std::move(state)) {}
TestConnection::~TestConnection() { Close(); }

absl::StatusOr<std::unique_ptr<TestConnection>> TestConnection::Connect(int port) {
  auto state = std::make_unique<State>();
  error_code ec;
  state->socket.connect(
      asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                              static_cast<unsigned short>(port)),
      ec);
  if (ec) return absl::UnavailableError(absl::StrCat("connect: ", ec.message()));
  state->socket.set_option(asio::ip::tcp::no_delay(true), ec);
  return std::unique_ptr<TestConnection>(new TestConnection(std::move(state)));
}

absl::Status TestConnection::Send(
    const std::string& method, const std::string& target, const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string req = absl::StrCat(method, " ", target, " HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  bool has_length = false;
  for (const auto& [k, v] : headers) {
    absl::StrAppend(&req, k, ": ", v, "\r\n");
    if (absl::EqualsIgnoreCase(k, "content-length")) has_length = true;
  }
  if (!has_length && (!body.empty() || method == "POST" || method == "PUT")) {
    absl::StrAppend(&req, "Content-Length: ", body.size(), "\r\n");
  }
  absl::StrAppend(&req, "\r\n", body);
  return SendRaw(req);
}

absl::Status TestConnection::SendRaw(const std::string& bytes) {
  error_code ec;
  asio::write(state_->socket, asio::buffer(bytes), ec);
  if (ec) return absl::UnavailableError(absl::StrCat("write: ", ec.message()));
  return absl::OkStatus();
}

namespace {
ClientResponse FromMessage(const bhttp::response<bhttp::string_body>& msg) {
  ClientResponse r;
  r.status = static_cast<int>(msg.result_int());
  for (const auto& f : msg) {
    r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  }
  r.keep_alive = msg.keep_alive();
  return r;
}
}  // namespace

absl::StatusOr<ClientResponse> TestConnection::ReadHeader() {
  state_->parser.emplace();
  state_->parser->body_limit(1ull << 34);
  state_->body_consumed = 0;
  error_code ec;
  bhttp::read_header(state_->socket, state_->buffer, *state_->parser, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("read header: ", ec.message()));
  return FromMessage(state_->parser->get());
}

absl::StatusOr<std::optional<std::string>> TestConnection::ReadBodySome() {
  if (!state_->parser.has_value()) return absl::FailedPreconditionError("no response");
  auto& parser = *state_->parser;
  for (;;) {
    std::string& body = parser.get().body();
    if (body.size() > state_->body_consumed) {
      std::string piece = body.substr(state_->body_consumed);
      state_->body_consumed = body.size();
      return std::optional<std::string>(std::move(piece));
    }
    if (parser.is_done()) return std::optional<std::string>();
    error_code ec;
    bhttp::read_some(state_->socket, state_->buffer, parser, ec);
    if (ec == bhttp::error::end_of_stream && parser.is_done()) continue;
    if (ec) return absl::UnavailableError(absl::StrCat("read body: ", ec.message()));
  }
}

absl::StatusOr<ClientResponse> TestConnection::Read() {
  auto head = ReadHeader();
  if (!head.ok()) return head.status();
  error_code ec;
  bhttp::read(state_->socket, state_->buffer, *state_->parser, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("read: ", ec.message()));
  ClientResponse r = FromMessage(state_->parser->get());
  r.body = std::move(state_->parser->get().body());
  state_->parser.reset();
  return r;
}

absl::StatusOr<ClientResponse> TestConnection::Request(
    const std::string& method, const std::string& target, const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  absl::Status s = Send(method, target, body, headers);
  if (!s.ok()) return s;
  return Read();
}

bool TestConnection::PeerClosed() {
  if (state_->buffer.size() > 0) return false;
  char c;
  error_code ec;
  const std::size_t n = state_->socket.read_some(asio::buffer(&c, 1), ec);
  return n == 0 && ec;
}

void TestConnection::Close() {
  error_code ec;
  state_->socket.close(ec);
}

absl::StatusOr<ClientResponse> HttpRequest(
    int port, const std::string& method, const std::string& target, const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  auto conn = TestConnection::Connect(port);
  if (!conn.ok()) return conn.status();
  return (*conn)->Request(method, target, body, headers);
}

}  // namespace triptych::http::testing
