#include "runtime/engine/engine.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "runtime/grammar/json_schema.h"
#include "runtime/grammar/logit_mask.h"

namespace triptych::engine {

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kNone:
      return "none";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kCancelled:
      return "cancelled";
    case FinishReason::kError:
      return "error";
  }
  return "unknown";
}

// A request's state. `tokens` holds the prompt and every sampled token;
// `computed` counts the tokens whose KV is in the cache, so the sequence
// always has tokens[computed, size) left to run (the prompt, a prompt chunk,
// or the last sampled token).
struct Engine::Sequence {
  Sequence(GenerationRequest r, const tokenizer::Tokenizer* tok,
           kv::KvCache* cache)
      : req(std::move(r)),
        tokens(req.prompt),
        num_prompt(static_cast<int64_t>(req.prompt.size())),
        kv(cache),
        sampler(req.sampling),
        decoder(tok, /*skip_special=*/true, /*continues_text=*/true,
                req.preserved_tokens),
        stop(req.stop) {}

  GenerationRequest req;
  int index = 0;          // the choice this sequence generates
  int forks_pending = 0;  // choices still to fork from this one's prompt
  std::vector<int32_t> tokens;
  const int64_t num_prompt;
  int64_t computed = 0;
  int64_t cached_prompt_tokens = 0;
  bool admitted_once = false;
  bool done = false;
  bool remote_pending = false;  // a prefill node is writing our blocks
  bool remote_tried = false;
  int64_t remote_skip = 0;
  bool history_pending = false;  // a history fetch is writing our blocks
  bool history_tried = false;
  kv::SequenceKv kv;
  sampling::Sampler sampler;
  tokenizer::IncrementalDecoder decoder;
  sampling::StopMatcher stop;
  std::unique_ptr<grammar::Matcher> matcher;  // set when req.constraint is active

  int64_t pending() const {
    return static_cast<int64_t>(tokens.size()) - computed;
  }
  int64_t generated() const {
    return static_cast<int64_t>(tokens.size()) - num_prompt;
  }
  absl::Span<const int32_t> generated_tokens() const {
    return absl::MakeConstSpan(tokens).subspan(num_prompt);
  }
};

Engine::Engine(const model::ForwardModel* model, const tokenizer::Tokenizer* tokenizer,
               const EngineOptions& options)
    : model_(model), tokenizer_(tokenizer), options_(options) {}

Engine::~Engine() = default;

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(
    const model::ForwardModel* model, const tokenizer::Tokenizer* tokenizer,
    const EngineOptions& options) {
  if (options.max_running < 1 || options.max_batch_tokens < options.max_running) {
    return absl::InvalidArgumentError(
        "max_running must be >= 1 and max_batch_tokens >= max_running");
  }
  auto engine =
      std::unique_ptr<Engine>(new Engine(model, tokenizer, options));
  kv::KvCacheOptions kvo = model->KvOptions(options.num_kv_blocks,
                                            options.block_size, options.kv_dtype);
  kvo.enable_prefix_cache = options.prefix_cache;
  kvo.key_summaries = options.sparse_attention.enabled();
  ASSIGN_OR_RETURN(engine->cache_, model::NewKvCache(*model, kvo));
  engine->pool_ = std::make_unique<ThreadPool>(options.num_threads);
  engine->counters_.kv_blocks_total = options.num_kv_blocks;
  return engine;
}

