#include "common/http/http_server.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/http/testing/test_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace triptych::http {
namespace {

using ::testing::HasSubstr;
using testing::TestConnection;

constexpr absl::Duration kWait = absl::Seconds(30);

std::unique_ptr<Server> StartServer(const std::function<void(Server*)>& add_routes,
                                    ServerOptions options = {}) {
  options.port = 0;
  auto server = Server::Create(options);
  EXPECT_TRUE(server.ok()) << server.status();
  add_routes(server->get());
  absl::Status s = (*server)->Start();
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_GT((*server)->port(), 0);
  return std::move(server).value();
}

std::unique_ptr<TestConnection> Connect(const Server& server) {
  auto conn = TestConnection::Connect(server.port());
  EXPECT_TRUE(conn.ok()) << conn.status();
  return std::move(conn).value();
}

void AddEcho(Server* s) {
  s->Handle("POST", "/echo", [](const Request& r) {
    return Response::Text(200, absl::StrCat(r.method, "|", r.path, "|", r.query, "|",
                                            r.Header("x-test").value_or("-"), "|", r.body));
  });
  s->Handle("GET", "/hello", [](const Request& r) {
    EXPECT_FALSE(r.peer.empty());
    return Response::Text(200, "hi");
  });
}

TEST(Server, CreateRejectsBadOptions) {
  ServerOptions o;
  o.num_threads = 0;
  EXPECT_EQ(Server::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = ServerOptions();
  o.port = 70000;
  EXPECT_EQ(Server::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Server, BadHostAndPortInUse) {
  ServerOptions o;
  o.host = "not-an-address";
  auto bad = Server::Create(o);
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ((*bad)->Start().code(), absl::StatusCode::kInvalidArgument);

  auto first = StartServer([](Server*) {});
  o = ServerOptions();
  o.port = first->port();
  auto second = Server::Create(o);
  ASSERT_TRUE(second.ok());
  // SO_REUSEADDR does not allow two listeners on one port.
  EXPECT_EQ((*second)->Start().code(), absl::StatusCode::kUnavailable);
}

TEST(Server, ServesRequestsOnOneKeepAliveConnection) {
  auto server = StartServer(AddEcho);
  auto conn = Connect(*server);
  for (int i = 0; i < 3; ++i) {
    auto r = conn->Request("POST", "/echo?a=1", absl::StrCat("body", i), {{"X-Test", "yes"}});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, absl::StrCat("POST|/echo|a=1|yes|body", i));
    EXPECT_TRUE(r->keep_alive);
  }
  auto r = conn->Request("GET", "/hello");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "hi");
  EXPECT_EQ(server->connection_count(), 1);
}

TEST(Server, PipelinedRequestsAnswerInOrder) {
  auto server = StartServer(AddEcho);
  auto conn = Connect(*server);
  ASSERT_TRUE(conn->SendRaw("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab")
                  .ok());
  auto a = conn->Read();
  auto b = conn->Read();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->body, "hi");
  EXPECT_EQ(b->body, "POST|/echo||-|ab");
}

TEST(Server, UnknownPathIs404AndWrongMethodIs405) {
  auto server = StartServer(AddEcho);
  auto conn = Connect(*server);
  auto r = conn->Request("GET", "/nope");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  EXPECT_THAT(r->body, HasSubstr("\"error\""));
  EXPECT_EQ(r->Header("content-type").value_or(""), "application/json");
  r = conn->Request("DELETE", "/hello");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->Header("allow").value_or(""), "GET");
  r = conn->Request("GET", "/hello");  // still usable
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
}

TEST(Server, ExactRoutesBeatPrefixesAndLongestPrefixWins) {
  auto server = StartServer([](Server* s) {
    s->HandlePrefix("GET", "/v1/", [](const Request&) { return Response::Text(200, "v1"); });
    s->HandlePrefix("GET", "/v1/files/",
                    [](const Request& r) { return Response::Text(200, "files:" + r.path); });
    s->Handle("GET", "/v1/models", [](const Request&) { return Response::Text(200, "models"); });
  });
  EXPECT_EQ(testing::HttpRequest(server->port(), "GET", "/v1/models")->body, "models");
  EXPECT_EQ(testing::HttpRequest(server->port(), "GET", "/v1/other")->body, "v1");
  EXPECT_EQ(testing::HttpRequest(server->port(), "GET", "/v1/files/a")->body, "files:/v1/files/a");
  EXPECT_EQ(testing::HttpRequest(server->port(), "GET", "/v2")->status, 404);
  EXPECT_EQ(testing::HttpRequest(server->port(), "POST", "/v1/x")->status, 405);
}

