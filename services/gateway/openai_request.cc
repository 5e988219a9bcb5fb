#include "services/gateway/openai_request.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "services/gateway/generation_fields.h"
#include "services/gateway/tool_fields.h"

namespace triptych::gateway {
namespace {

using nlohmann::json;

constexpr char kParamPayload[] = "triptych.gateway/param";
constexpr int kMaxStops = 4;
constexpr int kMaxTopLogprobs = 20;

// Typed getters: absent or null gives nullopt; a wrong type is an error.
absl::StatusOr<std::optional<double>> GetNumber(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::optional<double>();
  if (!it->is_number()) return InvalidParam(key, absl::StrCat("'", key, "' must be a number"));
  const double v = it->get<double>();
  if (!std::isfinite(v)) return InvalidParam(key, absl::StrCat("'", key, "' must be finite"));
  return std::optional<double>(v);
}

absl::StatusOr<std::optional<int64_t>> GetInt(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::optional<int64_t>();
  if (it->is_number_integer()) {
    if (it->is_number_unsigned() &&
        it->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return InvalidParam(key, absl::StrCat("'", key, "' is too large"));
    }
    return std::optional<int64_t>(it->get<int64_t>());
  }
  if (it->is_number_float()) {
    const double v = it->get<double>();
    if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9e15) {
      return std::optional<int64_t>(static_cast<int64_t>(v));
    }
  }
  return InvalidParam(key, absl::StrCat("'", key, "' must be an integer"));
}

absl::StatusOr<std::optional<bool>> GetBool(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::optional<bool>();
  if (!it->is_boolean()) return InvalidParam(key, absl::StrCat("'", key, "' must be a boolean"));
  return std::optional<bool>(it->get<bool>());
}

absl::StatusOr<std::optional<std::string>> GetString(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return InvalidParam(key, absl::StrCat("'", key, "' must be a string"));
  return std::optional<std::string>(it->get<std::string>());
}

absl::Status ParseTokenArray(const json& arr, const char* param, std::vector<int32_t>* out) {
  for (const json& t : arr) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 ||
        t.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
      return InvalidParam(param, absl::StrCat("'", param,
                                              "' token ids must be non-negative integers"));
    }
    out->push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  return absl::OkStatus();
}

