// HTTPS on the HTTP server: a TLS client gets answers (plain and streamed),
// a plaintext client gets none, and bad certificate options fail Start().
// The certificate is made here with the openssl command line.

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/http.hpp"
#include "common/http/http_server.h"
#include "common/http/testing/test_client.h"
#include "gtest/gtest.h"

namespace triptych::http {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

struct Cert {
  std::string cert, key;
};

Cert MakeCert() {
  // Per process: ctest runs the two cases at once, and one rewriting the
  // key under the other's Start() made the pair mismatch.
  const std::string dir = ::testing::TempDir() + "/triptych_https_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/san.ext") << "subjectAltName=IP:127.0.0.1\n";
  const std::string cmd = absl::StrCat(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext "
      "subjectAltName=IP:127.0.0.1 -keyout ",
      dir, "/key.pem -out ", dir, "/cert.pem >/dev/null 2>&1");
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  return {dir + "/cert.pem", dir + "/key.pem"};
}

// One HTTPS GET, verifying the server against `ca`.
std::pair<int, std::string> HttpsGet(int port, const std::string& ca, const std::string& path) {
  asio::io_context ioc;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.load_verify_file(ca);
  ctx.set_verify_mode(asio::ssl::verify_peer);
  asio::ssl::stream<asio::ip::tcp::socket> stream(ioc, ctx);
  asio::ip::tcp::resolver resolver(ioc);
  asio::connect(stream.next_layer(), resolver.resolve("127.0.0.1", std::to_string(port)));
  stream.handshake(asio::ssl::stream_base::client);
  bhttp::request<bhttp::string_body> req(bhttp::verb::get, path, 11);
  req.set(bhttp::field::host, "127.0.0.1");
  bhttp::write(stream, req);
  boost::beast::flat_buffer buf;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(stream, buf, res);
  return {static_cast<int>(res.result_int()), res.body()};
}

TEST(Https, ServesOverTlsAndRefusesPlaintext) {
  const Cert c = MakeCert();
  ServerOptions o;
  o.tls_cert_file = c.cert;
  o.tls_key_file = c.key;
  auto server = Server::Create(o);
  ASSERT_TRUE(server.ok());
  (*server)->Handle("GET", "/hello", [](const Request&) {
    return Response::Json(200, R"({"hello":"tls"})");
  });
  (*server)->HandleAsync("GET", "/stream", [](Request, std::shared_ptr<Responder> r) {
    auto w = r->StartStream(200, "text/event-stream", {});
    w->Write("data: 1\n\n");
    w->Write("data: 2\n\n");
    w->Close();
  });
  ASSERT_TRUE((*server)->Start().ok());
  const int port = (*server)->port();
  auto [status, body] = HttpsGet(port, c.cert, "/hello");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(body, R"({"hello":"tls"})");
  auto [s2, streamed] = HttpsGet(port, c.cert, "/stream");
  EXPECT_EQ(s2, 200);
  EXPECT_EQ(streamed, "data: 1\n\ndata: 2\n\n");
  // Plain HTTP to the TLS port: no HTTP answer.
  auto plain = testing::HttpRequest(port, "GET", "/hello");
  EXPECT_FALSE(plain.ok() && plain->status == 200);
  (*server)->Stop(absl::Seconds(1));
}

TEST(Https, BadCertificateOptionsFailStart) {
  const Cert c = MakeCert();
  ServerOptions only_cert;
  only_cert.tls_cert_file = c.cert;
  auto a = Server::Create(only_cert);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(absl::IsInvalidArgument((*a)->Start()));
  ServerOptions missing;
  missing.tls_cert_file = c.cert + ".nope";
  missing.tls_key_file = c.key;
  auto b = Server::Create(missing);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(absl::IsInvalidArgument((*b)->Start()));
  ServerOptions swapped;  // the key where the certificate should be
  swapped.tls_cert_file = c.key;
  swapped.tls_key_file = c.key;
  auto d = Server::Create(swapped);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(absl::IsInvalidArgument((*d)->Start()));
}

}  // namespace
}  // namespace triptych::http