absl::Status Engine::Add(GenerationRequest request) {
  const model::ModelConfig& c = model_->config();
  if (request.prompt.empty()) {
    return absl::InvalidArgumentError("prompt is empty");
  }
  for (int32_t t : request.prompt) {
    if (t < 0 || t >= c.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("token id ", t, " out of range"));
    }
  }
  const int64_t n = static_cast<int64_t>(request.prompt.size());
  if (n >= c.context_length) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prompt has ", n, " tokens; the context length is ", c.context_length));
  }
  if (request.n < 1 || request.n > kMaxChoices) {
    return absl::InvalidArgumentError(
        absl::StrCat("n must be between 1 and ", kMaxChoices));
  }
  if (request.max_tokens < 1) {
    return absl::InvalidArgumentError("max_tokens must be at least 1");
  }
  if (request.sparse_budget.has_value() && *request.sparse_budget < 0) {
    return absl::InvalidArgumentError("sparse_budget must be >= 0");
  }
  RETURN_IF_ERROR(sampling::Validate(request.sampling));
  if (request.preserved_tokens.size() >
      static_cast<size_t>(kMaxPreservedTokens)) {
    return absl::InvalidArgumentError(
        absl::StrCat("at most ", kMaxPreservedTokens, " preserved tokens"));
  }
  for (int32_t t : request.preserved_tokens) {
    if (t < 0 || t >= c.vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("preserved token id ", t, " out of range"));
    }
  }
  for (const auto& [token, bias] : request.sampling.logit_bias) {
    if (token >= c.vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("logit_bias token id ", token, " out of range"));
    }
  }
  std::unique_ptr<grammar::Matcher> matcher;
  if (request.constraint.active()) {
    ASSIGN_OR_RETURN(std::shared_ptr<const grammar::Grammar> g,
                     grammar::CompileConstraint(request.constraint));
    matcher = std::make_unique<grammar::Matcher>(std::move(g));
    if (request.constraint_replay < 0 || request.constraint_replay > n) {
      return absl::InvalidArgumentError("constraint_replay is out of range");
    }
    for (int64_t i = n - request.constraint_replay; i < n; ++i) {
      if (!matcher->Advance(tokenizer_->TokenToPiece(request.prompt[i]))) {
        return absl::InvalidArgumentError(
            "the tokens generated before do not follow the output constraint");
      }
    }
  } else if (request.constraint_replay != 0) {
    return absl::InvalidArgumentError("constraint_replay without a constraint");
  }
  const int64_t blocks_needed = (n + 1 + options_.block_size - 1) / options_.block_size;
  if (blocks_needed > options_.num_kv_blocks) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "prompt needs ", blocks_needed, " KV blocks; the cache has ",
        options_.num_kv_blocks));
  }
  auto seq = std::make_unique<Sequence>(std::move(request), tokenizer_, cache_.get());
  seq->matcher = std::move(matcher);
  seq->forks_pending = seq->req.n - 1;
  absl::MutexLock lock(&mu_);
  if (!live_ids_.emplace(seq->req.id, seq->req.n).second) {
    return absl::AlreadyExistsError(
        absl::StrCat("request id '", seq->req.id, "' is already in use"));
  }
  inbox_.push_back(std::move(seq));
  return absl::OkStatus();
}

void Engine::Cancel(const std::string& id) {
  absl::MutexLock lock(&mu_);
  cancels_.push_back(id);
}

bool Engine::HasWork() const {
  absl::MutexLock lock(&mu_);
  return !waiting_.empty() || !running_.empty() || !inbox_.empty() ||
         !cancels_.empty() || !orphans_.empty() || !remote_done_.empty() ||
         !history_done_.empty();
}

std::vector<kv::BlockEvent> Engine::DrainKvEvents() {
  absl::MutexLock lock(&mu_);
  std::vector<kv::BlockEvent> out(kv_events_.begin(), kv_events_.end());
  kv_events_.clear();
  return out;
}

void Engine::CollectKvEvents() {
  std::vector<kv::BlockEvent> events = cache_->DrainEvents();
  absl::MutexLock lock(&mu_);
  for (const kv::BlockEvent& e : events) kv_events_.push_back(e);
  while (static_cast<int64_t>(kv_events_.size()) > options_.max_kv_events) {
    kv_events_.pop_front();
    ++counters_.kv_events_dropped;
  }
}

bool Engine::Busy(const Sequence& seq) {
  return seq.remote_pending || seq.history_pending;
}

