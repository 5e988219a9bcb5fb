#include "services/gateway/gateway_core.h"

#include <cstdio>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "runtime/grammar/json_schema.h"
#include "runtime/tool_calls/tool_format.h"
#include "services/gateway/openai_response.h"
#include "services/gateway/retrieval.h"

namespace triptych::gateway {
namespace {

using nlohmann::json;

// nginx's "client closed request": what a cancelled-by-disconnect request is
// counted as.
constexpr int kClientClosed = 499;

const char* MetricEndpoint(Endpoint endpoint) {
  return endpoint == Endpoint::kChat ? "/v1/chat/completions" : "/v1/completions";
}

http::Response ErrorResponse(const ApiError& error) {
  return http::Response::Json(error.http_status, error.body);
}

uint64_t RandomSeed() {
  static absl::Mutex mu(absl::kConstInit);
  static absl::BitGen* gen = new absl::BitGen();
  absl::MutexLock lock(&mu);
  return absl::Uniform<uint64_t>(*gen);
}

}  // namespace

// One generation request in flight: receives backend events (one at a time,
// on a backend thread) and answers the HTTP request. OnDisconnect runs on
// an HTTP I/O thread.
class GatewayCore::Call : public std::enable_shared_from_this<Call> {
 public:
  Call(GatewayCore* core, const ParsedRequest& request, std::string id, json sources,
       std::shared_ptr<http::Responder> responder, absl::Time arrival)
      : core_(core),
        endpoint_(request.endpoint),
        stream_(request.stream),
        include_usage_(request.include_usage),
        responder_(std::move(responder)),
        arrival_(arrival),
        builder_(request.endpoint, std::move(id), absl::ToUnixSeconds(arrival),
                 core->options_.served_model_name, request.sampling.logprobs,
                 &core->model_->tokenizer(), static_cast<int>(request.n)),
        choice_finished_(static_cast<size_t>(request.n), false) {
    builder_.SetSources(std::move(sources));
    const tool_calls::ToolFormat format = core->model_->tool_format();
    if (request.endpoint == Endpoint::kChat &&
        (request.tools.active() || tool_calls::ParsesWithoutTools(format))) {
      builder_.EnableToolCalls(format, request.tools.parallel,
                               /*return_calls=*/request.tools.active(),
                               core->ConstrainedCallHeader(request));
    }
  }

  // The per-key admission this call holds until it finishes.
  void SetGrant(KeyGrant grant) { grant_ = std::move(grant); }

  void SetHandle(std::unique_ptr<GenerationHandle> handle) {
    bool cancel;
    {
      absl::MutexLock lock(&mu_);
      handle_ = std::move(handle);
      cancel = (disconnected_ || cancel_requested_) && !finished_;
    }
    if (cancel) handle_->Cancel();
  }

  void OnDisconnect() {
    GenerationHandle* handle = nullptr;
    {
      absl::MutexLock lock(&mu_);
      disconnected_ = true;
      if (!finished_) handle = handle_.get();
    }
    // The handle lives as long as this Call; Cancel is idempotent.
    if (handle != nullptr) handle->Cancel();
  }

  void OnEvent(const BackendEvent& event) {
    const absl::Time now = absl::Now();
    if (!event.tokens.empty()) {
      if (first_token_ == absl::InfinitePast()) {
        first_token_ = now;
        core_->metrics_.ttft->Observe(absl::ToDoubleSeconds(now - arrival_));
      } else {
        core_->metrics_.itl->Observe(absl::ToDoubleSeconds(now - last_token_));
      }
      last_token_ = now;
    }
    if (event.index < 0 || event.index >= static_cast<int>(choice_finished_.size()) ||
        choice_finished_[event.index] || responder_ == nullptr) {
      return;  // not a choice of this request, or one that already ended
    }
    const bool choice_done = event.finish != FinishReason::kNone;
    if (choice_done) {
      choice_finished_[event.index] = true;
      ++choices_done_;
      // Usage of the request: the prompt once, every choice's tokens.
      if (choices_done_ == 1) {
        usage_.prompt_tokens = event.usage.prompt_tokens;
        usage_.cached_tokens = event.usage.cached_tokens;
      }
      usage_.completion_tokens += event.usage.completion_tokens;
      if (event.finish == FinishReason::kError && !failed_) {
        failed_ = true;
        error_ = ErrorStatus(event);
        CancelOthers();  // one failed choice fails the request
      }
    }
    const bool finished = choices_done_ == static_cast<int>(choice_finished_.size());
    BackendEvent e = event;
    e.usage = usage_;
    if (finished && failed_) {
      e.finish = FinishReason::kError;
      e.error = error_;
    }
    if (finished) Settle(e, now);
    if (stream_) {
      Stream(event, finished, e);
    } else if (!finished) {
      builder_.Append(event);
    } else if (failed_) {
      status_ = ErrorFromStatus(error_).http_status;
      responder_->Respond(ErrorResponse(ErrorFromStatus(error_)));
    } else {
      builder_.Append(event);
      http::Response response = http::Response::Json(200, builder_.Final(event.finish, usage_));
      response.headers.emplace_back("X-Request-Id", builder_.id());
      responder_->Respond(std::move(response));
    }
    if (finished) Finish(e, now);
  }

