#include "services/gateway/vector_store_api.h"

#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "services/gateway/openai_response.h"
#include "services/gateway/retrieval.h"

namespace triptych::gateway {
namespace {

using nlohmann::json;

constexpr char kPrefix[] = "/v1/vector_stores/";
// Endpoint labels of triptych_gateway_requests_total.
constexpr char kStoresEndpoint[] = "/v1/vector_stores";
constexpr char kStoreEndpoint[] = "/v1/vector_stores/{id}";
constexpr char kDocumentsEndpoint[] = "/v1/vector_stores/{id}/documents";
constexpr char kDocumentEndpoint[] =
    "/v1/vector_stores/{id}/documents/{doc_id}";
constexpr char kSearchEndpoint[] = "/v1/vector_stores/{id}/search";

json StoreJson(const memory::CollectionInfo& info) {
  return json{{"id", info.name},
              {"object", "vector_store"},
              {"name", info.name},
              {"status", "completed"},
              {"file_counts",
               {{"in_progress", 0},
                {"completed", info.num_documents},
                {"failed", 0},
                {"cancelled", 0},
                {"total", info.num_documents}}},
              {"dimension", info.dim},
              {"num_terms", info.num_terms},
              {"avg_document_length", info.avg_document_length}};
}

json DocumentJson(const std::string& store, const std::string& id,
                  int64_t bytes, const absl::Status& status) {
  json error = nullptr;
  if (!status.ok()) {
    error = {{"code", absl::StatusCodeToString(status.code())},
             {"message", std::string(status.message())}};
  }
  return json{{"id", id},
              {"object", "vector_store.file"},
              {"vector_store_id", store},
              {"status", status.ok() ? "completed" : "failed"},
              {"usage_bytes", status.ok() ? bytes : 0},
              {"last_error", std::move(error)}};
}

// Decodes %XX escapes of a path segment. nullopt for a malformed escape.
std::optional<std::string> PercentDecode(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    if (i + 2 >= s.size()) return std::nullopt;
    const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

// Parses a JSON object body. Errors: kInvalidArgument.
absl::StatusOr<json> ParseBody(const std::string& body) {
  json j = json::parse(body.begin(), body.end(), nullptr,
                       /*allow_exceptions=*/false);
  if (j.is_discarded())
    return InvalidParam("", "request body is not valid JSON");
  if (!j.is_object())
    return InvalidParam("", "request body must be a JSON object");
  return j;
}

// j[key] as a string; nullopt when absent or null.
absl::StatusOr<std::optional<std::string>> OptString(const json& j,
                                                     const std::string& key,
                                                     const std::string& param) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string())
    return InvalidParam(param, absl::StrCat("'", param, "' must be a string"));
  return std::optional<std::string>(it->get<std::string>());
}

// j[key] as an integer in [lo, hi]; nullopt when absent or null.
absl::StatusOr<std::optional<int64_t>> OptInt(const json& j,
                                              const std::string& key,
                                              int64_t lo, int64_t hi) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::optional<int64_t>();
  if (!it->is_number_integer() ||
      (it->is_number_unsigned() && it->get<uint64_t>() > 1ull << 62) ||
      it->get<int64_t>() < lo || it->get<int64_t>() > hi) {
    return InvalidParam(key, absl::StrCat("'", key, "' must be an integer in [",
                                          lo, ", ", hi, "]"));
  }
  return std::optional<int64_t>(it->get<int64_t>());
}