bool Engine::StartHistoryFetch(Sequence* seq) {
  if (!options_.history_fetch || seq->history_tried || seq->done) return false;
  seq->history_tried = true;
  const int bs = options_.block_size;
  // Whole prompt blocks only, and never the last prompt token (its logits
  // are needed); blocks already attached from the local cache are skipped.
  const int64_t first = seq->computed / bs;
  const int64_t last = (seq->num_prompt - 1) / bs;
  if (seq->computed % bs != 0 || last <= first) return false;
  if (!seq->kv.Reserve(last * bs).ok()) return false;
  HistoryFetchJob job;
  job.request_id = seq->req.id;
  const std::vector<kv::BlockHash> hashes = kv::KvCache::ChainHashes(seq->tokens, bs, last);
  job.chain.assign(hashes.begin() + first, hashes.end());
  job.blocks.assign(seq->kv.blocks().begin() + first, seq->kv.blocks().begin() + last);
  seq->history_pending = true;
  options_.history_fetch(
      std::move(job), [this, id = seq->req.id](absl::StatusOr<int64_t> blocks) {
        absl::MutexLock lock(&mu_);
        history_done_.emplace_back(id, std::move(blocks));
      });
  return true;
}

Engine::Sequence* Engine::TakeAsyncResult(const std::string& id, bool Sequence::*pending) {
  auto orphan = std::find_if(orphans_.begin(), orphans_.end(),
                             [&](const auto& s) { return s->req.id == id; });
  if (orphan != orphans_.end()) {
    orphans_.erase(orphan);  // cancelled while busy: its blocks are released now
    return nullptr;
  }
  auto it = std::find_if(running_.begin(), running_.end(),
                         [&](const auto& s) { return s->req.id == id && (*s).*pending; });
  if (it == running_.end()) return nullptr;
  (**it).*pending = false;
  return it->get();
}

void Engine::ApplyHistoryFetches() {
  std::vector<std::pair<std::string, absl::StatusOr<int64_t>>> done;
  {
    absl::MutexLock lock(&mu_);
    done.swap(history_done_);
  }
  for (auto& [id, blocks] : done) {
    Sequence* seq = TakeAsyncResult(id, &Sequence::history_pending);
    if (seq == nullptr) continue;
    const int bs = options_.block_size;
    const int64_t fetchable = (seq->num_prompt - 1) / bs - seq->computed / bs;
    if (!blocks.ok() || *blocks < 0 || *blocks > fetchable) {
      // Compute the prompt instead; the reserved blocks get overwritten.
      ++counters_.history_fetch_failures;
    } else if (*blocks > 0) {
      const int64_t tokens = *blocks * bs;
      seq->computed += tokens;
      seq->cached_prompt_tokens += tokens;
      counters_.history_fetched_tokens += tokens;
      seq->kv.Commit(seq->tokens, seq->computed);
    }
    StartRemotePrefill(seq);
  }
}

void Engine::StoreHistory(Sequence* seq) {
  if (!options_.history_store || Busy(*seq)) return;
  const std::vector<kv::BlockHash>& hashes = seq->kv.block_hashes();
  if (hashes.empty()) return;
  HistoryStoreJob job;
  job.request_id = seq->req.id;
  job.hashes = hashes;
  job.blocks.assign(seq->kv.blocks().begin(),
                    seq->kv.blocks().begin() + static_cast<int64_t>(hashes.size()));
  for (kv::BlockId b : job.blocks) cache_->AddRef(b);
  ++counters_.history_store_jobs;
  std::vector<kv::BlockId> held = job.blocks;
  options_.history_store(std::move(job),
                         [cache = cache_.get(), held = std::move(held)] {
                           for (kv::BlockId b : held) cache->Release(b);
                         });
}

