#ifndef TRIPTYCH_SERVICES_GATEWAY_BACKEND_H_
#define TRIPTYCH_SERVICES_GATEWAY_BACKEND_H_

// The seam between the gateway's HTTP/OpenAI layer and whatever generates
// tokens: the scheduler over gRPC (SchedulerBackend), an in-process engine
// (EngineBackend), or a scripted fake in tests (testing::FakeBackend).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "runtime/grammar/output_constraint.h"
#include "runtime/sampling/sampling_params.h"

namespace triptych::gateway {

// A tokenized, validated generation request.
struct BackendRequest {
  std::string request_id;
  std::vector<int32_t> prompt;  // BOS included when the model wants one
  int64_t max_tokens = 16;
  sampling::SamplingParams sampling;
  std::vector<std::string> stop;  // stop strings, not part of the output
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
  // Unset = the serving node's default; 0 = dense attention.
  std::optional<int64_t> sparse_attention_budget;
  // The output's required form (response_format); checked by the gateway.
  grammar::OutputConstraint constraint;
  // Choices (OpenAI `n`): the prompt is computed once and each choice i
  // samples with seed sampling.seed + i.
  int n = 1;
  // Control tokens the backend keeps in the event text (the chat
  // template's channel / tool-call markers; ModelInfo::preserved_tokens).
  std::vector<int32_t> preserved_tokens;
};

enum class FinishReason { kNone, kLength, kStop, kCancelled, kError };

struct TokenLogprob {
  int32_t token = -1;
  float logprob = 0.0f;
  std::vector<std::pair<int32_t, float>> top;  // most likely first
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;  // prompt tokens whose KV was reused
};

// One step of one choice of a generation. The last event of each choice has
// finish set (and that choice's usage filled: the prompt's tokens and the
// choice's own completion tokens); kError events carry a non-OK `error`
// whose code says what the client should do (kInvalidArgument,
// kResourceExhausted, kUnavailable, kDeadlineExceeded, ...).
struct BackendEvent {
  int index = 0;  // the choice, 0..n-1
  std::vector<int32_t> tokens;
  std::string text;                     // text that became final with them
  std::vector<TokenLogprob> logprobs;   // one per token when requested
  FinishReason finish = FinishReason::kNone;
  Usage usage;
  absl::Status error;
};

// A running generation. Thread-safe.
class GenerationHandle {
 public:
  virtual ~GenerationHandle() = default;
  // Asks the backend to stop the request and free what it holds (KV blocks
  // on every node). The final event (kCancelled, or whatever won the race)
  // still arrives. Idempotent; a no-op once finished. Destroying the handle
  // does not cancel.
  virtual void Cancel() = 0;
};

class GenerationBackend {
 public:
  virtual ~GenerationBackend() = default;

  // Starts `request`. `on_event` is called for each event, one at a time per
  // request, on a backend thread or — for failures found at once — on the
  // calling thread before Start() returns; for each of the request's n
  // choices exactly one event has finish != kNone and it is that choice's
  // last (after n of them the request is over). `on_event` must not block.
  // Never returns null.
  virtual std::unique_ptr<GenerationHandle> Start(
      const BackendRequest& request,
      std::function<void(const BackendEvent&)> on_event) = 0;
};

}  // namespace triptych::gateway

#endif  // TRIPTYCH_SERVICES_GATEWAY_BACKEND_H_