absl::StatusOr<RetrievalDocument> ParseDocument(const json& d,
                                                const std::string& param) {
  if (!d.is_object())
    return InvalidParam(param, absl::StrCat(param, " must be an object"));
  RetrievalDocument doc;
  absl::StatusOr<std::optional<std::string>> id =
      OptString(d, "id", param + ".id");
  if (!id.ok()) return id.status();
  if (!id->has_value() || (*id)->empty()) {
    return InvalidParam(param + ".id", absl::StrCat(param, ".id is required"));
  }
  doc.id = **id;
  absl::StatusOr<std::optional<std::string>> text =
      OptString(d, "text", param + ".text");
  if (!text.ok()) return text.status();
  if (!text->has_value()) {
    return InvalidParam(param + ".text",
                        absl::StrCat(param, ".text is required"));
  }
  doc.text = **text;
  auto e = d.find("embedding");
  if (e != d.end() && !e->is_null()) {
    absl::StatusOr<std::vector<float>> embedding =
        ParseEmbedding(*e, param + ".embedding");
    if (!embedding.ok()) return embedding.status();
    doc.embedding = std::move(embedding).value();
  }
  return doc;
}

}  // namespace

VectorStoreApi::VectorStoreApi(RetrievalBackend* backend,
                               GatewayMetrics* metrics, Authorizer authorize)
    : backend_(backend), metrics_(metrics), authorize_(std::move(authorize)) {}

void VectorStoreApi::RegisterRoutes(http::Server* server) {
  server->HandleAsync("POST", kStoresEndpoint,
                      [this](http::Request r, ResponderPtr responder) {
                        Create(r, std::move(responder));
                      });
  server->HandleAsync(
      "GET", kStoresEndpoint, [this](http::Request r, ResponderPtr responder) {
        if (auto error = authorize_(r)) {
          metrics_->CountRequest(kStoresEndpoint, error->http_status);
          responder->Respond(
              http::Response::Json(error->http_status, error->body));
          return;
        }
        List(std::move(responder));
      });
  for (const char* method : {"GET", "POST", "DELETE"}) {
    server->HandlePrefixAsync(method, kPrefix,
                              [this](http::Request r, ResponderPtr responder) {
                                Dispatch(r, std::move(responder));
                              });
  }
}

namespace {

// Answers and counts.
void Answer(GatewayMetrics* metrics, const char* endpoint,
            http::Responder* responder, int status, std::string body) {
  metrics->CountRequest(endpoint, status);
  responder->Respond(http::Response::Json(status, std::move(body)));
}

void AnswerError(GatewayMetrics* metrics, const char* endpoint,
                 http::Responder* responder, const ApiError& error) {
  Answer(metrics, endpoint, responder, error.http_status, error.body);
}

void AnswerStatus(GatewayMetrics* metrics, const char* endpoint,
                  http::Responder* responder, const absl::Status& status) {
  AnswerError(metrics, endpoint, responder, ErrorFromStatus(status));
}

}  // namespace

void VectorStoreApi::Create(const http::Request& request,
                            ResponderPtr responder) {
  if (auto error = authorize_(request)) {
    AnswerError(metrics_, kStoresEndpoint, responder.get(), *error);
    return;
  }
  absl::StatusOr<json> body = ParseBody(request.body);
  absl::StatusOr<std::optional<std::string>> name =
      body.ok() ? OptString(*body, "name", "name") : body.status();
  absl::StatusOr<std::optional<int64_t>> dim =
      name.ok()
          ? OptInt(*body, body->contains("dimension") ? "dimension" : "dim", 0,
                   1 << 30)
          : name.status();
  if (!dim.ok()) {
    AnswerStatus(metrics_, kStoresEndpoint, responder.get(), dim.status());
    return;
  }
  if (!name->has_value() || (*name)->empty()) {
    AnswerStatus(metrics_, kStoresEndpoint, responder.get(),
                 InvalidParam("name",
                              "'name' is required: it is the vector store's id "
                              "(1-128 characters of A-Z a-z 0-9 _ . -)"));
    return;
  }
  backend_->CreateCollection(
      **name, static_cast<int>(dim->value_or(0)),
      [this, responder](absl::StatusOr<memory::CollectionInfo> info) {
        if (!info.ok()) {
          AnswerStatus(metrics_, kStoresEndpoint, responder.get(),
                       WithParam(info.status(), "name"));
          return;
        }
        Answer(metrics_, kStoresEndpoint, responder.get(), 200,
               DumpJson(StoreJson(*info)));
      });
}