absl::Status ParseMessages(const json& j, ParsedRequest* req) {
  auto it = j.find("messages");
  if (it == j.end() || it->is_null()) return InvalidParam("messages", "'messages' is required");
  if (!it->is_array() || it->empty()) {
    return InvalidParam("messages", "'messages' must be a non-empty array");
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    const std::string param = absl::StrCat("messages[", i, "]");
    if (!m.is_object()) return InvalidParam(param, absl::StrCat(param, " must be an object"));
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) {
      return InvalidParam(param + ".role", absl::StrCat(param, ".role must be a string"));
    }
    chat::Message msg;
    msg.role = role->get<std::string>();
    if (msg.role == "developer") msg.role = "system";
    if (msg.role != "system" && msg.role != "user" && msg.role != "assistant" &&
        msg.role != "tool") {
      return InvalidParam(param + ".role",
                          absl::StrCat("unsupported role '", msg.role, "' in ", param,
                                       " (supported: system, developer, user, assistant, tool)"));
    }
    if (msg.role == "tool") {
      auto id = m.find("tool_call_id");
      if (id == m.end() || !id->is_string()) {
        return InvalidParam(param + ".tool_call_id",
                            absl::StrCat(param, ".tool_call_id must be a string"));
      }
      msg.tool_call_id = id->get<std::string>();
      auto name = m.find("name");
      if (name != m.end() && !name->is_null()) {
        if (!name->is_string()) {
          return InvalidParam(param + ".name", absl::StrCat(param, ".name must be a string"));
        }
        msg.name = name->get<std::string>();
      }
    }
    if (msg.role == "assistant") {
      // What a response gave as reasoning_content, sent back.
      auto reasoning = m.find("reasoning_content");
      if (reasoning != m.end() && !reasoning->is_null()) {
        if (!reasoning->is_string()) {
          return InvalidParam(
              param + ".reasoning_content",
              absl::StrCat(param, ".reasoning_content must be a string"));
        }
        msg.reasoning = reasoning->get<std::string>();
      }
    }
    auto content = m.find("content");
    auto tool_calls = m.find("tool_calls");
    const bool has_tool_calls =
        tool_calls != m.end() && tool_calls->is_array() && !tool_calls->empty();
    if ((content == m.end() || content->is_null()) && msg.role == "assistant" &&
        has_tool_calls) {
      // A turn of tool calls only; tool_fields.cc fills tool_calls_json.
      msg.content_null = true;
    } else if (content == m.end() || content->is_null()) {
      return InvalidParam(param + ".content", absl::StrCat(param, ".content is required"));
    } else if (content->is_string()) {
      msg.content = content->get<std::string>();
    } else if (content->is_array()) {
      for (const json& part : *content) {
        auto type = part.is_object() ? part.find("type") : part.end();
        if (!part.is_object() || type == part.end() || !type->is_string()) {
          return InvalidParam(param + ".content",
                              absl::StrCat(param, ".content parts must be objects with a type"));
        }
        if (type->get<std::string>() != "text") {
          return InvalidParam(param + ".content",
                              absl::StrCat("content part type '", type->get<std::string>(),
                                           "' is not supported (only 'text')"));
        }
        auto text = part.find("text");
        if (text == part.end() || !text->is_string()) {
          return InvalidParam(param + ".content",
                              absl::StrCat(param, ".content text parts need a string 'text'"));
        }
        msg.content += text->get<std::string>();
      }
    } else {
      return InvalidParam(param + ".content",
                          absl::StrCat(param, ".content must be a string or an array"));
    }
    req->messages.push_back(std::move(msg));
  }
  return absl::OkStatus();
}

absl::Status ParsePrompt(const json& j, ParsedRequest* req) {
  auto it = j.find("prompt");
  if (it == j.end() || it->is_null()) return InvalidParam("prompt", "'prompt' is required");
  if (it->is_string()) {
    req->prompt = it->get<std::string>();
    return absl::OkStatus();
  }
  if (!it->is_array() || it->empty()) {
    return InvalidParam("prompt", "'prompt' must be a string, an array of token ids, or a "
                                  "one-element array of either");
  }
  const json* p = &*it;
  if (p->size() == 1 && ((*p)[0].is_string() || (*p)[0].is_array())) p = &(*p)[0];
  if (p->is_string()) {
    req->prompt = p->get<std::string>();
    return absl::OkStatus();
  }
  // p may be the inner array of [[...]]: check it is non-empty before [0].
  if (p->empty()) return InvalidParam("prompt", "'prompt' token array is empty");
  if ((*p)[0].is_string() || (*p)[0].is_array()) {
    return InvalidParam("prompt", "batched prompts are not supported: send one prompt per "
                                  "request");
  }
  req->has_prompt_tokens = true;
  return ParseTokenArray(*p, "prompt", &req->prompt_tokens);
}

absl::Status ParseStop(const json& j, ParsedRequest* req) {
  auto it = j.find("stop");
  if (it != j.end() && !it->is_null()) {
    if (it->is_string()) {
      if (!it->get<std::string>().empty()) req->stop.push_back(it->get<std::string>());
    } else if (it->is_array()) {
      if (it->size() > kMaxStops) {
        return InvalidParam("stop", absl::StrCat("'stop' takes at most ", kMaxStops,
                                                 " sequences"));
      }
      for (const json& s : *it) {
        if (!s.is_string()) return InvalidParam("stop", "'stop' must contain strings");
        if (!s.get<std::string>().empty()) req->stop.push_back(s.get<std::string>());
      }
    } else {
      return InvalidParam("stop", "'stop' must be a string or an array of strings");
    }
  }
  auto ids = j.find("stop_token_ids");
  if (ids != j.end() && !ids->is_null()) {
    if (!ids->is_array()) return InvalidParam("stop_token_ids", "'stop_token_ids' must be an array");
    RETURN_IF_ERROR(ParseTokenArray(*ids, "stop_token_ids", &req->stop_token_ids));
  }
  return absl::OkStatus();
}

