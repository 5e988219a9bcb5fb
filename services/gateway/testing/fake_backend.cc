#include "services/gateway/testing/fake_backend.h"

#include <utility>

namespace triptych::gateway::testing {

class FakeBackend::Handle : public GenerationHandle {
 public:
  Handle(FakeBackend* backend, std::string id) : backend_(backend), id_(std::move(id)) {}
  void Cancel() override { backend_->Cancel(id_); }

 private:
  FakeBackend* const backend_;
  const std::string id_;
};

FakeBackend::~FakeBackend() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
}

void FakeBackend::SetScript(std::vector<BackendEvent> events, int hold_after) {
  absl::MutexLock lock(&mu_);
  script_ = std::move(events);
  hold_after_ = hold_after;
}

std::unique_ptr<GenerationHandle> FakeBackend::Start(
    const BackendRequest& request, std::function<void(const BackendEvent&)> on_event) {
  absl::MutexLock lock(&mu_);
  requests_.push_back(request);
  std::vector<BackendEvent> script = script_;
  const int hold_after = hold_after_;
  const std::string id = request.request_id;
  threads_.emplace_back([this, script = std::move(script), hold_after, id,
                         on_event = std::move(on_event)] {
    for (size_t i = 0; i < script.size(); ++i) {
      if (static_cast<int>(i) == hold_after) {
        {
          absl::MutexLock l(&mu_);
          auto released = [this, &id]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return cancelled_.contains(id) || stopping_;
          };
          mu_.Await(absl::Condition(&released));
        }
        BackendEvent cancelled;
        cancelled.finish = FinishReason::kCancelled;
        cancelled.usage.completion_tokens = static_cast<int64_t>(i);
        on_event(cancelled);
        break;
      }
      on_event(script[i]);
    }
    absl::MutexLock l(&mu_);
    ++finished_;
  });
  return std::make_unique<Handle>(this, id);
}

void FakeBackend::Cancel(const std::string& id) {
  absl::MutexLock lock(&mu_);
  if (cancelled_.insert(id).second) ++cancels_;
}

std::vector<BackendRequest> FakeBackend::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

int FakeBackend::cancels() const {
  absl::MutexLock lock(&mu_);
  return cancels_;
}

bool FakeBackend::WaitForRequests(int n, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto reached = [this, n]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return static_cast<int>(requests_.size()) >= n;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

bool FakeBackend::WaitForFinished(int n, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto reached = [this, n]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return finished_ >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

std::vector<BackendEvent> FakeBackend::TextEvents(const std::vector<std::string>& pieces,
                                                  FinishReason finish, int64_t prompt_tokens,
                                                  int64_t cached_tokens) {
  std::vector<BackendEvent> events;
  for (size_t i = 0; i < pieces.size(); ++i) {
    BackendEvent e;
    e.tokens.push_back(static_cast<int32_t>(100 + i));
    e.logprobs.push_back({static_cast<int32_t>(100 + i), -0.5f, {{static_cast<int32_t>(100 + i), -0.5f}, {7, -1.5f}}});
    e.text = pieces[i];
    events.push_back(std::move(e));
  }
  if (events.empty()) events.emplace_back();
  events.back().finish = finish;
  events.back().usage = {prompt_tokens, static_cast<int64_t>(pieces.size()), cached_tokens};
  return events;
}

}  // namespace triptych::gateway::testing