 private:
  static absl::Status ErrorStatus(const BackendEvent& event) {
    return event.error.ok() ? absl::InternalError("generation failed") : event.error;
  }

  // Sends `event` (one choice's step) of a stream; `finished`: the request
  // is over, `last` its final event (the request's usage).
  void Stream(const BackendEvent& event, bool finished, const BackendEvent& last) {
    if (error_responded_ || stream_error_sent_) {
      // The other choices of a failed request end (cancelled) unseen.
      if (finished && writer_ != nullptr) {
        writer_->Write(ResponseBuilder::Done());
        writer_->Close();
      }
      return;
    }
    if (writer_ == nullptr) {
      if (event.finish == FinishReason::kError) {
        // Nothing sent yet: a real HTTP error status is still possible
        // (the other choices, cancelled, end without a word).
        const ApiError error = ErrorFromStatus(ErrorStatus(event));
        status_ = error.http_status;
        responder_->Respond(ErrorResponse(error));
        error_responded_ = true;
        return;
      }
      writer_ = responder_->StartStream(
          200, "text/event-stream",
          {{"Cache-Control", "no-cache"}, {"X-Request-Id", builder_.id()}});
    }
    if (event.finish == FinishReason::kError) {
      const ApiError error = ErrorFromStatus(ErrorStatus(event));
      status_ = error.http_status;
      writer_->Write(ResponseBuilder::ErrorEvent(error));
      stream_error_sent_ = true;
    } else {
      writer_->Write(builder_.Chunk(event, include_usage_));
      if (finished && include_usage_ && !failed_) {
        writer_->Write(builder_.UsageChunk(last.usage));
      }
    }
    if (finished) {
      writer_->Write(ResponseBuilder::Done());
      writer_->Close();
    }
  }

  void CancelOthers() {
    GenerationHandle* handle;
    {
      absl::MutexLock lock(&mu_);
      cancel_requested_ = true;  // for SetHandle, when the handle comes later
      handle = handle_.get();
    }
    if (handle != nullptr) handle->Cancel();
  }

  // The request's accounting, done before the client sees its end: the
  // in-flight slot, the key's token refund and the metrics (a client that
  // acts on the response finds them already updated).
  void Settle(const BackendEvent& event, absl::Time now) {
    bool disconnected;
    {
      absl::MutexLock lock(&mu_);
      finished_ = true;
      disconnected = disconnected_;
    }
    // The status the response below will carry.
    if (failed_) status_ = ErrorFromStatus(error_).http_status;
    if (event.finish == FinishReason::kCancelled && disconnected) status_ = kClientClosed;
    core_->metrics_.in_flight->Add(-1);
    core_->in_flight_.fetch_sub(1);
    core_->limiter_.Release(grant_, static_cast<int64_t>(event.usage.completion_tokens), now);
    GatewayMetrics& m = core_->metrics_;
    m.CountRequest(MetricEndpoint(endpoint_), status_);
    const Usage& u = event.usage;
    m.prompt_tokens->Increment(static_cast<double>(u.prompt_tokens));
    m.completion_tokens->Increment(static_cast<double>(u.completion_tokens));
    m.cached_tokens->Increment(static_cast<double>(u.cached_tokens));
    if (status_ == 200) {
      m.e2e->Observe(absl::ToDoubleSeconds(now - arrival_));
      if (u.completion_tokens > 1 && first_token_ != absl::InfinitePast()) {
        m.tpot->Observe(absl::ToDoubleSeconds(now - first_token_) /
                        static_cast<double>(u.completion_tokens - 1));
      }
    }
  }

