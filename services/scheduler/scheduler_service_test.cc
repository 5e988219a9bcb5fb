// The scheduler service end to end over real gRPC on 127.0.0.1: fake decode
// nodes (DecodeNode.Generate with canned events) on ephemeral ports, the
// scheduler on another, a client calling Scheduler.Generate.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/triptych.grpc.pb.h"
#include "scheduler/clock.h"
#include "services/scheduler/scheduler_server.h"

namespace triptych::scheduler_service {
namespace {

// A DecodeNode that answers every Generate with a canned script.
class FakeDecodeNode final : public v1::DecodeNode::CallbackService {
 public:
  enum class Mode {
    kStream,                // 3 events of one token, the last one final
    kUnavailable,           // fails at once with UNAVAILABLE
    kTokenThenUnavailable,  // one token, then UNAVAILABLE
    kHoldUntilCancelled,    // one token, then waits for the call's cancellation
  };

  explicit FakeDecodeNode(Mode mode) : mode_(mode) {
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                       &port_);
    b.RegisterService(this);
    server_ = b.BuildAndStart();
  }
  ~FakeDecodeNode() override {
    server_->Shutdown(std::chrono::system_clock::now());
  }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  std::vector<v1::DecodeRequest> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  absl::Notification& cancelled() { return cancelled_; }

  grpc::ServerWriteReactor<v1::GenerateEvent>* Generate(
      grpc::CallbackServerContext* /*ctx*/,
      const v1::DecodeRequest* request) override {
    {
      absl::MutexLock lock(&mu_);
      requests_.push_back(*request);
    }
    return new Reactor(this);
  }

 private:
  class Reactor final : public grpc::ServerWriteReactor<v1::GenerateEvent> {
   public:
    explicit Reactor(FakeDecodeNode* node) : node_(node) {
      switch (node_->mode_) {
        case Mode::kStream:
          for (int i = 0; i < 3; ++i) {
            v1::GenerateEvent e;
            e.add_tokens(100 + i);
            e.set_text(absl::StrCat("t", i));
            if (i == 2) {
              e.set_finish_reason(v1::FINISH_REASON_LENGTH);
              e.mutable_usage()->set_completion_tokens(3);
            }
            events_.push_back(e);
          }
          break;
        case Mode::kUnavailable:
          break;
        case Mode::kTokenThenUnavailable:
        case Mode::kHoldUntilCancelled:
          events_.emplace_back().add_tokens(7);
          break;
      }
      Next();
    }
    void OnWriteDone(bool ok) override {
      if (!ok) {
        FinishOnce(grpc::Status::CANCELLED);
        return;
      }
      Next();
    }
    void OnCancel() override {
      node_->cancelled_.Notify();
      FinishOnce(grpc::Status::CANCELLED);
    }
    void OnDone() override { delete this; }

   private:
    void Next() {
      if (next_ < events_.size()) {
        StartWrite(&events_[next_++]);
        return;
      }
      switch (node_->mode_) {
        case Mode::kStream:
          FinishOnce(grpc::Status::OK);
          break;
        case Mode::kUnavailable:
        case Mode::kTokenThenUnavailable:
          FinishOnce(
              grpc::Status(grpc::StatusCode::UNAVAILABLE, "fake node down"));
          break;
        case Mode::kHoldUntilCancelled:
          break;  // OnCancel() finishes
      }
    }
    void FinishOnce(const grpc::Status& s) {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      finished_ = true;
      Finish(s);
    }

    FakeDecodeNode* const node_;
    std::vector<v1::GenerateEvent> events_;
    size_t next_ = 0;
    absl::Mutex mu_;
    bool finished_ ABSL_GUARDED_BY(mu_) = false;
  };

  const Mode mode_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  absl::Mutex mu_;
  std::vector<v1::DecodeRequest> requests_ ABSL_GUARDED_BY(mu_);
  absl::Notification cancelled_;
};

class SchedulerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SchedulerServer::Options o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.admin_port = -1;
    o.core.cluster_token = "s3cret";
    o.core.dispatcher.router.disagg_threshold_tokens = 64;
    auto server = SchedulerServer::Create(o, &clock_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::Scheduler::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                            grpc::InsecureChannelCredentials()));
  }

  grpc::Status Register(const std::string& id, v1::NodeRole role,
                        const std::string& address,
                        const std::string& token = "s3cret") {
    v1::RegisterRequest req;
    req.set_cluster_token(token);
    v1::NodeInfo* n = req.mutable_node();
    n->set_node_id(id);
    n->set_role(role);
    n->set_grpc_address(address);
    n->set_block_size(16);
    n->set_kv_blocks_total(1000);
    n->set_max_running(8);
    v1::RegisterResponse resp;
    grpc::ClientContext ctx;
    return stub_->Register(&ctx, req, &resp);
  }

  static v1::GenerateRequest Request(int prompt_len) {
    v1::GenerateRequest r;
    r.set_request_id("req-1");
    for (int i = 0; i < prompt_len; ++i) r.add_prompt_tokens(i + 1);
    r.set_max_tokens(3);
    return r;
  }

  // Calls Generate and reads the whole stream.
  grpc::Status Generate(const v1::GenerateRequest& req,
                        std::vector<v1::GenerateEvent>* events) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(30));
    auto reader = stub_->Generate(&ctx, req);
    v1::GenerateEvent e;
    while (reader->Read(&e)) events->push_back(e);
    return reader->Finish();
  }

  scheduler::FakeClock clock_;
  std::unique_ptr<SchedulerServer> server_;
  std::unique_ptr<v1::Scheduler::Stub> stub_;
};

