#ifndef TRIPTYCH_COMMON_HTTP_TESTING_TEST_CLIENT_H_
#define TRIPTYCH_COMMON_HTTP_TESTING_TEST_CLIENT_H_

// A small blocking HTTP/1.1 client over one loopback connection, for tests
// of HTTP servers (keep-alive, chunked/SSE streams, raw malformed input).
// Not thread-safe: one thread per connection.

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace triptych::http::testing {

struct ClientResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // de-chunked
  bool keep_alive = false;

  // First header named `name` (case-insensitive).
  std::optional<std::string> Header(const std::string& name) const;
};

class TestConnection {
 public:
  // Connects to 127.0.0.1:`port`. Errors: kUnavailable.
  static absl::StatusOr<std::unique_ptr<TestConnection>> Connect(int port);
  ~TestConnection();
  TestConnection(const TestConnection&) = delete;
  TestConnection& operator=(const TestConnection&) = delete;

  // Sends one request (Content-Length set from `body`; Host added).
  absl::Status Send(const std::string& method, const std::string& target,
                    const std::string& body = "",
                    const std::vector<std::pair<std::string, std::string>>& headers = {});
  // Sends raw bytes.
  absl::Status SendRaw(const std::string& bytes);
  // Reads one complete response.
  absl::StatusOr<ClientResponse> Read();
  // Send() + Read().
  absl::StatusOr<ClientResponse> Request(
      const std::string& method, const std::string& target, const std::string& body = "",
      const std::vector<std::pair<std::string, std::string>>& headers = {});

  // Streaming: reads the status line and headers only ...
  absl::StatusOr<ClientResponse> ReadHeader();
  // ... then the body piece by piece: returns the next de-chunked bytes
  // (blocking until some arrive), or std::nullopt once the body is complete.
  absl::StatusOr<std::optional<std::string>> ReadBodySome();

  // True when the server closed the connection (reads EOF).
  bool PeerClosed();
  // Closes the socket (an abrupt client disconnect).
  void Close();

 private:
  struct State;
  explicit TestConnection(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// One-shot convenience: new connection, one request.
absl::StatusOr<ClientResponse> HttpRequest(
    int port, const std::string& method, const std::string& target,
    const std::string& body = "",
    const std::vector<std::pair<std::string, std::string>>& headers = {});

}  // namespace triptych::http::testing

#endif  // TRIPTYCH_COMMON_HTTP_TESTING_TEST_CLIENT_H_
