#ifndef TRIPTYCH_RUNTIME_ENGINE_ENGINE_H_
#define TRIPTYCH_RUNTIME_ENGINE_ENGINE_H_

// Continuous-batching generation engine over the paged KV cache.
//
// Each Step() builds one batch: every running sequence's next token first
// (so decode latency does not wait behind long prompts), then prompt chunks
// of waiting sequences within the token budget (chunked prefill). When the
// cache runs out of blocks the newest running sequence is preempted: its
// blocks are released and it is re-queued to be recomputed from its prompt
// plus the tokens it generated (preemption by recompute), which gives the
// same output as an uninterrupted run. A request with n choices is one
// sequence until its prompt is computed, then n (GenerationRequest::n); it is
// admitted when all n fit in max_running (or when nothing else runs).
//
// Thread safety: Add(), Cancel() and stats() may be called from any thread;
// Step() and HasWork() from one driver thread at a time.

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/thread_pool.h"
#include "runtime/grammar/matcher.h"
#include "runtime/grammar/output_constraint.h"
#include "runtime/grammar/token_trie.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/model/model.h"
#include "runtime/sampling/sampler.h"
#include "runtime/sampling/stop_matcher.h"
#include "runtime/tokenizer/incremental_decoder.h"
#include "runtime/tokenizer/tokenizer.h"