bool Engine::StartRemotePrefill(Sequence* seq) {
  if (!options_.remote_prefill || seq->req.prefill_address.empty() ||
      seq->remote_tried || seq->pending() < 2) {
    return false;
  }
  seq->remote_tried = true;
  if (!seq->kv.Reserve(static_cast<int64_t>(seq->tokens.size())).ok()) {
    return false;  // no room for the whole prompt now: prefill here in chunks
  }
  RemotePrefillJob job;
  job.request_id = seq->req.id;
  job.prefill_address = seq->req.prefill_address;
  job.tokens = seq->tokens;
  job.blocks = seq->kv.blocks();
  job.skip_tokens = seq->computed;
  seq->remote_pending = true;
  seq->remote_skip = seq->computed;
  options_.remote_prefill(
      std::move(job), [this, id = seq->req.id](
                          absl::StatusOr<std::vector<float>> logits) {
        absl::MutexLock lock(&mu_);
        remote_done_.emplace_back(id, std::move(logits));
      });
  return true;
}

void Engine::ApplyRemotePrefills(std::vector<TokenOutput>* out) {
  std::vector<std::pair<std::string, absl::StatusOr<std::vector<float>>>> done;
  {
    absl::MutexLock lock(&mu_);
    done.swap(remote_done_);
  }
  for (auto& [id, logits] : done) {
    Sequence* seq = TakeAsyncResult(id, &Sequence::remote_pending);
    if (seq == nullptr) continue;
    if (!logits.ok() ||
        static_cast<int64_t>(logits->size()) != model_->config().vocab_size) {
      // Fall back to prefilling here; whatever the prefill node wrote past
      // the cached prefix is overwritten.
      ++counters_.remote_prefill_failures;
      continue;
    }
    counters_.remote_prefill_tokens +=
        static_cast<int64_t>(seq->tokens.size()) - seq->remote_skip;
    seq->computed = static_cast<int64_t>(seq->tokens.size());
    seq->kv.Commit(seq->tokens, seq->computed);
    Sample(seq, logits->data(), out);
  }
}

EngineStats Engine::stats() const {
  absl::MutexLock lock(&mu_);
  return published_;
}

void Engine::DrainInbox(std::vector<TokenOutput>* out) {
  std::vector<std::unique_ptr<Sequence>> added;
  std::vector<std::string> cancels;
  {
    absl::MutexLock lock(&mu_);
    added.swap(inbox_);
    cancels.swap(cancels_);
  }
  for (auto& s : added) waiting_.push_back(std::move(s));
  if (cancels.empty()) return;
  auto cancel_in = [&](auto& list) {
    for (auto it = list.begin(); it != list.end();) {
      if (std::find(cancels.begin(), cancels.end(), (*it)->req.id) != cancels.end()) {
        Finish(it->get(), FinishReason::kCancelled, out, nullptr);
        if (Busy(**it)) orphans_.push_back(std::move(*it));
        it = list.erase(it);
      } else {
        ++it;
      }
    }
  };
  cancel_in(waiting_);
  cancel_in(running_);
}

void Engine::Finish(Sequence* seq, FinishReason reason,
                    std::vector<TokenOutput>* out, TokenOutput* last) {
  TokenOutput o;
  if (last != nullptr) o = std::move(*last);
  o.request_id = seq->req.id;
  o.index = seq->index;
  o.finish = reason;
  if (reason == FinishReason::kLength) {
    // Text held back for a possible stop string or an unfinished UTF-8
    // character is final now.
    o.text += seq->stop.Consume(seq->decoder.Flush()).text;
    o.text += seq->stop.Flush();
  }
  o.prompt_tokens = seq->num_prompt;
  o.cached_prompt_tokens = seq->cached_prompt_tokens;
  o.completion_tokens = seq->generated();
  // Choices not forked yet (the prompt never completed) end with this one.
  const int unforked = seq->forks_pending;
  seq->forks_pending = 0;
  seq->done = true;
  // Blocks a prefill node may still be writing stay reserved (see orphans_).
  if (!Busy(*seq)) {
    if (reason != FinishReason::kError) StoreHistory(seq);
    seq->kv.Clear();
  }
  bool request_done;
  {
    absl::MutexLock lock(&mu_);
    auto it = live_ids_.find(seq->req.id);
    request_done = it == live_ids_.end() || (it->second -= 1 + unforked) <= 0;
    if (request_done && it != live_ids_.end()) live_ids_.erase(it);
  }
  for (int i = 0; i <= unforked; ++i) {
    TokenOutput c;
    if (i == unforked) {
      c = std::move(o);
    } else {
      c.request_id = o.request_id;
      c.index = seq->index + 1 + i;
      c.finish = reason;
      c.error = o.error;
      c.prompt_tokens = o.prompt_tokens;
      c.cached_prompt_tokens = o.cached_prompt_tokens;
    }
    c.request_done = request_done && i == unforked;
    out->push_back(std::move(c));
  }
}