  // After the response: the request log line; the responder is dropped.
  void Finish(const BackendEvent& event, absl::Time now) {
    const Usage& u = event.usage;
    if (core_->options_.log_requests) {
      json line = {{"ts", absl::FormatTime(absl::RFC3339_full, now, absl::UTCTimeZone())},
                   {"level", "info"},
                   {"msg", "request finished"},
                   {"request_id", builder_.id()},
                   {"endpoint", MetricEndpoint(endpoint_)},
                   {"status", status_},
                   {"finish_reason", FinishReasonString(event.finish)},
                   {"prompt_tokens", u.prompt_tokens},
                   {"completion_tokens", u.completion_tokens},
                   {"cached_tokens", u.cached_tokens},
                   {"e2e_ms", absl::ToDoubleMilliseconds(now - arrival_)}};
      std::fprintf(stderr, "%s\n", DumpJson(line).c_str());
    }
    // Drop the responder: its connection may serve the next request.
    writer_.reset();
    responder_.reset();
  }

  GatewayCore* const core_;
  const Endpoint endpoint_;
  const bool stream_;
  const bool include_usage_;
  const absl::Time arrival_;

  // Used by OnEvent only (one event at a time).
  std::shared_ptr<http::Responder> responder_;
  std::shared_ptr<http::StreamWriter> writer_;
  ResponseBuilder builder_;
  absl::Time first_token_ = absl::InfinitePast();
  absl::Time last_token_ = absl::InfinitePast();
  int status_ = 200;
  // Per choice: its final event arrived. The request is over when all have.
  std::vector<bool> choice_finished_;
  int choices_done_ = 0;
  Usage usage_;              // the request's: prompt once, all completions
  bool failed_ = false;      // a choice failed: the request fails
  absl::Status error_;       // that choice's error
  bool error_responded_ = false;    // an HTTP error answered the stream
  bool stream_error_sent_ = false;  // an error event went into the stream