namespace triptych::engine {

// A prompt the engine hands to another node to prefill (disaggregated
// serving): that node computes the KV of `tokens` and writes it into
// `blocks` of this engine's cache (positions from `skip_tokens` on; the
// earlier ones are already cached here), then reports the last token's
// logits.
struct RemotePrefillJob {
  std::string request_id;
  std::string prefill_address;
  std::vector<int32_t> tokens;
  std::vector<kv::BlockId> blocks;
  int64_t skip_tokens = 0;
};
// Called exactly once per job, from any thread: the logits of the last
// token (vocab_size floats) or why the prefill failed.
using RemotePrefillDone =
    std::function<void(absl::StatusOr<std::vector<float>> last_logits)>;
// Starts a remote prefill. Must not block (the engine's driver thread calls
// it); the KV blocks stay reserved until `done` runs.
using RemotePrefillFn =
    std::function<void(RemotePrefillJob job, RemotePrefillDone done)>;

// KV history (a memory node keeps the KV of finished sequences so that the
// next turn of a conversation does not recompute it). A fetch asks for the
// longest stored prefix of `chain` (chain hashes of consecutive full prompt
// blocks, right after the blocks this engine already had cached) to be
// written into `blocks` (same length, this engine's cache, reserved until
// `done` runs); done reports how many leading blocks were written.
struct HistoryFetchJob {
  std::string request_id;
  std::vector<kv::BlockHash> chain;
  std::vector<kv::BlockId> blocks;
};
using HistoryFetchDone = std::function<void(absl::StatusOr<int64_t> blocks)>;
// Must not block; `done` is called exactly once, from any thread.
using HistoryFetchFn =
    std::function<void(HistoryFetchJob job, HistoryFetchDone done)>;
// A finished sequence's full blocks to keep: hashes[i] is the chain hash of
// blocks[i] (parent of hashes[0] is 0: the sequence's first block). The
// engine holds a reference on every block (so their bytes stay as they
// are) until `done` runs.
struct HistoryStoreJob {
  std::string request_id;
  std::vector<kv::BlockHash> hashes;
  std::vector<kv::BlockId> blocks;
};
using HistoryStoreDone = std::function<void()>;
// Must not block; `done` is called exactly once, from any thread.
using HistoryStoreFn =
    std::function<void(HistoryStoreJob job, HistoryStoreDone done)>;

struct EngineOptions {
  int max_running = 8;             // sequences decoding together
  int64_t max_batch_tokens = 512;  // tokens per step (decodes + prompt chunks)
  int64_t num_kv_blocks = 1024;
  int block_size = 16;
  kv::KvDtype kv_dtype = kv::KvDtype::kF16;
  bool prefix_cache = true;
  int num_threads = 1;
  // Needed for requests with a prefill_address; without it they prefill
  // locally.
  RemotePrefillFn remote_prefill;
  // Optional KV history: prompts look up their uncached full blocks there
  // before computing them, finished sequences' full blocks are stored there.
  HistoryFetchFn history_fetch;
  HistoryStoreFn history_store;
  // KV block events kept for DrainKvEvents(); the oldest are dropped past
  // this many (and counted) so an undrained engine does not grow.
  int64_t max_kv_events = 1 << 16;
  // Quest sparse attention in decode steps over long contexts (see
  // runtime/model/sparse_attention.h); budget_tokens 0 = dense. When on, the
  // KV cache keeps per-block key summaries (1/8 of an F16 block's size).
  model::SparseAttentionOptions sparse_attention;
};

// Most choices one request may ask for (the gateway's --max-n is lower).
inline constexpr int kMaxChoices = 128;

struct GenerationRequest {
  std::string id;
  std::vector<int32_t> prompt;  // token ids, BOS included if wanted
  int64_t max_tokens = 16;
  sampling::SamplingParams sampling;
  std::vector<std::string> stop;  // stop strings (not part of the output)
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
  // gRPC address of a prefill node that computes the prompt's KV; empty =
  // prefill here. If the remote prefill fails the engine prefills locally.
  std::string prefill_address;
  // Sparse-attention token budget for this request: nullopt = the node's
  // EngineOptions::sparse_attention, 0 = dense. A positive budget on a node
  // whose sparse attention is off runs dense (its cache keeps no key
  // summaries). The node's dense_layers / sink / recent settings apply.
  std::optional<int64_t> sparse_budget;
  // The output's required form: each step masks the tokens that cannot
  // continue a valid output; a complete output that cannot continue ends the
  // sequence (kStop). The schema is compiled by Add() (kInvalidArgument).
  grammar::OutputConstraint constraint;
  // Number of choices (OpenAI `n`, 1..kMaxChoices): the prompt is computed
  // once, then n sequences fork from its KV (full blocks shared, the partial
  // last block copied) and each samples its own output; choice i samples with
  // seed sampling.seed + i. Outputs carry the choice's index; each choice
  // ends with its own finish, the request with request_done.
  int n = 1;
  // The last constraint_replay prompt tokens were generated under
  // `constraint` before (a migrated request): the matcher starts after them.
  int64_t constraint_replay = 0;
  // Control tokens kept in the output text (the detokenizer drops the
  // others): the markers the gateway's tool-call / channel parser reads
  // (gpt-oss's <|channel|>, <|message|>, ...). At most kMaxPreservedTokens
  // ids, each in the vocabulary (kInvalidArgument otherwise). They do not
  // change what may be sampled; an output constraint's mask never offers
  // control tokens.
  std::vector<int32_t> preserved_tokens;
};

inline constexpr int kMaxPreservedTokens = 64;

enum class FinishReason { kNone, kLength, kStop, kCancelled, kError };
const char* FinishReasonName(FinishReason reason);

// What one step produced for one request.
struct TokenOutput {
  std::string request_id;
  int index = 0;  // the choice (0..n-1)
  // The request's last output: every choice has finished (with n = 1, the
  // output that finishes it).
  bool request_done = false;
  int32_t token = -1;  // -1 when the step produced no token (cancel, error)
  std::string text;    // text that became final this step
  float logprob = 0.0f;
  std::vector<std::pair<int32_t, float>> top_logprobs;
  FinishReason finish = FinishReason::kNone;
  std::string error;  // set when finish == kError
  int64_t prompt_tokens = 0;
  int64_t cached_prompt_tokens = 0;  // prompt tokens whose KV came from the cache
  int64_t completion_tokens = 0;
};

struct EngineStats {
  int64_t waiting = 0;
  int64_t running = 0;
  int64_t steps = 0;
  int64_t prompt_tokens_computed = 0;  // prompt (and recompute) tokens run here
  int64_t forked_choices = 0;          // choices that attached to a prompt's KV
  int64_t remote_prefill_tokens = 0;   // prompt tokens prefilled by other nodes
  int64_t remote_prefill_failures = 0;
  int64_t history_fetched_tokens = 0;  // prompt tokens whose KV came from history
  int64_t history_fetch_failures = 0;
  int64_t history_store_jobs = 0;      // finished sequences handed to history
  int64_t kv_events_dropped = 0;
  int64_t decode_tokens_computed = 0;
  int64_t constrained_tokens = 0;      // tokens sampled under an output constraint
  int64_t prefix_cached_tokens = 0;
  int64_t preemptions = 0;
  int64_t kv_blocks_total = 0;
  int64_t kv_blocks_available = 0;
};

class Engine {
 public:
  // `model` and `tokenizer` must outlive the engine.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(
      const model::ForwardModel* model, const tokenizer::Tokenizer* tokenizer,
      const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a request. Errors: kInvalidArgument (empty prompt, token out of
  // range, prompt too long for the context, bad sampling parameters),
  // kAlreadyExists (id in use), kResourceExhausted (the prompt needs more KV
  // blocks than the whole cache has).
  absl::Status Add(GenerationRequest request);

  // Cancels a queued or running request; its final output (kCancelled)
  // comes from the next Step(). Unknown ids are ignored.
  void Cancel(const std::string& id);

  // Runs one batch. Returns the outputs of every request that produced
  // text, a token or finished.
  std::vector<TokenOutput> Step();

  bool HasWork() const;

  // Blocks until Step() has something to do (a new request, a cancel, a
  // finished remote prefill, or runnable sequences) or `timeout` passes.
  // For driver loops; thread-safe.
  void WaitForWork(absl::Duration timeout);

  // Returns and clears the KV block events (stored / evicted) since the last
  // call, for the scheduler's block index. Thread-safe.
  std::vector<kv::BlockEvent> DrainKvEvents();
  EngineStats stats() const;
  kv::KvCache* kv_cache() { return cache_.get(); }
  const model::ForwardModel& model() const { return *model_; }

 private:
  struct Sequence;
  Engine(const model::ForwardModel* model, const tokenizer::Tokenizer* tokenizer,
         const EngineOptions& options);

  void DrainInbox(std::vector<TokenOutput>* out);
  bool Admit(Sequence* seq);
  void Preempt(Sequence* seq);
  void Finish(Sequence* seq, FinishReason reason, std::vector<TokenOutput>* out,
              TokenOutput* last);
  // Samples seq's next token from `logits`; when seq's prompt has just been
  // computed and it has choices to fork, forks them and samples theirs too.
  void Sample(Sequence* seq, const float* logits, std::vector<TokenOutput>* out);
  void SampleOne(Sequence* seq, const float* logits, std::vector<TokenOutput>* out);
  // Makes seq's other choices, sharing its prompt's KV (into running_; one
  // that gets no block for its copy goes to waiting_ and computes its prompt).
  // Returns those that share it.
  std::vector<Sequence*> Fork(Sequence* seq);
  bool StartRemotePrefill(Sequence* seq);
  void ApplyRemotePrefills(std::vector<TokenOutput>* out);
  bool StartHistoryFetch(Sequence* seq);
  void ApplyHistoryFetches();
  void StoreHistory(Sequence* seq);
  // A remote prefill or history fetch of request `id` reported: drops the
  // sequence if it was cancelled meanwhile (nullptr), else clears its
  // `pending` flag and returns it (nullptr when it is no longer waiting).
  Sequence* TakeAsyncResult(const std::string& id, bool Sequence::*pending);
  // True while another node writes the sequence's blocks.
  static bool Busy(const Sequence& seq);
  void CollectKvEvents();
  // Masks `row` to the tokens seq's constraint allows next. Returns false
  // when none is allowed (the sequence cannot go on).
  bool ApplyConstraint(Sequence* seq, absl::Span<float> row);
  // The vocabulary trie for constrained decoding, built on first use.
  const grammar::TokenTrie& Trie();

  const model::ForwardModel* model_;
  const tokenizer::Tokenizer* tokenizer_;
  const EngineOptions options_;
  std::unique_ptr<kv::KvCache> cache_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<grammar::TokenTrie> trie_;  // driver thread only
  std::vector<int32_t> eog_ids_;              // built with trie_
  std::vector<uint64_t> mask_bits_;           // scratch, driver thread only

  // Owned by the driver thread.
  std::deque<std::unique_ptr<Sequence>> waiting_;
  std::vector<std::unique_ptr<Sequence>> running_;
  EngineStats counters_;

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Sequence>> inbox_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> cancels_ ABSL_GUARDED_BY(mu_);
  // Finished remote prefills, by request id.
  std::vector<std::pair<std::string, absl::StatusOr<std::vector<float>>>>
      remote_done_ ABSL_GUARDED_BY(mu_);
  // Finished history fetches, by request id.
  std::vector<std::pair<std::string, absl::StatusOr<int64_t>>> history_done_
      ABSL_GUARDED_BY(mu_);
  std::deque<kv::BlockEvent> kv_events_ ABSL_GUARDED_BY(mu_);
  // Cancelled sequences whose remote prefill or history fetch may still
  // write their blocks: kept (blocks reserved) until it reports.
  std::vector<std::unique_ptr<Sequence>> orphans_;
  // Live request ids -> choices not finished yet.
  absl::flat_hash_map<std::string, int> live_ids_ ABSL_GUARDED_BY(mu_);
  EngineStats published_ ABSL_GUARDED_BY(mu_);
  bool runnable_ ABSL_GUARDED_BY(mu_) = false;  // as of the last Step()
  static bool ReadyLocked(Engine* e);
};

}  // namespace triptych::engine

#endif  // TRIPTYCH_RUNTIME_ENGINE_ENGINE_H_