void VectorStoreApi::List(ResponderPtr responder) {
  backend_->ListCollections(
      [this,
       responder](absl::StatusOr<std::vector<memory::CollectionInfo>> list) {
        if (!list.ok()) {
          AnswerStatus(metrics_, kStoresEndpoint, responder.get(),
                       list.status());
          return;
        }
        json data = json::array();
        for (const memory::CollectionInfo& info : *list)
          data.push_back(StoreJson(info));
        json out = {{"object", "list"},
                    {"data", data},
                    {"first_id",
                     list->empty() ? json(nullptr) : json(list->front().name)},
                    {"last_id",
                     list->empty() ? json(nullptr) : json(list->back().name)},
                    {"has_more", false}};
        Answer(metrics_, kStoresEndpoint, responder.get(), 200, DumpJson(out));
      });
}

void VectorStoreApi::Dispatch(const http::Request& request,
                              ResponderPtr responder) {
  const absl::string_view rest =
      absl::string_view(request.path).substr(sizeof(kPrefix) - 1);
  std::vector<std::string> parts;
  for (absl::string_view part : absl::StrSplit(rest, '/')) {
    std::optional<std::string> decoded = PercentDecode(part);
    if (!decoded.has_value() || decoded->empty()) {
      AnswerError(metrics_, kStoreEndpoint, responder.get(),
                  MakeError(404,
                            absl::StrCat("Invalid URL (", request.method, " ",
                                         request.path, ")"),
                            "invalid_request_error", "", ""));
      return;
    }
    parts.push_back(std::move(decoded).value());
  }
  const std::string& method = request.method;
  const char* endpoint = kStoreEndpoint;
  if (parts.size() >= 2) {
    endpoint = parts[1] == "search" ? kSearchEndpoint
               : parts.size() == 2  ? kDocumentsEndpoint
                                    : kDocumentEndpoint;
  }
  if (auto error = authorize_(request)) {
    AnswerError(metrics_, endpoint, responder.get(), *error);
    return;
  }
  const bool docs =
      parts.size() >= 2 && (parts[1] == "documents" || parts[1] == "files");
  const std::string& store = parts[0];
  if (parts.size() == 1 && method == "GET") {
    backend_->GetCollection(
        store, [this, responder](absl::StatusOr<memory::CollectionInfo> info) {
          if (!info.ok()) {
            AnswerStatus(metrics_, kStoreEndpoint, responder.get(),
                         info.status());
            return;
          }
          Answer(metrics_, kStoreEndpoint, responder.get(), 200,
                 DumpJson(StoreJson(*info)));
        });
  } else if (parts.size() == 1 && method == "DELETE") {
    backend_->DeleteCollection(store, [this, responder, store](absl::Status s) {
      if (!s.ok()) {
        AnswerStatus(metrics_, kStoreEndpoint, responder.get(), s);
        return;
      }
      Answer(metrics_, kStoreEndpoint, responder.get(), 200,
             DumpJson({{"id", store},
                       {"object", "vector_store.deleted"},
                       {"deleted", true}}));
    });
  } else if (parts.size() == 2 && docs && method == "POST") {
    AddDocuments(store, request, std::move(responder));
  } else if (parts.size() == 3 && docs && method == "DELETE") {
    const std::string& id = parts[2];
    backend_->DeleteDocument(store, id, [this, responder, id](absl::Status s) {
      if (!s.ok()) {
        AnswerStatus(metrics_, kDocumentEndpoint, responder.get(), s);
        return;
      }
      Answer(metrics_, kDocumentEndpoint, responder.get(), 200,
             DumpJson({{"id", id},
                       {"object", "vector_store.file.deleted"},
                       {"deleted", true}}));
    });
  } else if (parts.size() == 2 && parts[1] == "search" && method == "POST") {
    Search(store, request, std::move(responder));
  } else {
    AnswerError(
        metrics_, endpoint, responder.get(),
        MakeError(404,
                  absl::StrCat("Invalid URL (", method, " ", request.path,
                               "): not supported by this server"),
                  "invalid_request_error", "", ""));
  }
}