bool Engine::Admit(Sequence* seq) {
  if (seq->computed == 0 && seq->kv.num_tokens() == 0) {
    const int64_t cached = seq->kv.AttachCachedPrefix(seq->tokens);
    seq->computed = cached;
    if (!seq->admitted_once) {
      seq->cached_prompt_tokens = std::min(cached, seq->num_prompt);
      counters_.prefix_cached_tokens += seq->cached_prompt_tokens;
    }
  }
  seq->admitted_once = true;
  return true;
}

void Engine::Preempt(Sequence* seq) {
  seq->kv.Clear();
  seq->computed = 0;
  ++counters_.preemptions;
}

const grammar::TokenTrie& Engine::Trie() {
  if (trie_ == nullptr) {
    // End-of-generation and control tokens stay out of the trie: the mask
    // allows end of generation separately, only when the output is complete.
    std::vector<std::string> bytes(tokenizer_->vocab_size());
    for (int32_t id = 0; id < tokenizer_->vocab_size(); ++id) {
      if (tokenizer_->IsEog(id)) {
        eog_ids_.push_back(id);
      } else if (!tokenizer_->IsControl(id)) {
        bytes[id] = tokenizer_->TokenToPiece(id);
      }
    }
    trie_ = std::make_unique<grammar::TokenTrie>(bytes);
  }
  return *trie_;
}

bool Engine::ApplyConstraint(Sequence* seq, absl::Span<float> row) {
  const grammar::TokenTrie& trie = Trie();
  ++counters_.constrained_tokens;
  return grammar::ApplyLogitMask(*seq->matcher, trie, eog_ids_, !seq->req.ignore_eos, row,
                                 &mask_bits_);
}

void Engine::Sample(Sequence* seq, const float* logits, std::vector<TokenOutput>* out) {
  if (seq->forks_pending == 0) return SampleOne(seq, logits, out);
  std::vector<Sequence*> choices = Fork(seq);
  SampleOne(seq, logits, out);
  for (Sequence* c : choices) SampleOne(c, logits, out);
}

std::vector<Engine::Sequence*> Engine::Fork(Sequence* seq) {
  const int n = seq->forks_pending;
  seq->forks_pending = 0;
  std::vector<Sequence*> forked;
  for (int i = 1; i <= n; ++i) {
    GenerationRequest r = seq->req;
    r.sampling.seed = seq->req.sampling.seed + static_cast<uint64_t>(i);
    auto child = std::make_unique<Sequence>(std::move(r), tokenizer_, cache_.get());
    child->index = seq->index + i;
    child->tokens = seq->tokens;
    child->admitted_once = child->remote_tried = child->history_tried = true;
    child->cached_prompt_tokens = seq->cached_prompt_tokens;
    // No output generated yet: the matcher is still at the prompt's end.
    if (seq->matcher != nullptr) {
      child->matcher = std::make_unique<grammar::Matcher>(*seq->matcher);
    }
    if (child->kv.ForkFrom(seq->kv, seq->computed).ok()) {
      child->computed = seq->computed;
      ++counters_.forked_choices;
      forked.push_back(child.get());
      running_.push_back(std::move(child));
    } else {
      // No block for the copy of the partial last block: the choice waits
      // and computes its prompt itself (as a preempted sequence does).
      waiting_.push_back(std::move(child));
    }
  }
  return forked;
}

