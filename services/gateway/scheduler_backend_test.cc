// SchedulerBackend against an in-process fake of triptych.v1.Scheduler.

#include "services/gateway/scheduler_backend.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/triptych.grpc.pb.h"

namespace triptych::gateway {
namespace {

constexpr absl::Duration kWait = absl::Seconds(30);

enum class Mode { kTokens, kError, kHold };

class FakeScheduler : public v1::Scheduler::CallbackService {
 public:
  Mode mode = Mode::kTokens;
  absl::Notification cancelled;
  absl::Mutex mu;
  v1::GenerateRequest last ABSL_GUARDED_BY(mu);

  grpc::ServerWriteReactor<v1::GenerateEvent>* Generate(
      grpc::CallbackServerContext*, const v1::GenerateRequest* request) override {
    {
      absl::MutexLock l(&mu);
      last = *request;
    }
    return new Reactor(this);
  }

 private:
  class Reactor : public grpc::ServerWriteReactor<v1::GenerateEvent> {
   public:
    explicit Reactor(FakeScheduler* s) : s_(s) {
      if (s_->mode == Mode::kError) {
        FinishOnce(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "no free KV blocks"));
        return;
      }
      events_.resize(2);
      events_[0].add_tokens(5);
      events_[0].set_text("Hello");
      events_[0].add_logprobs(-0.25f);
      v1::TopLogprob* top = events_[0].add_top_logprobs()->add_entries();
      top->set_token(5);
      top->set_logprob(-0.25f);
      events_[1].add_tokens(6);
      events_[1].set_text(" there");
      events_[1].add_logprobs(-1.0f);
      events_[1].add_top_logprobs();
      events_[1].set_finish_reason(v1::FINISH_REASON_STOP);
      events_[1].mutable_usage()->set_prompt_tokens(3);
      events_[1].mutable_usage()->set_completion_tokens(2);
      events_[1].mutable_usage()->set_cached_prompt_tokens(1);
      StartWrite(&events_[0]);
    }
    void OnWriteDone(bool ok) override {
      if (!ok) return;
      if (s_->mode == Mode::kHold) return;  // wait for OnCancel
      if (++next_ < events_.size()) {
        StartWrite(&events_[next_]);
      } else {
        FinishOnce(grpc::Status::OK);
      }
    }
    // A cancel can arrive after Finish(OK) (the backend cancels live calls
    // when it shuts down); gRPC forbids a second Finish.
    void OnCancel() override {
      s_->cancelled.Notify();
      FinishOnce(grpc::Status::CANCELLED);
    }
    void OnDone() override { delete this; }

   private:
    void FinishOnce(grpc::Status status) {
      if (!finished_.exchange(true)) Finish(std::move(status));
    }
    std::atomic<bool> finished_{false};
    FakeScheduler* s_;
    std::vector<v1::GenerateEvent> events_;
    size_t next_ = 0;
  };
};

class SchedulerBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
    SchedulerBackendOptions options;
    options.address = "127.0.0.1:" + std::to_string(port_);
    auto backend = SchedulerBackend::Create(options);
    ASSERT_TRUE(backend.ok());
    backend_ = std::move(backend).value();
  }
  void TearDown() override {
    backend_.reset();
    server_->Shutdown();
  }

  // Starts a request and collects its events.
  struct Collected {
    absl::Mutex mu;
    std::vector<BackendEvent> events ABSL_GUARDED_BY(mu);
    absl::Notification first;
    absl::Notification finished;
  };
  std::unique_ptr<GenerationHandle> Run(Collected* c) {
    BackendRequest r;
    r.request_id = "req-1";
    r.prompt = {1, 2, 3};
    r.max_tokens = 9;
    r.sampling.temperature = 0.5f;
    r.sampling.logprobs = true;
    r.sampling.top_logprobs = 1;
    r.stop = {"END"};
    r.ignore_eos = true;
    r.sparse_attention_budget = 512;
    r.preserved_tokens = {7, 9};
    return backend_->Start(r, [c](const BackendEvent& e) {
      absl::MutexLock l(&c->mu);
      c->events.push_back(e);
      if (!c->first.HasBeenNotified()) c->first.Notify();
      if (e.finish != FinishReason::kNone) c->finished.Notify();
    });
  }

  FakeScheduler service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<SchedulerBackend> backend_;
};