absl::Status ParseLogprobs(const json& j, ParsedRequest* req) {
  if (req->endpoint == Endpoint::kChat) {
    ASSIGN_OR_RETURN(std::optional<bool> logprobs, GetBool(j, "logprobs"));
    ASSIGN_OR_RETURN(std::optional<int64_t> top, GetInt(j, "top_logprobs"));
    req->sampling.logprobs = logprobs.value_or(false);
    if (top.has_value()) {
      if (*top < 0 || *top > kMaxTopLogprobs) {
        return InvalidParam("top_logprobs", absl::StrCat("'top_logprobs' must be in [0, ",
                                                         kMaxTopLogprobs, "]"));
      }
      if (*top > 0 && !req->sampling.logprobs) {
        return InvalidParam("top_logprobs", "'top_logprobs' requires 'logprobs': true");
      }
      req->sampling.top_logprobs = static_cast<int32_t>(*top);
    }
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(std::optional<int64_t> logprobs, GetInt(j, "logprobs"));
  if (logprobs.has_value()) {
    if (*logprobs < 0 || *logprobs > kMaxTopLogprobs) {
      return InvalidParam("logprobs", absl::StrCat("'logprobs' must be in [0, ",
                                                   kMaxTopLogprobs, "]"));
    }
    req->sampling.logprobs = true;
    req->sampling.top_logprobs = static_cast<int32_t>(*logprobs);
  }
  return absl::OkStatus();
}

absl::Status ParseSampling(const json& j, ParsedRequest* req) {
  sampling::SamplingParams& s = req->sampling;
  ASSIGN_OR_RETURN(std::optional<double> temperature, GetNumber(j, "temperature"));
  ASSIGN_OR_RETURN(std::optional<double> top_p, GetNumber(j, "top_p"));
  ASSIGN_OR_RETURN(std::optional<int64_t> top_k, GetInt(j, "top_k"));
  ASSIGN_OR_RETURN(std::optional<double> min_p, GetNumber(j, "min_p"));
  ASSIGN_OR_RETURN(std::optional<double> presence, GetNumber(j, "presence_penalty"));
  ASSIGN_OR_RETURN(std::optional<double> frequency, GetNumber(j, "frequency_penalty"));
  ASSIGN_OR_RETURN(std::optional<double> repetition, GetNumber(j, "repetition_penalty"));
  ASSIGN_OR_RETURN(std::optional<int64_t> seed, GetInt(j, "seed"));
  if (temperature) s.temperature = static_cast<float>(*temperature);
  if (top_p) s.top_p = static_cast<float>(*top_p);
  if (top_k) {
    // OpenAI-compatible servers use -1 for "off".
    if (*top_k < -1 || *top_k > std::numeric_limits<int32_t>::max()) {
      return InvalidParam("top_k", "'top_k' must be -1, 0 (off) or positive");
    }
    s.top_k = *top_k < 0 ? 0 : static_cast<int32_t>(*top_k);
  }
  if (min_p) s.min_p = static_cast<float>(*min_p);
  if (presence) s.presence_penalty = static_cast<float>(*presence);
  if (frequency) s.frequency_penalty = static_cast<float>(*frequency);
  if (repetition) s.repetition_penalty = static_cast<float>(*repetition);
  if (seed) {
    s.seed = static_cast<uint64_t>(*seed);
    req->has_seed = true;
  }
  RETURN_IF_ERROR(ParseLogprobs(j, req));
  absl::Status valid = sampling::Validate(s);
  if (!valid.ok()) {
    // Name the field when the message starts with it.
    for (const char* field : {"temperature", "top_p", "top_k", "min_p", "presence_penalty",
                              "frequency_penalty", "repetition_penalty", "top_logprobs"}) {
      if (valid.message().find(field) != absl::string_view::npos) {
        return InvalidParam(field, std::string(valid.message()));
      }
    }
    return InvalidParam("", std::string(valid.message()));
  }
  return absl::OkStatus();
}

absl::Status ParseRetrieval(const json& j, ParsedRequest* req) {
  auto it = j.find("retrieval");
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (req->endpoint != Endpoint::kChat) {
    return InvalidParam("retrieval", "'retrieval' is only supported in chat completions");
  }
  if (!it->is_object()) return InvalidParam("retrieval", "'retrieval' must be an object");
  RetrievalSpec spec;
  auto ids = it->find("vector_store_ids");
  if (ids == it->end() || !ids->is_array() || ids->empty() ||
      ids->size() > RetrievalSpec::kMaxStores) {
    return InvalidParam("retrieval.vector_store_ids",
                        absl::StrCat("'retrieval.vector_store_ids' must be an array of 1 to ",
                                     RetrievalSpec::kMaxStores, " vector store ids"));
  }
  for (const json& id : *ids) {
    if (!id.is_string() || id.get<std::string>().empty()) {
      return InvalidParam("retrieval.vector_store_ids",
                          "'retrieval.vector_store_ids' must contain non-empty strings");
    }
    const std::string s = id.get<std::string>();
    if (std::find(spec.vector_store_ids.begin(), spec.vector_store_ids.end(), s) !=
        spec.vector_store_ids.end()) {
      return InvalidParam("retrieval.vector_store_ids",
                          absl::StrCat("vector store '", s, "' is listed twice"));
    }
    spec.vector_store_ids.push_back(s);
  }
  ASSIGN_OR_RETURN(std::optional<int64_t> top_k, GetInt(*it, "top_k"));
  if (top_k.has_value()) {
    if (*top_k < 1 || *top_k > RetrievalSpec::kMaxTopK) {
      return InvalidParam("retrieval.top_k", absl::StrCat("'retrieval.top_k' must be in [1, ",
                                                          RetrievalSpec::kMaxTopK, "]"));
    }
    spec.top_k = static_cast<int>(*top_k);
  }
  ASSIGN_OR_RETURN(std::optional<std::string> mode, GetString(*it, "mode"));
  if (mode.has_value()) {
    ASSIGN_OR_RETURN(spec.mode, ParseSearchMode(*mode, "retrieval.mode"));
  }
  ASSIGN_OR_RETURN(std::optional<double> alpha, GetNumber(*it, "alpha"));
  if (alpha.has_value()) {
    if (*alpha < 0.0 || *alpha > 1.0) {
      return InvalidParam("retrieval.alpha", "'retrieval.alpha' must be in [0, 1]");
    }
    spec.alpha = static_cast<float>(*alpha);
  }
  auto embedding = it->find("query_embedding");
  if (embedding != it->end() && !embedding->is_null()) {
    ASSIGN_OR_RETURN(spec.query_embedding,
                     ParseEmbedding(*embedding, "retrieval.query_embedding"));
  }
  if (spec.mode != memory::SearchMode::kBm25 && spec.query_embedding.empty()) {
    return InvalidParam("retrieval.query_embedding",
                        "dense and hybrid retrieval need 'retrieval.query_embedding'");
  }
  req->retrieval = std::move(spec);
  return absl::OkStatus();
}

absl::Status Parse(const json& j, ParsedRequest* req) {
  if (!j.is_object()) return InvalidParam("", "request body must be a JSON object");
  ASSIGN_OR_RETURN(std::optional<std::string> model, GetString(j, "model"));
  if (!model.has_value()) return InvalidParam("model", "'model' is required");
  req->model = *model;
  if (req->endpoint == Endpoint::kChat) {
    RETURN_IF_ERROR(ParseMessages(j, req));
  } else {
    RETURN_IF_ERROR(ParsePrompt(j, req));
    ASSIGN_OR_RETURN(std::optional<bool> echo, GetBool(j, "echo"));
    if (echo.value_or(false)) return InvalidParam("echo", "'echo' is not supported");
    ASSIGN_OR_RETURN(std::optional<std::string> suffix, GetString(j, "suffix"));
    if (suffix.has_value() && !suffix->empty()) {
      return InvalidParam("suffix", "'suffix' is not supported");
    }
    ASSIGN_OR_RETURN(std::optional<int64_t> best_of, GetInt(j, "best_of"));
    if (best_of.has_value() && *best_of != 1) {
      return InvalidParam("best_of", "only best_of=1 is supported");
    }
  }
  ASSIGN_OR_RETURN(std::optional<int64_t> n, GetInt(j, "n"));
  if (n.has_value()) {
    // The upper bound is the server's --max-n (checked by the gateway core).
    if (*n < 1) return InvalidParam("n", "n must be at least 1");
    req->n = *n;
  }
  ASSIGN_OR_RETURN(std::optional<int64_t> max_tokens, GetInt(j, "max_tokens"));
  std::optional<int64_t> max_completion;
  if (req->endpoint == Endpoint::kChat) {
    ASSIGN_OR_RETURN(max_completion, GetInt(j, "max_completion_tokens"));
  }
  const char* max_param = max_completion.has_value() ? "max_completion_tokens" : "max_tokens";
  if (max_completion.has_value()) max_tokens = max_completion;
  if (max_tokens.has_value() && *max_tokens < 1) {
    return InvalidParam(max_param, absl::StrCat("'", max_param, "' must be at least 1"));
  }
  req->max_tokens = max_tokens;
  RETURN_IF_ERROR(ParseSampling(j, req));
  RETURN_IF_ERROR(ParseStop(j, req));
  ASSIGN_OR_RETURN(std::optional<bool> stream, GetBool(j, "stream"));
  req->stream = stream.value_or(false);
  auto options = j.find("stream_options");
  if (options != j.end() && !options->is_null()) {
    if (!options->is_object()) {
      return InvalidParam("stream_options", "'stream_options' must be an object");
    }
    ASSIGN_OR_RETURN(std::optional<bool> usage, GetBool(*options, "include_usage"));
    req->include_usage = usage.value_or(false);
  }
  ASSIGN_OR_RETURN(std::optional<bool> ignore_eos, GetBool(j, "ignore_eos"));
  req->ignore_eos = ignore_eos.value_or(false);
  ASSIGN_OR_RETURN(req->sparse_attention_budget, GetInt(j, "sparse_attention_budget"));
  if (req->sparse_attention_budget.has_value() && *req->sparse_attention_budget < 0) {
    return InvalidParam("sparse_attention_budget",
                        "sparse_attention_budget must be 0 (dense) or a positive token count");
  }
  ASSIGN_OR_RETURN(std::optional<std::string> user, GetString(j, "user"));
  req->user = user.value_or("");
  RETURN_IF_ERROR(ParseLogitBias(j, req));
  RETURN_IF_ERROR(ParseResponseFormat(j, req));
  RETURN_IF_ERROR(RejectUnsupportedFields(j, req->endpoint));
  return ParseRetrieval(j, req);
}

std::string_view ErrorType(int http_status) {
  switch (http_status) {
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 429:
      return "rate_limit_error";
    case 503:
      return "service_unavailable";
    case 504:
      return "timeout";
    default:
      return http_status >= 500 ? "server_error" : "invalid_request_error";
  }
}

}  // namespace