void Engine::SampleOne(Sequence* seq, const float* logits,
                       std::vector<TokenOutput>* out) {
  const model::ModelConfig& c = model_->config();
  std::vector<float> row(logits, logits + c.vocab_size);
  if (seq->matcher != nullptr && !ApplyConstraint(seq, absl::MakeSpan(row))) {
    TokenOutput o;
    o.error = seq->matcher->status().ok()
                  ? "no token of the vocabulary continues the constrained output"
                  : std::string(seq->matcher->status().message());
    Finish(seq, FinishReason::kError, out, &o);
    return;
  }
  sampling::Sampler::Result r =
      seq->sampler.Sample(absl::MakeSpan(row), seq->generated_tokens());
  seq->tokens.push_back(r.token);
  TokenOutput o;
  o.token = r.token;
  o.logprob = r.logprob;
  o.top_logprobs = std::move(r.top_logprobs);

  const bool eos = !seq->req.ignore_eos && tokenizer_->IsEog(r.token);
  const bool stop_token =
      std::find(seq->req.stop_token_ids.begin(), seq->req.stop_token_ids.end(),
                r.token) != seq->req.stop_token_ids.end();
  if (eos || stop_token) {
    // The end token itself is not text; what was held back is final.
    o.text = seq->stop.Consume(seq->decoder.Flush()).text + seq->stop.Flush();
    Finish(seq, FinishReason::kStop, out, &o);
    return;
  }
  // A complete constrained output that cannot continue ends here.
  bool constraint_done = false;
  if (seq->matcher != nullptr) {
    // The mask allowed only tokens the matcher accepts.
    seq->matcher->Advance(tokenizer_->TokenToPiece(r.token));
    constraint_done = seq->matcher->IsComplete() && !seq->matcher->CanContinue();
  }
  sampling::StopMatcher::Result sr = seq->stop.Consume(seq->decoder.Push(r.token));
  o.text = std::move(sr.text);
  if (sr.stopped) {
    Finish(seq, FinishReason::kStop, out, &o);
    return;
  }
  if (constraint_done) {
    o.text += seq->stop.Consume(seq->decoder.Flush()).text + seq->stop.Flush();
    Finish(seq, FinishReason::kStop, out, &o);
    return;
  }
  if (seq->generated() >= seq->req.max_tokens ||
      static_cast<int64_t>(seq->tokens.size()) >= c.context_length) {
    Finish(seq, FinishReason::kLength, out, &o);
    return;
  }
  o.request_id = seq->req.id;
  o.index = seq->index;
  out->push_back(std::move(o));
}

