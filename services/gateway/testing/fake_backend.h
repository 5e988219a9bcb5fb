#ifndef TRIPTYCH_SERVICES_GATEWAY_TESTING_FAKE_BACKEND_H_
#define TRIPTYCH_SERVICES_GATEWAY_TESTING_FAKE_BACKEND_H_

// A scripted GenerationBackend for gateway tests: every request gets the
// same list of events, delivered from a thread of its own; optionally the
// request then waits until it is cancelled. Records requests and cancels.
// Thread-safe.

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/gateway/backend.h"

namespace triptych::gateway::testing {

class FakeBackend : public GenerationBackend {
 public:
  FakeBackend() = default;
  ~FakeBackend() override;  // cancels held requests and joins threads

  // `events` are sent in order. With `hold_after` >= 0, after that many
  // events the request waits for Cancel() and finishes with kCancelled.
  void SetScript(std::vector<BackendEvent> events, int hold_after = -1);

  std::unique_ptr<GenerationHandle> Start(
      const BackendRequest& request,
      std::function<void(const BackendEvent&)> on_event) override;

  std::vector<BackendRequest> requests() const;
  int cancels() const;
  // Waits until `n` requests were started; false on timeout.
  bool WaitForRequests(int n, absl::Duration timeout) const;
  // Waits until `n` requests finished (final event delivered).
  bool WaitForFinished(int n, absl::Duration timeout) const;

  // Events carrying one text piece (and one token, id 100 + i) each; the
  // last finishes with `finish` and usage {prompt_tokens, pieces, cached}.
  static std::vector<BackendEvent> TextEvents(const std::vector<std::string>& pieces,
                                              FinishReason finish, int64_t prompt_tokens,
                                              int64_t cached_tokens = 0);

 private:
  class Handle;
  void Cancel(const std::string& id);

  mutable absl::Mutex mu_;
  std::vector<BackendEvent> script_ ABSL_GUARDED_BY(mu_);
  int hold_after_ ABSL_GUARDED_BY(mu_) = -1;
  std::vector<BackendRequest> requests_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> cancelled_ ABSL_GUARDED_BY(mu_);
  int cancels_ ABSL_GUARDED_BY(mu_) = 0;
  int finished_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace triptych::gateway::testing

#endif  // TRIPTYCH_SERVICES_GATEWAY_TESTING_FAKE_BACKEND_H_