const char* EndpointName(Endpoint endpoint) {
  return endpoint == Endpoint::kChat ? "chat" : "completions";
}

absl::StatusOr<memory::SearchMode> ParseSearchMode(std::string_view mode,
                                                   std::string_view param) {
  if (mode == "bm25") return memory::SearchMode::kBm25;
  if (mode == "dense") return memory::SearchMode::kDense;
  if (mode == "hybrid") return memory::SearchMode::kHybrid;
  return InvalidParam(
      param, absl::StrCat("'", std::string(param), "' must be one of bm25, dense, hybrid"));
}

absl::StatusOr<std::vector<float>> ParseEmbedding(const json& j, std::string_view param) {
  if (!j.is_array()) {
    return InvalidParam(param, absl::StrCat("'", std::string(param), "' must be an array"));
  }
  std::vector<float> out;
  out.reserve(j.size());
  for (const json& v : j) {
    const float f = v.is_number() ? static_cast<float>(v.get<double>()) : 0.0f;
    if (!v.is_number() || !std::isfinite(f)) {
      return InvalidParam(param, absl::StrCat("'", std::string(param),
                                              "' must contain finite numbers (float range)"));
    }
    out.push_back(f);
  }
  return out;
}

absl::Status InvalidParam(std::string_view param, std::string_view message) {
  return WithParam(absl::InvalidArgumentError(std::string(message)), param);
}