TEST_F(SchedulerServiceTest, RegisterHeartbeatAndListNodes) {
  EXPECT_EQ(Register("d1", v1::NODE_ROLE_DECODE, "x:1", "wrong").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Register("d1", v1::NODE_ROLE_UNSPECIFIED, "x:1").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(Register("d1", v1::NODE_ROLE_DECODE, "x:1").ok());

  v1::HeartbeatRequest hb;
  hb.set_node_id("d1");
  hb.mutable_load()->set_running(2);
  hb.mutable_load()->set_kv_blocks_free(900);
  v1::KvEvent* ev = hb.add_kv_events();
  ev->set_kind(v1::KvEvent::KIND_STORED);
  ev->set_block_hash(42);
  v1::HeartbeatResponse hresp;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->Heartbeat(&ctx, hb, &hresp).ok());
    EXPECT_TRUE(hresp.known());
  }
  hb.set_node_id("stranger");
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_->Heartbeat(&ctx, hb, &hresp).ok());
    EXPECT_FALSE(hresp.known());
  }
  v1::ListNodesResponse list;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->ListNodes(&ctx, v1::ListNodesRequest(), &list).ok());
  ASSERT_EQ(list.nodes_size(), 1);
  EXPECT_EQ(list.nodes(0).node().node_id(), "d1");
  EXPECT_EQ(list.nodes(0).state(), "healthy");
  EXPECT_EQ(list.nodes(0).load().running(), 2u);
  EXPECT_EQ(list.nodes(0).cached_blocks(), 1u);
}

TEST_F(SchedulerServiceTest, RelaysEventsAndAttachesRouteInfo) {
  FakeDecodeNode node(FakeDecodeNode::Mode::kStream);
  ASSERT_TRUE(Register("d1", v1::NODE_ROLE_DECODE, node.address()).ok());
  std::vector<v1::GenerateEvent> events;
  ASSERT_TRUE(Generate(Request(20), &events).ok());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].route().decode_node(), "d1");
  EXPECT_EQ(events[0].route().prefill_node(), "");
  EXPECT_EQ(events[0].route().policy(), "kv_aware");
  EXPECT_EQ(events[0].route().reason(), "kv_miss/local_no_prefill_node");
  EXPECT_FALSE(events[1].has_route());
  EXPECT_EQ(events[1].tokens(0), 101);
  EXPECT_EQ(events[2].finish_reason(), v1::FINISH_REASON_LENGTH);
  ASSERT_EQ(node.requests().size(), 1u);
  EXPECT_EQ(node.requests()[0].request().prompt_tokens_size(), 20);
  EXPECT_EQ(node.requests()[0].prefill_address(), "");

  const std::string m = server_->metrics().Render();
  EXPECT_NE(
      m.find("triptych_scheduler_route_decisions_total{policy=\"kv_aware\","
             "reason=\"kv_miss/local_no_prefill_node\"} 1"),
      std::string::npos)
      << m;
  EXPECT_NE(m.find("triptych_scheduler_ttft_seconds_count 1"),
            std::string::npos);
  EXPECT_NE(m.find("triptych_scheduler_requests_total{outcome=\"finished\"} 1"),
            std::string::npos);
}

TEST_F(SchedulerServiceTest, LongPromptIsPrefilledOnAPrefillNode) {
  FakeDecodeNode node(FakeDecodeNode::Mode::kStream);
  ASSERT_TRUE(Register("d1", v1::NODE_ROLE_DECODE, node.address()).ok());
  ASSERT_TRUE(Register("p1", v1::NODE_ROLE_PREFILL, "prefill-host:7001").ok());
  std::vector<v1::GenerateEvent> events;
  ASSERT_TRUE(Generate(Request(200), &events).ok());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].route().prefill_node(), "p1");
  EXPECT_EQ(events[0].route().reason(), "kv_miss/remote_prefill");
  ASSERT_EQ(node.requests().size(), 1u);
  EXPECT_EQ(node.requests()[0].prefill_address(), "prefill-host:7001");
  EXPECT_EQ(node.requests()[0].prefill_node_id(), "p1");
}

