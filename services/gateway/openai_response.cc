#include "services/gateway/openai_response.h"

#include <algorithm>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"

namespace triptych::gateway {

using nlohmann::json;

const char* FinishReasonString(FinishReason reason) {
  switch (reason) {
    case FinishReason::kLength:
      return "length";
    case FinishReason::kError:
      return "error";
    default:
      return "stop";
  }
}

std::string DumpJson(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string NewResponseId(Endpoint endpoint) {
  static absl::Mutex mu(absl::kConstInit);
  static absl::BitGen* gen = new absl::BitGen();
  uint64_t a, b;
  {
    absl::MutexLock lock(&mu);
    a = absl::Uniform<uint64_t>(*gen);
    b = absl::Uniform<uint64_t>(*gen);
  }
  return absl::StrFormat("%s-%016x%08x", endpoint == Endpoint::kChat ? "chatcmpl" : "cmpl", a,
                         static_cast<uint32_t>(b));
}

ResponseBuilder::ResponseBuilder(Endpoint endpoint, std::string id, int64_t created,
                                 std::string model, bool logprobs,
                                 const tokenizer::Tokenizer* tokenizer, int n)
    : endpoint_(endpoint),
      id_(std::move(id)),
      created_(created),
      model_(std::move(model)),
      logprobs_(logprobs),
      tokenizer_(tokenizer),
      choices_(static_cast<size_t>(std::max(n, 1))) {}

std::string NewToolCallId(tool_calls::ToolFormat format) {
  static absl::Mutex mu(absl::kConstInit);
  static absl::BitGen* gen = new absl::BitGen();
  absl::MutexLock lock(&mu);
  if (format == tool_calls::ToolFormat::kMistral) {
    static constexpr char kAlnum[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    std::string id(9, 'a');
    for (char& c : id) c = kAlnum[absl::Uniform<size_t>(*gen, 0, sizeof(kAlnum) - 1)];
    return id;
  }
  return absl::StrFormat("call_%016x%08x", absl::Uniform<uint64_t>(*gen),
                         absl::Uniform<uint32_t>(*gen));
}

void ResponseBuilder::EnableToolCalls(tool_calls::ToolFormat format,
                                      bool parallel, bool return_calls,
                                      std::string output_prefix) {
  tool_format_ = format;
  parallel_tool_calls_ = parallel;
  tool_calls_ = true;
  return_calls_ = return_calls;
  output_prefix_ = std::move(output_prefix);
  for (Choice& c : choices_) {
    c.tool_stream = std::make_unique<tool_calls::ToolCallStream>(format);
    // A header alone decides nothing: the delta is empty.
    if (!output_prefix_.empty()) c.tool_stream->Push(output_prefix_);
  }
}

json ResponseBuilder::ToolCallJson(const tool_calls::ToolCall& call) const {
  return json{{"id", NewToolCallId(tool_format_)},
              {"type", "function"},
              {"function", {{"name", call.name}, {"arguments", call.arguments}}}};
}

void ResponseBuilder::Append(const BackendEvent& event) {
  if (event.index < 0 || event.index >= static_cast<int>(choices_.size())) return;
  Choice& c = choices_[event.index];
  c.text += event.text;
  if (logprobs_) c.logprobs.insert(c.logprobs.end(), event.logprobs.begin(), event.logprobs.end());
  if (event.finish != FinishReason::kNone) c.finish = event.finish;
}

json ResponseBuilder::Envelope(const char* object) const {
  return json{{"id", id_}, {"object", object}, {"created", created_}, {"model", model_}};
}

json ResponseBuilder::UsageJson(const Usage& usage) const {
  return json{{"prompt_tokens", usage.prompt_tokens},
              {"completion_tokens", usage.completion_tokens},
              {"total_tokens", usage.prompt_tokens + usage.completion_tokens},
              {"prompt_tokens_details", {{"cached_tokens", usage.cached_tokens}}}};
}

json ResponseBuilder::LogprobsJson(absl::Span<const TokenLogprob> items,
                                   int64_t text_offset) const {
  auto bytes_of = [](const std::string& piece) {
    json bytes = json::array();
    for (unsigned char c : piece) bytes.push_back(static_cast<int>(c));
    return bytes;
  };
  if (endpoint_ == Endpoint::kChat) {
    json content = json::array();
    for (const TokenLogprob& lp : items) {
      const std::string piece = tokenizer_->TokenToPiece(lp.token);
      json top = json::array();
      for (const auto& [token, logprob] : lp.top) {
        const std::string alt = tokenizer_->TokenToPiece(token);
        top.push_back({{"token", alt}, {"logprob", logprob}, {"bytes", bytes_of(alt)}});
      }
      content.push_back({{"token", piece},
                         {"logprob", lp.logprob},
                         {"bytes", bytes_of(piece)},
                         {"top_logprobs", std::move(top)}});
    }
    return json{{"content", std::move(content)}, {"refusal", nullptr}};
  }
  json tokens = json::array(), token_logprobs = json::array(), tops = json::array(),
       offsets = json::array();
  for (const TokenLogprob& lp : items) {
    const std::string piece = tokenizer_->TokenToPiece(lp.token);
    tokens.push_back(piece);
    token_logprobs.push_back(lp.logprob);
    json top = json::object();
    for (const auto& [token, logprob] : lp.top) top[tokenizer_->TokenToPiece(token)] = logprob;
    tops.push_back(std::move(top));
    offsets.push_back(text_offset);
    text_offset += static_cast<int64_t>(piece.size());
  }
  return json{{"tokens", std::move(tokens)},
              {"token_logprobs", std::move(token_logprobs)},
              {"top_logprobs", std::move(tops)},
              {"text_offset", std::move(offsets)}};
}

std::string ResponseBuilder::Final(FinishReason finish, const Usage& usage) const {
  const bool chat = endpoint_ == Endpoint::kChat;
  json choices = json::array();
  for (size_t i = 0; i < choices_.size(); ++i) {
    const Choice& c = choices_[i];
    const FinishReason f = c.finish == FinishReason::kNone ? finish : c.finish;
    json choice = {{"index", i},
                   {"logprobs", logprobs_ ? LogprobsJson(c.logprobs, 0) : json(nullptr)},
                   {"finish_reason", FinishReasonString(f)}};
    if (chat && tool_calls_ && f != FinishReason::kError) {
      tool_calls::ParsedOutput parsed =
          tool_calls::ParseToolCalls(tool_format_, output_prefix_ + c.text);
      if (!return_calls_) parsed.calls.clear();
      if (!parallel_tool_calls_ && parsed.calls.size() > 1) parsed.calls.resize(1);
      const bool channels = tool_calls::ParsesWithoutTools(tool_format_);
      if (parsed.calls.empty()) {
        // Without calls the text is the answer as written, except for
        // formats with channels, whose answer is the final channel.
        choice["message"] = {{"role", "assistant"},
                             {"content", channels ? parsed.content : c.text},
                             {"refusal", nullptr}};
      } else {
        json calls = json::array();
        for (const tool_calls::ToolCall& call : parsed.calls) calls.push_back(ToolCallJson(call));
        choice["message"] = {
            {"role", "assistant"},
            {"content", parsed.content.empty() ? json(nullptr) : json(parsed.content)},
            {"refusal", nullptr},
            {"tool_calls", std::move(calls)}};
        choice["finish_reason"] = "tool_calls";
      }
      if (channels) {
        choice["message"]["reasoning_content"] =
            parsed.reasoning.empty() ? json(nullptr) : json(parsed.reasoning);
      }
    } else if (chat) {
      choice["message"] = {{"role", "assistant"}, {"content", c.text}, {"refusal", nullptr}};
    } else {
      choice["text"] = c.text;
    }
    choices.push_back(std::move(choice));
  }
  json j = Envelope(chat ? "chat.completion" : "text_completion");
  j["choices"] = std::move(choices);
  j["usage"] = UsageJson(usage);
  j["system_fingerprint"] = nullptr;
  if (!sources_.is_null()) j["sources"] = sources_;
  return DumpJson(j);
}

std::string ResponseBuilder::Chunk(const BackendEvent& event, bool with_usage_null) {
  const bool chat = endpoint_ == Endpoint::kChat;
  const bool finished = event.finish != FinishReason::kNone;
  const bool has_logprobs = logprobs_ && !event.logprobs.empty();
  if (event.index < 0 || event.index >= static_cast<int>(choices_.size())) return "";
  const int index = event.index;
  Choice& c = choices_[index];
  const int64_t offset = static_cast<int64_t>(c.text.size());
  Append(event);
  std::string out;
  auto emit = [&](json choice) {
    json j = Envelope(chat ? "chat.completion.chunk" : "text_completion");
    j["choices"] = json::array({std::move(choice)});
    if (with_usage_null) j["usage"] = nullptr;
    if (!sent_sources_ && !sources_.is_null()) j["sources"] = sources_;
    sent_sources_ = true;
    absl::StrAppend(&out, "data: ", DumpJson(j), "\n\n");
  };
  if (chat && !c.sent_role) {
    c.sent_role = true;
    emit({{"index", index},
          {"delta", {{"role", "assistant"}, {"content", ""}}},
          {"logprobs", nullptr},
          {"finish_reason", nullptr}});
  }
  const json logprobs = has_logprobs ? LogprobsJson(event.logprobs, offset) : json(nullptr);
  if (chat && tool_calls_) {
    ToolChunks(event, logprobs, emit);
  } else if (chat) {
    if (!event.text.empty() || has_logprobs) {
      emit({{"index", index},
            {"delta", {{"content", event.text}}},
            {"logprobs", logprobs},
            {"finish_reason", nullptr}});
    }
    if (finished) {
      emit({{"index", index},
            {"delta", json::object()},
            {"logprobs", nullptr},
            {"finish_reason", FinishReasonString(event.finish)}});
    }
  } else if (!event.text.empty() || has_logprobs || finished) {
    emit({{"index", index},
          {"text", event.text},
          {"logprobs", logprobs},
          {"finish_reason", finished ? json(FinishReasonString(event.finish)) : json(nullptr)}});
  }
  return out;
}

void ResponseBuilder::ToolChunks(const BackendEvent& event, const json& logprobs,
                                 const std::function<void(json)>& emit) {
  const bool finished = event.finish != FinishReason::kNone;
  const int index = event.index;  // checked by Chunk
  Choice& choice = choices_[index];
  tool_calls::ToolCallStream::Delta d = choice.tool_stream->Push(event.text);
  if (finished) {
    tool_calls::ToolCallStream::Delta rest = choice.tool_stream->Finish();
    d.content += rest.content;
    d.reasoning += rest.reasoning;
    for (tool_calls::ToolCallDelta& t : rest.tool_calls) {
      if (!d.tool_calls.empty() && t.name.empty() &&
          d.tool_calls.back().index == t.index) {
        d.tool_calls.back().arguments += t.arguments;
      } else {
        d.tool_calls.push_back(std::move(t));
      }
    }
  }
  if (!d.reasoning.empty()) {
    emit({{"index", index},
          {"delta", {{"reasoning_content", d.reasoning}}},
          {"logprobs", nullptr},
          {"finish_reason", nullptr}});
  }
  if (!d.content.empty() || !logprobs.is_null()) {
    emit({{"index", index},
          {"delta", {{"content", d.content}}},
          {"logprobs", logprobs},
          {"finish_reason", nullptr}});
  }
  // OpenAI's shape: a call's first chunk has its id, type and name (and
  // empty arguments), the next ones only argument fragments.
  auto emit_call = [&](json call) {
    emit({{"index", index},
          {"delta", {{"tool_calls", json::array({std::move(call)})}}},
          {"logprobs", nullptr},
          {"finish_reason", nullptr}});
  };
  for (const tool_calls::ToolCallDelta& t : d.tool_calls) {
    if (!return_calls_) break;
    if (!parallel_tool_calls_ && t.index > 0) continue;  // the first call only
    if (!t.name.empty()) {
      ++choice.tool_calls_sent;
      emit_call({{"index", t.index},
                 {"id", NewToolCallId(tool_format_)},
                 {"type", "function"},
                 {"function", {{"name", t.name}, {"arguments", ""}}}});
    }
    if (!t.arguments.empty()) {
      emit_call(
          {{"index", t.index}, {"function", {{"arguments", t.arguments}}}});
    }
  }
  if (finished) {
    const bool called = choice.tool_calls_sent > 0 && event.finish != FinishReason::kError;
    emit({{"index", index},
          {"delta", json::object()},
          {"logprobs", nullptr},
          {"finish_reason", called ? "tool_calls" : FinishReasonString(event.finish)}});
  }
}

std::string ResponseBuilder::UsageChunk(const Usage& usage) const {
  json j = Envelope(endpoint_ == Endpoint::kChat ? "chat.completion.chunk" : "text_completion");
  j["choices"] = json::array();
  j["usage"] = UsageJson(usage);
  return absl::StrCat("data: ", DumpJson(j), "\n\n");
}

std::string ResponseBuilder::ErrorEvent(const ApiError& error) {
  return absl::StrCat("data: ", error.body, "\n\n");
}

}  // namespace triptych::gateway
