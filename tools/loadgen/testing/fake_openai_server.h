#ifndef TRIPTYCH_TOOLS_LOADGEN_TESTING_FAKE_OPENAI_SERVER_H_
#define TRIPTYCH_TOOLS_LOADGEN_TESTING_FAKE_OPENAI_SERVER_H_

// A small OpenAI-compatible HTTP server for tests of the load generator,
// with switches for the ways real servers differ or fail: no usage, several
// tokens per chunk, HTTP errors, malformed SSE, hanging. It serves
// POST /v1/chat/completions and /v1/completions on 127.0.0.1:<ephemeral>,
// one response per connection (it closes after answering).

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace triptych::loadgen_testing {

struct FakeServerOptions {
  int tokens_per_chunk = 1;
  // Send usage in the final chunk when the request asks for it
  // (stream_options.include_usage) and in non-streamed responses.
  bool send_usage = true;
  // Reply with this status and an OpenAI error body when not 200.
  int status_code = 200;
  // After the first token chunk, send a "data:" line that is not JSON.
  bool malformed_sse = false;
  // Read the request and never answer (until the server is destroyed).
  bool hang = false;
  // Delay before each chunk (simulated decode time).
  std::chrono::microseconds chunk_delay{0};
  // The text of one generated token.
  std::string token_text = " tok";
};

// Thread-safe accessors; the server runs on its own thread.
class FakeOpenAiServer {
 public:
  // Binds 127.0.0.1:0 and starts serving. Errors: kInternal if binding
  // fails.
  static absl::StatusOr<std::unique_ptr<FakeOpenAiServer>> Start(
      FakeServerOptions options);
  // Stops serving, dropping open connections, and joins the thread.
  ~FakeOpenAiServer();
  FakeOpenAiServer(const FakeOpenAiServer&) = delete;
  FakeOpenAiServer& operator=(const FakeOpenAiServer&) = delete;

  int port() const { return port_; }
  std::string url() const;  // "http://127.0.0.1:<port>"
  int64_t requests() const { return requests_.load(); }
  // The body of the last request received ("" before any).
  std::string last_body() const;

  // A port on 127.0.0.1 that had nothing listening a moment ago (bound to
  // port 0, then closed): connections to it are refused.
  static int UnusedPort();

 private:
  struct Impl;
  explicit FakeOpenAiServer(FakeServerOptions options);
  void RecordBody(std::string body);

  const FakeServerOptions options_;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  std::atomic<int64_t> requests_{0};
  mutable absl::Mutex mu_;
  std::string last_body_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace triptych::loadgen_testing

#endif  // TRIPTYCH_TOOLS_LOADGEN_TESTING_FAKE_OPENAI_SERVER_H_