void VectorStoreApi::AddDocuments(const std::string& store,
                                  const http::Request& request,
                                  ResponderPtr responder) {
  absl::StatusOr<json> body = ParseBody(request.body);
  if (!body.ok()) {
    AnswerStatus(metrics_, kDocumentsEndpoint, responder.get(), body.status());
    return;
  }
  // {"documents": [...]} or one document {"id", "text", "embedding"?}.
  auto list = body->find("documents");
  const bool batch = list != body->end();
  std::vector<RetrievalDocument> docs;
  if (batch) {
    if (!list->is_array() || list->empty() ||
        list->size() > kMaxDocumentsPerRequest) {
      AnswerStatus(
          metrics_, kDocumentsEndpoint, responder.get(),
          InvalidParam("documents",
                       absl::StrCat("'documents' must be an array of 1 to ",
                                    kMaxDocumentsPerRequest, " documents")));
      return;
    }
    for (size_t i = 0; i < list->size(); ++i) {
      absl::StatusOr<RetrievalDocument> doc =
          ParseDocument((*list)[i], absl::StrCat("documents[", i, "]"));
      if (!doc.ok()) {
        AnswerStatus(metrics_, kDocumentsEndpoint, responder.get(),
                     doc.status());
        return;
      }
      docs.push_back(std::move(doc).value());
    }
  } else {
    absl::StatusOr<RetrievalDocument> doc = ParseDocument(*body, "document");
    if (!doc.ok()) {
      // Name the top-level field, as the body is the document.
      const std::string param = ParamOf(doc.status());
      AnswerStatus(metrics_, kDocumentsEndpoint, responder.get(),
                   WithParam(doc.status(), param.substr(param.find('.') + 1)));
      return;
    }
    docs.push_back(std::move(doc).value());
  }
  std::vector<std::pair<std::string, int64_t>> ids;  // id, bytes
  for (const RetrievalDocument& d : docs) {
    ids.emplace_back(d.id, static_cast<int64_t>(d.text.size()));
  }
  backend_->AddDocuments(
      store, std::move(docs),
      [this, responder, store, batch, ids = std::move(ids)](
          absl::StatusOr<std::vector<absl::Status>> results) {
        if (!results.ok()) {
          AnswerStatus(metrics_, kDocumentsEndpoint, responder.get(),
                       results.status());
          return;
        }
        if (!batch) {
          // One document: its failure is the request's.
          const absl::Status& s = (*results)[0];
          if (!s.ok()) {
            AnswerStatus(metrics_, kDocumentsEndpoint, responder.get(), s);
            return;
          }
          Answer(metrics_, kDocumentsEndpoint, responder.get(), 200,
                 DumpJson(DocumentJson(store, ids[0].first, ids[0].second, s)));
          return;
        }
        json data = json::array();
        int64_t failed = 0;
        for (size_t i = 0; i < ids.size(); ++i) {
          if (!(*results)[i].ok()) ++failed;
          data.push_back(
              DocumentJson(store, ids[i].first, ids[i].second, (*results)[i]));
        }
        const int64_t total = static_cast<int64_t>(ids.size());
        json out = {{"object", "list"},
                    {"vector_store_id", store},
                    {"data", std::move(data)},
                    {"file_counts",
                     {{"completed", total - failed},
                      {"failed", failed},
                      {"total", total}}}};
        Answer(metrics_, kDocumentsEndpoint, responder.get(), 200,
               DumpJson(out));
      });
}