absl::Status WithParam(absl::Status status, std::string_view param) {
  if (!param.empty()) status.SetPayload(kParamPayload, absl::Cord(std::string(param)));
  return status;
}

std::string ParamOf(const absl::Status& status) {
  auto payload = status.GetPayload(kParamPayload);
  return payload.has_value() ? std::string(*payload) : std::string();
}

absl::StatusOr<ParsedRequest> ParseRequest(Endpoint endpoint, std::string_view body) {
  // No exceptions: a malformed body gives a discarded value.
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return InvalidParam("", "request body is not valid JSON");
  }
  ParsedRequest req;
  req.endpoint = endpoint;
  try {
    RETURN_IF_ERROR(Parse(j, &req));
    RETURN_IF_ERROR(ParseToolFieldsIfAny(j, body, &req));
    KeepSchemaKeyOrder(body, &req);
  } catch (const json::exception& e) {
    // Defensive: the typed getters check types first, so this is not
    // expected; a bad body must still never take the process down.
    return InvalidParam("", absl::StrCat("invalid request: ", e.what()));
  }
  return req;
}

ApiError MakeError(int http_status, std::string_view message, std::string_view type,
                   std::string_view param, std::string_view code) {
  json error = {{"message", std::string(message)},
                {"type", std::string(type)},
                {"param", param.empty() ? json(nullptr) : json(std::string(param))},
                {"code", code.empty() ? json(nullptr) : json(std::string(code))}};
  ApiError e;
  e.http_status = http_status;
  e.body = json{{"error", std::move(error)}}.dump(-1, ' ', false,
                                                  json::error_handler_t::replace);
  return e;
}

ApiError ErrorFromStatus(const absl::Status& status) {
  int http_status = 500;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
      http_status = 400;
      break;
    case absl::StatusCode::kUnauthenticated:
      http_status = 401;
      break;
    case absl::StatusCode::kPermissionDenied:
      http_status = 403;
      break;
    case absl::StatusCode::kNotFound:
      http_status = 404;
      break;
    case absl::StatusCode::kAlreadyExists:
      http_status = 409;
      break;
    case absl::StatusCode::kResourceExhausted:
      http_status = 429;
      break;
    case absl::StatusCode::kUnavailable:
      http_status = 503;
      break;
    case absl::StatusCode::kDeadlineExceeded:
      http_status = 504;
      break;
    default:
      break;
  }
  return MakeError(http_status, std::string(status.message()), ErrorType(http_status), ParamOf(status),
                   "");
}

}  // namespace triptych::gateway