TEST(Server, BodyOverLimitIs413AndConnectionCloses) {
  ServerOptions o;
  o.max_body_bytes = 1024;
  auto server = StartServer(AddEcho, o);
  auto conn = Connect(*server);
  auto ok = conn->Request("POST", "/echo", std::string(1024, 'a'));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200);
  auto r = conn->Request("POST", "/echo", std::string(4096, 'a'));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 413);
  EXPECT_FALSE(r->keep_alive);
  EXPECT_TRUE(conn->PeerClosed());
}

TEST(Server, ChunkedBodyOverLimitIs413) {
  ServerOptions o;
  o.max_body_bytes = 16;
  auto server = StartServer(AddEcho, o);
  auto conn = Connect(*server);
  ASSERT_TRUE(conn->SendRaw("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                            "\r\n20\r\n0123456789abcdef0123456789abcdef\r\n0\r\n\r\n")
                  .ok());
  auto r = conn->Read();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 413);
}

TEST(Server, MalformedRequestIs400) {
  auto server = StartServer(AddEcho);
  auto conn = Connect(*server);
  ASSERT_TRUE(conn->SendRaw("GET /hello HTTP/1.1\r\nBad Header Line\r\n\r\n").ok());
  auto r = conn->Read();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(conn->PeerClosed());
}

TEST(Server, Expect100ContinueGetsInterimResponse) {
  auto server = StartServer(AddEcho);
  auto conn = Connect(*server);
  ASSERT_TRUE(conn->SendRaw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                            "Expect: 100-continue\r\n\r\n")
                  .ok());
  auto interim = conn->Read();
  ASSERT_TRUE(interim.ok());
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(conn->SendRaw("abc").ok());
  auto r = conn->Read();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "POST|/echo||-|abc");
}

TEST(Server, HandlerExceptionIs500) {
  auto server = StartServer([](Server* s) {
    s->Handle("GET", "/throw", [](const Request&) -> Response {
      throw std::runtime_error("boom");
    });
  });
  auto r = testing::HttpRequest(server->port(), "GET", "/throw");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 500);
}

TEST(Server, AsyncHandlerAnswersFromAnotherThread) {
  std::vector<std::thread> threads;
  auto server = StartServer([&](Server* s) {
    s->HandleAsync("POST", "/later", [&](Request req, std::shared_ptr<Responder> responder) {
      threads.emplace_back([req = std::move(req), responder] {
        EXPECT_TRUE(responder->Respond(Response::Json(201, "{\"got\":\"" + req.body + "\"}")));
        EXPECT_FALSE(responder->Respond(Response::Text(200, "twice")));
      });
    });
    AddEcho(s);
  });
  auto conn = Connect(*server);
  auto r = conn->Request("POST", "/later", "x");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "{\"got\":\"x\"}");
  r = conn->Request("GET", "/hello");  // keep-alive after an async answer
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "hi");
  for (auto& t : threads) t.join();
}

TEST(Server, DroppedResponderAnswers500) {
  auto server = StartServer([](Server* s) {
    s->HandleAsync("GET", "/drop", [](Request, std::shared_ptr<Responder>) {});
  });
  auto r = testing::HttpRequest(server->port(), "GET", "/drop");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 500);
}

TEST(Server, StreamsChunksAndKeepsConnectionAlive) {
  std::vector<std::thread> threads;
  auto server = StartServer([&](Server* s) {
    s->HandleAsync("GET", "/sse", [&](Request, std::shared_ptr<Responder> responder) {
      auto writer = responder->StartStream(200, "text/event-stream", {{"Cache-Control", "no-cache"}});
      threads.emplace_back([writer] {
        for (int i = 0; i < 3; ++i) EXPECT_TRUE(writer->Write(absl::StrCat("data: ", i, "\n\n")));
        writer->Close();
        EXPECT_FALSE(writer->Write("late"));
      });
    });
    AddEcho(s);
  });
  auto conn = Connect(*server);
  ASSERT_TRUE(conn->Send("GET", "/sse").ok());
  auto head = conn->ReadHeader();
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->Header("content-type").value_or(""), "text/event-stream");
  EXPECT_EQ(head->Header("transfer-encoding").value_or(""), "chunked");
  EXPECT_EQ(head->Header("cache-control").value_or(""), "no-cache");
  std::string body;
  for (;;) {
    auto piece = conn->ReadBodySome();
    ASSERT_TRUE(piece.ok()) << piece.status();
    if (!piece->has_value()) break;
    body += **piece;
  }
  EXPECT_EQ(body, "data: 0\n\ndata: 1\n\ndata: 2\n\n");
  auto r = conn->Request("GET", "/hello");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "hi");
  for (auto& t : threads) t.join();
}