  KeyGrant grant_;  // set before the backend starts; read in Finish
  absl::Mutex mu_;
  std::unique_ptr<GenerationHandle> handle_ ABSL_GUARDED_BY(mu_);
  bool disconnected_ ABSL_GUARDED_BY(mu_) = false;
  bool cancel_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

GatewayCore::GatewayCore(CoreOptions options, const ModelInfo* model,
                         GenerationBackend* backend, metrics::Registry* registry,
                         RetrievalBackend* retrieval)
    : options_(std::move(options)),
      model_(model),
      backend_(backend),
      retrieval_(retrieval),
      metrics_(registry),
      created_(absl::ToUnixSeconds(absl::Now())),
      limiter_(options_.key_limit_default, options_.key_limits) {
  if (retrieval_ != nullptr) {
    vector_stores_ = std::make_unique<VectorStoreApi>(
        retrieval_, &metrics_, [this](const http::Request& r) { return Authorize(r); });
  }
}

void GatewayCore::RegisterRoutes(http::Server* server) {
  server->HandleAsync("POST", "/v1/chat/completions",
                      [this](http::Request r, std::shared_ptr<http::Responder> responder) {
                        HandleGenerate(Endpoint::kChat, std::move(r), std::move(responder));
                      });
  server->HandleAsync("POST", "/v1/completions",
                      [this](http::Request r, std::shared_ptr<http::Responder> responder) {
                        HandleGenerate(Endpoint::kCompletions, std::move(r),
                                       std::move(responder));
                      });
  server->Handle("GET", "/v1/models", [this](const http::Request& r) { return HandleModels(r); });
  server->HandlePrefix("GET", "/v1/models/",
                       [this](const http::Request& r) { return HandleModels(r); });
  if (vector_stores_ != nullptr) vector_stores_->RegisterRoutes(server);
}

std::string GatewayCore::KeyOf(const http::Request& request) {
  const std::string header = request.Header("authorization").value_or("");
  if (header.size() > 7 && absl::StartsWithIgnoreCase(header, "bearer ")) return header.substr(7);
  return std::string();
}

std::optional<ApiError> GatewayCore::Authorize(const http::Request& request) const {
  if (options_.api_keys.empty()) return std::nullopt;
  const std::string header = request.Header("authorization").value_or("");
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() > kBearer.size() && absl::StartsWithIgnoreCase(header, "bearer ")) {
    const std::string key = header.substr(kBearer.size());
    for (const std::string& k : options_.api_keys) {
      if (k == key) return std::nullopt;
    }
  }
  return MakeError(401,
                   header.empty() ? "You didn't provide an API key (Authorization: Bearer ...)."
                                  : "Incorrect API key provided.",
                   "invalid_request_error", "", "invalid_api_key");
}

void GatewayCore::Reject(Endpoint endpoint, const ApiError& error, http::Responder* responder) {
  metrics_.CountRequest(MetricEndpoint(endpoint), error.http_status);
  responder->Respond(ErrorResponse(error));
}

http::Response GatewayCore::HandleModels(const http::Request& request) const {
  if (auto error = Authorize(request)) {
    return ErrorResponse(*error);
  }
  json model = {{"id", options_.served_model_name},
                {"object", "model"},
                {"created", created_},
                {"owned_by", "triptych"},
                {"max_model_len", model_->context_length()}};
  const std::string prefix = "/v1/models/";
  if (absl::StartsWith(request.path, prefix)) {
    if (request.path.substr(prefix.size()) != options_.served_model_name) {
      return ErrorResponse(MakeError(404, absl::StrCat("The model '",
                                                       request.path.substr(prefix.size()),
                                                       "' does not exist"),
                                     "invalid_request_error", "model", "model_not_found"));
    }
    return http::Response::Json(200, DumpJson(model));
  }
  return http::Response::Json(
      200, DumpJson(json{{"object", "list"}, {"data", json::array({std::move(model)})}}));
}

absl::StatusOr<BackendRequest> GatewayCore::BuildBackendRequest(
    const ParsedRequest& request, const std::string& request_id) const {
  if (request.model != options_.served_model_name) {
    absl::Status s = absl::NotFoundError(
        absl::StrCat("The model '", request.model, "' does not exist; this server serves '",
                     options_.served_model_name, "'"));
    return s;
  }
  const tokenizer::Tokenizer& tok = model_->tokenizer();
  BackendRequest out;
  out.request_id = request_id;
  const char* prompt_param = request.endpoint == Endpoint::kChat ? "messages" : "prompt";
  if (request.endpoint == Endpoint::kChat) {
    RETURN_IF_ERROR(CheckToolSupport(request.tools));
    // gpt-oss under tool_choice required / named: the call's header is
    // control tokens, which the grammar's mask never offers, so it ends the
    // prompt (the server's own text, its control tokens parsed; the name is
    // a checked tool name) and the output is the constrained arguments.
    absl::StatusOr<std::vector<int32_t>> ids =
        model_->EncodeChat(request.messages, request.tools.tools_json,
                           ConstrainedCallHeader(request));
    if (!ids.ok()) return InvalidParam("messages", std::string(ids.status().message()));
    out.prompt = std::move(ids).value();
    out.stop = model_->chat_stop_strings();
    out.preserved_tokens = model_->preserved_tokens();
  } else if (request.has_prompt_tokens) {
    for (int32_t id : request.prompt_tokens) {
      if (id >= tok.vocab_size()) {
        return InvalidParam("prompt", absl::StrCat("token id ", id, " is out of range (vocab size ",
                                                   tok.vocab_size(), ")"));
      }
    }
    out.prompt = request.prompt_tokens;
  } else {
    out.prompt = model_->EncodePrompt(request.prompt);
  }
  if (out.prompt.empty()) return InvalidParam(prompt_param, "the prompt is empty");
  for (int32_t id : request.stop_token_ids) {
    if (id >= tok.vocab_size()) {
      return InvalidParam("stop_token_ids", absl::StrCat("token id ", id, " is out of range"));
    }
  }

  const int64_t ctx = model_->context_length();
  const int64_t prompt_len = static_cast<int64_t>(out.prompt.size());
  if (prompt_len >= ctx) {
    return InvalidParam(prompt_param,
                        absl::StrCat("This model's maximum context length is ", ctx,
                                     " tokens. However, your prompt has ", prompt_len,
                                     " tokens, which leaves no room for the completion."));
  }
  const int64_t cap =
      options_.max_tokens_cap > 0 ? std::min(options_.max_tokens_cap, ctx) : ctx;
  if (request.max_tokens.has_value()) {
    const int64_t max = *request.max_tokens;
    if (max > cap) {
      return InvalidParam("max_tokens",
                          absl::StrCat("max_tokens is too large: ", max,
                                       ". This server allows at most ", cap,
                                       " completion tokens."));
    }
    if (prompt_len + max > ctx) {
      return InvalidParam(
          "max_tokens",
          absl::StrCat("This model's maximum context length is ", ctx,
                       " tokens. However, you requested ", prompt_len + max, " tokens (",
                       prompt_len, " in the prompt, ", max,
                       " for the completion). Please reduce the prompt or max_tokens."));
    }
    out.max_tokens = max;
  } else {
    int64_t max = std::min(cap, ctx - prompt_len);
    if (options_.default_max_tokens > 0) max = std::min(max, options_.default_max_tokens);
    out.max_tokens = max;
  }
  for (const auto& [id, bias] : request.sampling.logit_bias) {
    if (id >= tok.vocab_size()) {
      return InvalidParam("logit_bias", absl::StrCat("logit_bias token id ", id,
                                                     " is out of range (vocab size ",
                                                     tok.vocab_size(), ")"));
    }
  }
  if (request.constraint.active()) {
    // Compiled here for the 400 (unsupported features named); the sampling
    // engine compiles it again from the same text.
    absl::StatusOr<std::shared_ptr<const grammar::Grammar>> g =
        grammar::CompileConstraint(request.constraint);
    if (!g.ok()) {
      return InvalidParam("response_format",
                          absl::StrCat("response_format: ", g.status().message()));
    }
    out.constraint = request.constraint;
  }
  if (request.tools.constrained()) {
    ASSIGN_OR_RETURN(out.constraint, ToolConstraint(request));
  }
  if (request.n > options_.max_n) {
    return InvalidParam("n", absl::StrCat("n is too large: ", request.n,
                                          ". This server allows at most ", options_.max_n,
                                          " choices (--max-n)."));
  }
  out.n = static_cast<int>(request.n);
  out.sampling = request.sampling;
  if (!request.has_seed) out.sampling.seed = RandomSeed();
  out.stop.insert(out.stop.end(), request.stop.begin(), request.stop.end());
  out.stop_token_ids = request.stop_token_ids;
  out.ignore_eos = request.ignore_eos;
  out.sparse_attention_budget = request.sparse_attention_budget;
  return out;
}

absl::Status GatewayCore::CheckToolSupport(const ToolRequest& tools) const {
  if (!tools.active() || model_->tool_format() != tool_calls::ToolFormat::kNone) {
    return absl::OkStatus();
  }
  constexpr char kSupported[] =
      "supported: Hermes/Qwen <tool_call>, Llama 3.x JSON and <|python_tag|>, "
      "Mistral [TOOL_CALLS], DeepSeek R1, functionary v3.1 <function=> and "
      "v3.2 >>>, Command R+ Action: and R7B <|START_ACTION|>, gpt-oss harmony "
      "channels; tool_choice \"none\" still renders the tools";
  if (!model_->uses_jinja_template()) {
    return InvalidParam("tools", absl::StrCat("tool calling needs the model's own chat template, "
                                              "and this GGUF has none (pass --chat-template "
                                              "FILE to the gateway; ", kSupported, ")"));
  }
  return InvalidParam("tools", absl::StrCat("this model's chat template has no tool-call format "
                                            "this server recognises (",
                                            kSupported, ")"));
}

std::string GatewayCore::ConstrainedCallHeader(
    const ParsedRequest& request) const {
  if (!request.tools.constrained()) return "";
  std::optional<std::string> only;
  if (request.tools.choice == ToolChoice::kNamed)
    only = request.tools.choice_name;
  return tool_calls::ConstrainedCallHeader(model_->tool_format(),
                                           request.tools.defs, only);
}

absl::StatusOr<grammar::OutputConstraint> GatewayCore::ToolConstraint(
    const ParsedRequest& request) const {
  if (request.constraint.active()) {
    return InvalidParam("response_format",
                        "'response_format' cannot be combined with tool_choice \"required\" or a "
                        "named function");
  }
  const ToolRequest& tools = request.tools;
  std::optional<std::string> only;
  if (tools.choice == ToolChoice::kNamed) only = tools.choice_name;
  absl::StatusOr<grammar::OutputConstraint> c =
      tool_calls::ToolCallConstraint(model_->tool_format(), tools.defs, only);
  if (!c.ok()) return InvalidParam("tool_choice", std::string(c.status().message()));
  // Compiled here for the 400 (schema features the grammar cannot enforce
  // are named); the sampling engine compiles it again from the same text.
  absl::StatusOr<std::shared_ptr<const grammar::Grammar>> g = grammar::CompileConstraint(*c);
  if (!g.ok()) {
    return InvalidParam("tools", absl::StrCat("tool_choice \"",
                                              only.has_value() ? *only : std::string("required"),
                                              "\" needs the tools' parameters enforced, and: ",
                                              g.status().message()));
  }
  return c;
}

void GatewayCore::HandleGenerate(Endpoint endpoint, http::Request request,
                                 std::shared_ptr<http::Responder> responder) {
  const absl::Time arrival = absl::Now();
  if (auto error = Authorize(request)) {
    Reject(endpoint, *error, responder.get());
    return;
  }
  std::string key = KeyOf(request);
  absl::StatusOr<ParsedRequest> parsed = ParseRequest(endpoint, request.body);
  if (!parsed.ok()) {
    Reject(endpoint, ErrorFromStatus(parsed.status()), responder.get());
    return;
  }
  // (An unknown model is refused before any search.)
  if (parsed->retrieval.has_value() && parsed->model == options_.served_model_name) {
    if (retrieval_ == nullptr) {
      Reject(endpoint,
             ErrorFromStatus(InvalidParam(
                 "retrieval", "retrieval is not enabled on this server (start the gateway with "
                              "--local or --memory-address)")),
             responder.get());
      return;
    }
    absl::StatusOr<std::string> query = RetrievalQuery(parsed->messages, *parsed->retrieval);
    if (!query.ok()) {
      Reject(endpoint, ErrorFromStatus(query.status()), responder.get());
      return;
    }
    // The parsed request waits in the callback, which may run on a
    // retrieval backend thread.
    auto request = std::make_shared<ParsedRequest>(std::move(parsed).value());
    RetrievePassages(
        retrieval_, &metrics_, *request->retrieval, *query,
        [this, request, responder, arrival,
         key](absl::StatusOr<std::vector<RetrievedPassage>> passages) mutable {
          if (!passages.ok()) {
            Reject(request->endpoint, ErrorFromStatus(passages.status()), responder.get());
            return;
          }
          AddPassagesToMessages(*passages, &request->messages);
          StartGeneration(*request, SourcesJson(*passages), std::move(responder), arrival, key);
        });
    return;
  }
  StartGeneration(*parsed, nullptr, std::move(responder), arrival, key);
}

void GatewayCore::StartGeneration(const ParsedRequest& parsed, json sources,
                                  std::shared_ptr<http::Responder> responder,
                                  absl::Time arrival, const std::string& key) {
  const Endpoint endpoint = parsed.endpoint;
  const std::string id = NewResponseId(endpoint);
  absl::StatusOr<BackendRequest> backend_request = BuildBackendRequest(parsed, id);
  if (!backend_request.ok()) {
    ApiError error = ErrorFromStatus(backend_request.status());
    if (backend_request.status().code() == absl::StatusCode::kNotFound) {
      error = MakeError(404, std::string(backend_request.status().message()),
                        "invalid_request_error", "model", "model_not_found");
    }
    Reject(endpoint, error, responder.get());
    return;
  }
  if (options_.max_in_flight > 0 && in_flight_.load() >= options_.max_in_flight) {
    Reject(endpoint,
           MakeError(503, "The server is overloaded; retry later.", "service_unavailable", "",
                     "server_overloaded"),
           responder.get());
    return;
  }
  absl::StatusOr<KeyGrant> grant =
      limiter_.Acquire(key, static_cast<int64_t>(backend_request->prompt.size()),
                       backend_request->max_tokens * backend_request->n, absl::Now());
  if (!grant.ok()) {
    Reject(endpoint,
           MakeError(429, std::string(grant.status().message()), "requests", "",
                     "rate_limit_exceeded"),
           responder.get());
    return;
  }
  in_flight_.fetch_add(1);
  metrics_.in_flight->Add(1);

  auto call = std::make_shared<Call>(this, parsed, id, std::move(sources), responder, arrival);
  call->SetGrant(*std::move(grant));
  // A disconnect cancels the generation so its KV blocks are freed
  // everywhere. The weak_ptr keeps a finished Call from being held by the
  // connection.
  responder->OnDisconnect([weak = std::weak_ptr<Call>(call)] {
    if (auto c = weak.lock()) c->OnDisconnect();
  });
  responder.reset();
  std::unique_ptr<GenerationHandle> handle =
      backend_->Start(*backend_request, [call](const BackendEvent& event) { call->OnEvent(event); });
  call->SetHandle(std::move(handle));
}

}  // namespace triptych::gateway