void VectorStoreApi::Search(const std::string& store,
                            const http::Request& request,
                            ResponderPtr responder) {
  auto fail = [&](const absl::Status& s) {
    AnswerStatus(metrics_, kSearchEndpoint, responder.get(), s);
  };
  absl::StatusOr<json> body = ParseBody(request.body);
  if (!body.ok()) return fail(body.status());
  memory::SearchRequest search;
  // "query": a string, or (as OpenAI allows) an array of strings, joined.
  auto query = body->find("query");
  if (query != body->end() && !query->is_null()) {
    if (query->is_string()) {
      search.query_text = query->get<std::string>();
    } else if (query->is_array()) {
      for (const json& q : *query) {
        if (!q.is_string())
          return fail(InvalidParam("query", "'query' must be a string"));
        absl::StrAppend(&search.query_text,
                        search.query_text.empty() ? "" : " ",
                        q.get<std::string>());
      }
    } else {
      return fail(InvalidParam(
          "query", "'query' must be a string or an array of strings"));
    }
  }
  auto embedding = body->find("query_embedding");
  if (embedding != body->end() && !embedding->is_null()) {
    absl::StatusOr<std::vector<float>> e =
        ParseEmbedding(*embedding, "query_embedding");
    if (!e.ok()) return fail(e.status());
    search.query_embedding = std::move(e).value();
  }
  if (auto filters = body->find("filters");
      filters != body->end() && !filters->is_null()) {
    return fail(InvalidParam("filters", "'filters' is not supported"));
  }
  absl::StatusOr<std::optional<int64_t>> k =
      OptInt(*body, "max_num_results", 1, kMaxSearchResults);
  if (!k.ok()) return fail(k.status());
  search.k = static_cast<int>(k->value_or(10));
  absl::StatusOr<std::optional<std::string>> mode =
      OptString(*body, "mode", "mode");
  if (!mode.ok()) return fail(mode.status());
  if (mode->has_value()) {
    absl::StatusOr<memory::SearchMode> m = ParseSearchMode(**mode, "mode");
    if (!m.ok()) return fail(m.status());
    search.mode = *m;
  } else if (!search.query_embedding.empty()) {
    search.mode = search.query_text.empty() ? memory::SearchMode::kDense
                                            : memory::SearchMode::kHybrid;
  }
  if (auto alpha = body->find("alpha");
      alpha != body->end() && !alpha->is_null()) {
    if (!alpha->is_number() ||
        !(alpha->get<double>() >= 0.0 && alpha->get<double>() <= 1.0)) {
      return fail(InvalidParam("alpha", "'alpha' must be a number in [0, 1]"));
    }
    search.alpha = static_cast<float>(alpha->get<double>());
  }
  if (search.mode != memory::SearchMode::kDense && search.query_text.empty()) {
    return fail(InvalidParam("query",
                             "'query' is required for bm25 and hybrid search"));
  }
  if (search.mode != memory::SearchMode::kBm25 &&
      search.query_embedding.empty()) {
    return fail(InvalidParam(
        "query_embedding",
        "'query_embedding' is required for dense and hybrid search"));
  }
  InstrumentedSearch(
      backend_, metrics_, store, search,
      [this, responder,
       query = search.query_text](absl::StatusOr<RetrievalResult> result) {
        if (!result.ok()) {
          AnswerStatus(metrics_, kSearchEndpoint, responder.get(),
                       result.status());
          return;
        }
        json data = json::array();
        for (const memory::SearchHit& hit : result->hits) {
          data.push_back({{"file_id", hit.doc_id},
                          {"filename", hit.doc_id},
                          {"score", hit.score},
                          {"attributes", json::object()},
                          {"content", json::array({{{"type", "text"},
                                                    {"text", hit.snippet}}})}});
        }
        json out = {{"object", "vector_store.search_results.page"},
                    {"search_query", query},
                    {"data", std::move(data)},
                    {"has_more", false},
                    {"next_page", nullptr}};
        Answer(metrics_, kSearchEndpoint, responder.get(), 200, DumpJson(out));
      });
}

}  // namespace triptych::gateway