TEST_F(SchedulerBackendTest, StreamsEventsAndSendsTheRequest) {
  Collected c;
  auto handle = Run(&c);
  ASSERT_TRUE(c.finished.WaitForNotificationWithTimeout(kWait));
  absl::MutexLock l(&c.mu);
  ASSERT_EQ(c.events.size(), 2u);
  EXPECT_EQ(c.events[0].text, "Hello");
  ASSERT_EQ(c.events[0].logprobs.size(), 1u);
  EXPECT_FLOAT_EQ(c.events[0].logprobs[0].logprob, -0.25f);
  EXPECT_EQ(c.events[0].logprobs[0].top.size(), 1u);
  EXPECT_EQ(c.events[1].finish, FinishReason::kStop);
  EXPECT_EQ(c.events[1].usage.completion_tokens, 2);
  EXPECT_EQ(c.events[1].usage.cached_tokens, 1);
  absl::MutexLock sl(&service_.mu);
  EXPECT_EQ(service_.last.request_id(), "req-1");
  EXPECT_EQ(service_.last.prompt_tokens_size(), 3);
  EXPECT_EQ(service_.last.max_tokens(), 9u);
  EXPECT_FLOAT_EQ(service_.last.sampling().temperature(), 0.5f);
  EXPECT_EQ(service_.last.stop(0), "END");
  EXPECT_TRUE(service_.last.ignore_eos());
  ASSERT_TRUE(service_.last.has_sparse_attention_budget());
  EXPECT_EQ(service_.last.sparse_attention_budget(), 512);
  ASSERT_EQ(service_.last.preserved_token_ids_size(), 2);
  EXPECT_EQ(service_.last.preserved_token_ids(0), 7);
  EXPECT_EQ(service_.last.preserved_token_ids(1), 9);
}

TEST_F(SchedulerBackendTest, RpcErrorBecomesErrorEventWithItsCode) {
  service_.mode = Mode::kError;
  Collected c;
  auto handle = Run(&c);
  ASSERT_TRUE(c.finished.WaitForNotificationWithTimeout(kWait));
  absl::MutexLock l(&c.mu);
  ASSERT_EQ(c.events.size(), 1u);
  EXPECT_EQ(c.events[0].finish, FinishReason::kError);
  EXPECT_EQ(c.events[0].error.code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(SchedulerBackendTest, CancelReachesTheScheduler) {
  service_.mode = Mode::kHold;
  Collected c;
  auto handle = Run(&c);
  ASSERT_TRUE(c.first.WaitForNotificationWithTimeout(kWait));  // the RPC is live
  handle->Cancel();
  ASSERT_TRUE(service_.cancelled.WaitForNotificationWithTimeout(kWait));
  ASSERT_TRUE(c.finished.WaitForNotificationWithTimeout(kWait));
  absl::MutexLock l(&c.mu);
  EXPECT_EQ(c.events.back().finish, FinishReason::kCancelled);
  handle->Cancel();  // after the end: harmless
}

TEST_F(SchedulerBackendTest, UnreachableSchedulerIsUnavailable) {
  SchedulerBackendOptions options;
  options.address = "127.0.0.1:1";  // nothing listens there
  auto backend = SchedulerBackend::Create(options);
  ASSERT_TRUE(backend.ok());
  absl::Notification done;
  absl::Status error;
  BackendRequest r;
  r.request_id = "x";
  r.prompt = {1};
  auto handle = (*backend)->Start(r, [&](const BackendEvent& e) {
    if (e.finish != FinishReason::kNone) {
      error = e.error;
      done.Notify();
    }
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWait));
  EXPECT_EQ(error.code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace triptych::gateway