TEST_F(SchedulerServiceTest, RetriesOnAnotherNodeWhenTheFirstIsUnavailable) {
  FakeDecodeNode bad(FakeDecodeNode::Mode::kUnavailable);
  FakeDecodeNode good(FakeDecodeNode::Mode::kStream);
  // Equal load and no cache: ties go by id, so "a-bad" is tried first.
  ASSERT_TRUE(Register("a-bad", v1::NODE_ROLE_DECODE, bad.address()).ok());
  ASSERT_TRUE(Register("b-good", v1::NODE_ROLE_DECODE, good.address()).ok());
  std::vector<v1::GenerateEvent> events;
  ASSERT_TRUE(Generate(Request(20), &events).ok());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].route().decode_node(), "b-good");
  EXPECT_EQ(bad.requests().size(), 1u);
  EXPECT_EQ(good.requests().size(), 1u);
  EXPECT_EQ(server_->core().dispatcher().registry().Get("a-bad")->state,
            scheduler::NodeState::kDead);
  EXPECT_NE(
      server_->metrics().Render().find("triptych_scheduler_retries_total 1"),
      std::string::npos);
}

TEST_F(SchedulerServiceTest, RetriesWhenTheNodeCannotBeReached) {
  FakeDecodeNode good(FakeDecodeNode::Mode::kStream);
  // Port 1 on loopback: connection refused -> UNAVAILABLE from the transport.
  ASSERT_TRUE(Register("a-gone", v1::NODE_ROLE_DECODE, "127.0.0.1:1").ok());
  ASSERT_TRUE(Register("b-good", v1::NODE_ROLE_DECODE, good.address()).ok());
  std::vector<v1::GenerateEvent> events;
  ASSERT_TRUE(Generate(Request(20), &events).ok());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].route().decode_node(), "b-good");
}

// The decode node dies after one token: the request moves to another node
// with the relayed token appended to its prompt and one token less to
// generate; the caller sees one stream and usage for its own prompt.
TEST_F(SchedulerServiceTest, MigratesWhenTheDecodeNodeDiesMidStream) {
  FakeDecodeNode flaky(FakeDecodeNode::Mode::kTokenThenUnavailable);
  FakeDecodeNode good(FakeDecodeNode::Mode::kStream);
  ASSERT_TRUE(Register("a-flaky", v1::NODE_ROLE_DECODE, flaky.address()).ok());
  ASSERT_TRUE(Register("b-good", v1::NODE_ROLE_DECODE, good.address()).ok());
  std::vector<v1::GenerateEvent> events;
  // Round robin over sorted ids: the first attempt goes to a-flaky.
  const grpc::Status s = Generate(Request(20), &events);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(flaky.requests().size(), 1u);
  ASSERT_EQ(good.requests().size(), 1u);
  const v1::GenerateRequest& moved = good.requests()[0].request();
  ASSERT_EQ(moved.prompt_tokens_size(), 21);
  EXPECT_EQ(moved.prompt_tokens(20), 7);  // the token the caller already has
  EXPECT_EQ(moved.max_tokens(), 2u);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].tokens(0), 7);
  EXPECT_EQ(events[0].route().decode_node(), "a-flaky");
  EXPECT_EQ(events[1].tokens(0), 100);
  EXPECT_EQ(events[3].finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(events[3].usage().prompt_tokens(), 20u);
  EXPECT_EQ(events[3].usage().completion_tokens(), 4u);
}

TEST_F(SchedulerServiceTest, ClientCancellationCancelsTheDownstreamCall) {
  FakeDecodeNode node(FakeDecodeNode::Mode::kHoldUntilCancelled);
  ASSERT_TRUE(Register("d1", v1::NODE_ROLE_DECODE, node.address()).ok());
  grpc::ClientContext ctx;
  auto reader = stub_->Generate(&ctx, Request(20));
  v1::GenerateEvent e;
  ASSERT_TRUE(reader->Read(&e));  // the stream is established end to end
  EXPECT_EQ(e.route().decode_node(), "d1");
  ctx.TryCancel();
  EXPECT_TRUE(
      node.cancelled().WaitForNotificationWithTimeout(absl::Seconds(30)));
  while (reader->Read(&e)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(SchedulerServiceTest, ErrorsBeforeRouting) {
  std::vector<v1::GenerateEvent> events;
  EXPECT_EQ(Generate(Request(0), &events).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Generate(Request(10), &events).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(events.empty());
}

TEST(SchedulerServer, ShutdownIsIdempotentAndAdminServes) {
  SchedulerServer::Options o;
  o.host = "127.0.0.1";
  o.admin_host = "127.0.0.1";
  o.admin_port = 0;
  auto server = SchedulerServer::Create(o);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_GT((*server)->port(), 0);
  EXPECT_GT((*server)->admin_port(), 0);
  (*server)->Shutdown(absl::Seconds(1));
  (*server)->Shutdown(absl::Seconds(1));
}

}  // namespace
}  // namespace triptych::scheduler_service