// Holds what handlers hand out so the test thread can drive them.
struct Held {
  absl::Mutex mu;
  std::vector<std::shared_ptr<StreamWriter>> writers ABSL_GUARDED_BY(mu);
  std::vector<std::shared_ptr<Responder>> responders ABSL_GUARDED_BY(mu);
  int disconnects ABSL_GUARDED_BY(mu) = 0;

  void WaitFor(int writers_n, int responders_n) {
    absl::MutexLock l(&mu);
    auto reached = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return static_cast<int>(writers.size()) >= writers_n &&
             static_cast<int>(responders.size()) >= responders_n;
    };
    mu.AwaitWithTimeout(absl::Condition(&reached), kWait);
  }
};

TEST(Server, DisconnectIsNoticedWhileNothingIsWritten) {
  absl::Notification gone;
  Held held;
  auto server = StartServer([&](Server* s) {
    s->HandleAsync("GET", "/sse", [&](Request, std::shared_ptr<Responder> responder) {
      auto writer = responder->StartStream(200, "text/event-stream");
      writer->OnDisconnect([&gone] { gone.Notify(); });
      absl::MutexLock l(&held.mu);
      held.writers.push_back(writer);
    });
  });
  auto conn = Connect(*server);
  ASSERT_TRUE(conn->Send("GET", "/sse").ok());
  ASSERT_TRUE(conn->ReadHeader().ok());
  conn->Close();
  ASSERT_TRUE(gone.WaitForNotificationWithTimeout(kWait));
  absl::MutexLock l(&held.mu);
  ASSERT_EQ(held.writers.size(), 1u);
  EXPECT_TRUE(held.writers[0]->disconnected());
  EXPECT_FALSE(held.writers[0]->Write("x"));
}

TEST(Server, DisconnectIsNoticedBeforeAnAsyncAnswer) {
  absl::Notification gone;
  Held held;
  auto server = StartServer([&](Server* s) {
    s->HandleAsync("POST", "/slow", [&](Request, std::shared_ptr<Responder> responder) {
      responder->OnDisconnect([&gone] { gone.Notify(); });
      absl::MutexLock l(&held.mu);
      held.responders.push_back(responder);
    });
  });
  auto conn = Connect(*server);
  ASSERT_TRUE(conn->Send("POST", "/slow", "{}").ok());
  held.WaitFor(0, 1);
  conn->Close();
  ASSERT_TRUE(gone.WaitForNotificationWithTimeout(kWait));
  absl::MutexLock l(&held.mu);
  EXPECT_FALSE(held.responders[0]->Respond(Response::Text(200, "late")));
  // A callback registered after the disconnect runs at once.
  bool ran = false;
  held.responders[0]->OnDisconnect([&ran] { ran = true; });
  EXPECT_TRUE(ran);
}

TEST(Server, ClientTooSlowIsDropped) {
  ServerOptions o;
  o.max_stream_buffer_bytes = 64 << 10;
  absl::Notification gone;
  Held held;
  auto server = StartServer(
      [&](Server* s) {
        s->HandleAsync("GET", "/flood", [&](Request, std::shared_ptr<Responder> responder) {
          auto writer = responder->StartStream(200, "application/octet-stream");
          writer->OnDisconnect([&gone] { gone.Notify(); });
          absl::MutexLock l(&held.mu);
          held.writers.push_back(writer);
        });
      },
      o);
  auto conn = Connect(*server);  // never reads the body
  ASSERT_TRUE(conn->Send("GET", "/flood").ok());
  held.WaitFor(1, 0);
  std::shared_ptr<StreamWriter> writer;
  {
    absl::MutexLock l(&held.mu);
    writer = held.writers[0];
  }
  const std::string block(16 << 10, 'x');
  bool refused = false;
  for (int i = 0; i < 100000 && !refused; ++i) refused = !writer->Write(block);
  EXPECT_TRUE(refused);
  EXPECT_TRUE(gone.WaitForNotificationWithTimeout(kWait));
}