std::vector<TokenOutput> Engine::Step() {
  std::vector<TokenOutput> out;
  DrainInbox(&out);
  ApplyRemotePrefills(&out);
  ApplyHistoryFetches();

  // Admit waiting sequences while there is room in the running set.
  // A request with n choices is admitted when all of them fit (they fork
  // from its prompt), or alone.
  while (!waiting_.empty() &&
         (running_.empty() || static_cast<int>(running_.size()) + 1 +
                                      waiting_.front()->forks_pending <=
                                  options_.max_running)) {
    Admit(waiting_.front().get());
    // A history fetch first; the remote prefill (if any) starts when it
    // reports, so it only computes what history did not have.
    if (!StartHistoryFetch(waiting_.front().get())) {
      StartRemotePrefill(waiting_.front().get());
    }
    running_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }

  // Plan the batch: decodes (pending == 1) first, then prompt chunks, in
  // admission order, within the token budget. Blocks are reserved as we go;
  // when the cache is full the newest running sequence is preempted.
  struct Planned {
    Sequence* seq;
    int64_t count;
  };
  std::vector<Planned> plan;
  int64_t budget = options_.max_batch_tokens;
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < running_.size(); ++i) {
      Sequence* seq = running_[i].get();
      if (Busy(*seq) || seq->done) continue;
      const bool decode = seq->pending() == 1 && seq->computed > 0;
      if ((pass == 0) != decode || budget == 0) continue;
      const int64_t count = std::min(seq->pending(), budget);
      absl::Status st = seq->kv.Reserve(seq->computed + count);
      while (!st.ok()) {
        // Free the newest other sequence's blocks and queue it for
        // recompute (never one whose blocks a prefill node is writing).
        size_t v = running_.size();
        while (v > i + 1 && Busy(*running_[v - 1])) --v;
        if (v <= i + 1) break;
        Sequence* victim = running_[v - 1].get();
        plan.erase(std::remove_if(plan.begin(), plan.end(),
                                  [&](const Planned& p) {
                                    if (p.seq == victim) budget += p.count;
                                    return p.seq == victim;
                                  }),
                   plan.end());
        Preempt(victim);
        waiting_.push_front(std::move(running_[v - 1]));
        running_.erase(running_.begin() + (v - 1));
        st = seq->kv.Reserve(seq->computed + count);
      }
      if (!st.ok()) {
        // Even alone this sequence does not fit now: wait for blocks held
        // by finished-but-cached prefixes to be evicted on a later step, or
        // by other requests to finish.
        if (running_.size() == 1 && plan.empty()) {
          TokenOutput o;
          o.error = std::string(st.message());
          Finish(seq, FinishReason::kError, &out, &o);
        }
        break;
      }
      plan.push_back({seq, count});
      budget -= count;
    }
  }

  if (!plan.empty()) {
    std::vector<model::SequenceBatch> batch;
    batch.reserve(plan.size());
    for (const Planned& p : plan) {
      model::SequenceBatch b;
      b.tokens = absl::MakeConstSpan(p.seq->tokens).subspan(p.seq->computed, p.count);
      b.start_pos = p.seq->computed;
      b.kv = &p.seq->kv;
      b.sparse = options_.sparse_attention;
      if (p.seq->req.sparse_budget.has_value()) {
        b.sparse.budget_tokens = *p.seq->req.sparse_budget;
      }
      batch.push_back(b);
    }
    absl::StatusOr<std::vector<float>> logits =
        model_->Forward(batch, cache_.get(), pool_.get());
    const int64_t vocab = model_->config().vocab_size;
    for (size_t i = 0; i < plan.size(); ++i) {
      Sequence* seq = plan[i].seq;
      if (!logits.ok()) {
        TokenOutput o;
        o.error = std::string(logits.status().message());
        Finish(seq, FinishReason::kError, &out, &o);
        continue;
      }
      const bool was_decode = seq->pending() == 1 && seq->computed > 0;
      (was_decode ? counters_.decode_tokens_computed
                  : counters_.prompt_tokens_computed) += plan[i].count;
      seq->computed += plan[i].count;
      seq->kv.Commit(seq->tokens, seq->computed);
      if (seq->pending() == 0) Sample(seq, logits->data() + i * vocab, &out);
    }
  }
  running_.erase(std::remove_if(running_.begin(), running_.end(),
                                [](const auto& s) { return s->done; }),
                 running_.end());
  CollectKvEvents();
  ++counters_.steps;
  counters_.waiting = static_cast<int64_t>(waiting_.size());
  counters_.running = static_cast<int64_t>(running_.size());
  counters_.kv_blocks_available = cache_->NumAvailableBlocks();
  const bool runnable =
      !waiting_.empty() ||
      std::any_of(running_.begin(), running_.end(),
                  [](const auto& s) { return !Busy(*s); });
  absl::MutexLock lock(&mu_);
  published_ = counters_;
  runnable_ = runnable;
  return out;
}

bool Engine::ReadyLocked(Engine* e) {
  e->mu_.AssertHeld();
  return e->runnable_ || !e->inbox_.empty() || !e->cancels_.empty() ||
         !e->remote_done_.empty() || !e->history_done_.empty();
}

void Engine::WaitForWork(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&Engine::ReadyLocked, this), timeout);
}

}  // namespace triptych::engine