TEST(Server, ThousandConcurrentStreams) {
  constexpr int kStreams = 1000;
  Held held;
  auto server = StartServer([&](Server* s) {
    s->HandleAsync("GET", "/sse", [&](Request, std::shared_ptr<Responder> responder) {
      auto writer = responder->StartStream(200, "text/event-stream");
      absl::MutexLock l(&held.mu);
      held.writers.push_back(writer);
    });
  });
  std::vector<std::unique_ptr<TestConnection>> conns;
  for (int i = 0; i < kStreams; ++i) {
    conns.push_back(Connect(*server));
    ASSERT_TRUE(conns.back()->Send("GET", "/sse").ok());
  }
  held.WaitFor(kStreams, 0);
  std::vector<std::shared_ptr<StreamWriter>> writers;
  {
    absl::MutexLock l(&held.mu);
    ASSERT_EQ(held.writers.size(), static_cast<size_t>(kStreams));
    writers = held.writers;
  }
  EXPECT_EQ(server->connection_count(), kStreams);
  // Two producer threads, as a backend's callback threads would be.
  auto produce = [&writers](int begin, int end) {
    for (int round = 0; round < 3; ++round) {
      for (int i = begin; i < end; ++i) EXPECT_TRUE(writers[i]->Write(absl::StrCat(round, ";")));
    }
    for (int i = begin; i < end; ++i) writers[i]->Close();
  };
  std::thread a(produce, 0, kStreams / 2);
  std::thread b(produce, kStreams / 2, kStreams);
  a.join();
  b.join();
  for (auto& conn : conns) {
    auto head = conn->ReadHeader();
    ASSERT_TRUE(head.ok());
    std::string body;
    for (;;) {
      auto piece = conn->ReadBodySome();
      ASSERT_TRUE(piece.ok());
      if (!piece->has_value()) break;
      body += **piece;
    }
    EXPECT_EQ(body, "0;1;2;");
  }
}

TEST(Server, StopLetsInFlightStreamsFinish) {
  Held held;
  auto server = StartServer([&](Server* s) {
    s->HandleAsync("GET", "/sse", [&](Request, std::shared_ptr<Responder> responder) {
      auto writer = responder->StartStream(200, "text/event-stream");
      absl::MutexLock l(&held.mu);
      held.writers.push_back(writer);
    });
    AddEcho(s);
  });
  auto idle = Connect(*server);
  ASSERT_EQ(idle->Request("GET", "/hello")->status, 200);
  auto conn = Connect(*server);
  ASSERT_TRUE(conn->Send("GET", "/sse").ok());
  ASSERT_TRUE(conn->ReadHeader().ok());
  held.WaitFor(1, 0);
  std::thread stopper([&] { server->Stop(kWait); });
  EXPECT_TRUE(idle->PeerClosed());  // idle keep-alive connections close at once
  std::shared_ptr<StreamWriter> writer;
  {
    absl::MutexLock l(&held.mu);
    writer = held.writers[0];
  }
  EXPECT_TRUE(writer->Write("last words"));
  writer->Close();
  std::string body;
  for (;;) {
    auto piece = conn->ReadBodySome();
    ASSERT_TRUE(piece.ok());
    if (!piece->has_value()) break;
    body += **piece;
  }
  EXPECT_EQ(body, "last words");
  stopper.join();
  EXPECT_TRUE(server->draining());
  EXPECT_FALSE(TestConnection::Connect(server->port()).ok());
}

TEST(Server, StopClosesStreamsLeftAfterTheDeadline) {
  absl::Notification gone;
  Held held;
  auto server = StartServer([&](Server* s) {
    s->HandleAsync("GET", "/sse", [&](Request, std::shared_ptr<Responder> responder) {
      auto writer = responder->StartStream(200, "text/event-stream");
      writer->OnDisconnect([&gone] { gone.Notify(); });
      absl::MutexLock l(&held.mu);
      held.writers.push_back(writer);
    });
  });
  auto conn = Connect(*server);
  ASSERT_TRUE(conn->Send("GET", "/sse").ok());
  held.WaitFor(1, 0);
  server->Stop(absl::Milliseconds(50));
  EXPECT_TRUE(gone.HasBeenNotified());
  absl::MutexLock l(&held.mu);
  EXPECT_FALSE(held.writers[0]->Write("after stop"));  // server gone: no crash
}

}  // namespace
}  // namespace triptych::http

namespace triptych::http {
namespace {

// A handler's answer may come from another thread after the server is gone
// (a backend's last event during shutdown): it is dropped, and the session
// is never used or destroyed after the server's io_context (ASan checks
// this in the sanitizer stage; the race is repeated to make it likely).
TEST(Server, AnswersAfterTheServerIsDestroyedAreDropped) {
  for (int round = 0; round < 20; ++round) {
    auto server = Server::Create(ServerOptions{});
    ASSERT_TRUE(server.ok());
    std::shared_ptr<Responder> held;
    absl::Notification got;
    (*server)->HandleAsync("GET", "/hold", [&](Request, std::shared_ptr<Responder> r) {
      held = std::move(r);
      got.Notify();
    });
    ASSERT_TRUE((*server)->Start().ok());
    const int port = (*server)->port();
    std::thread client([port] { (void)testing::HttpRequest(port, "GET", "/hold"); });
    got.WaitForNotification();
    std::thread answer([&held] {
      for (int i = 0; i < 50; ++i) held->Respond(Response::Json(200, "{}"));
    });
    server->reset();  // while the other thread answers
    answer.join();
    EXPECT_FALSE(held->Respond(Response::Json(200, "{}")));
    held.reset();
    client.join();
  }
}

}  // namespace
}  // namespace triptych::http
