#include "services/memory/retrieval_convert.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"

namespace triptych::memory_service {

v1::Collection ToProto(const memory::CollectionInfo& info) {
  v1::Collection c;
  c.set_name(info.name);
  c.set_dim(static_cast<uint32_t>(std::max(info.dim, 0)));
  c.set_num_documents(static_cast<uint64_t>(std::max<int64_t>(info.num_documents, 0)));
  c.set_num_terms(static_cast<uint64_t>(std::max<int64_t>(info.num_terms, 0)));
  c.set_avg_document_length(info.avg_document_length);
  return c;
}

memory::CollectionInfo FromProto(const v1::Collection& c) {
  constexpr uint64_t kMax = std::numeric_limits<int64_t>::max();
  memory::CollectionInfo info;
  info.name = c.name();
  info.dim = static_cast<int>(std::min<uint32_t>(c.dim(), std::numeric_limits<int>::max()));
  info.num_documents = static_cast<int64_t>(std::min(c.num_documents(), kMax));
  info.num_terms = static_cast<int64_t>(std::min(c.num_terms(), kMax));
  info.avg_document_length = c.avg_document_length();
  return info;
}

v1::SearchMode ToProto(memory::SearchMode mode) {
  switch (mode) {
    case memory::SearchMode::kDense:
      return v1::SEARCH_MODE_DENSE;
    case memory::SearchMode::kHybrid:
      return v1::SEARCH_MODE_HYBRID;
    case memory::SearchMode::kBm25:
      break;
  }
  return v1::SEARCH_MODE_BM25;
}

absl::StatusOr<memory::SearchMode> FromProto(v1::SearchMode mode) {
  switch (mode) {
    case v1::SEARCH_MODE_BM25:
      return memory::SearchMode::kBm25;
    case v1::SEARCH_MODE_DENSE:
      return memory::SearchMode::kDense;
    case v1::SEARCH_MODE_HYBRID:
      return memory::SearchMode::kHybrid;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("search: unknown mode ", static_cast<int>(mode)));
  }
}

v1::SearchRequest ToProto(const memory::SearchRequest& r) {
  v1::SearchRequest p;
  p.set_query(r.query_text);
  p.mutable_query_embedding()->Add(r.query_embedding.begin(), r.query_embedding.end());
  p.set_k(static_cast<uint32_t>(std::max(r.k, 0)));
  p.set_mode(ToProto(r.mode));
  p.set_alpha(r.alpha);
  return p;
}

absl::StatusOr<memory::SearchRequest> FromProto(const v1::SearchRequest& p) {
  memory::SearchRequest r;
  r.query_text = p.query();
  r.query_embedding.assign(p.query_embedding().begin(), p.query_embedding().end());
  r.k = p.k() == 0 ? 10
                   : static_cast<int>(std::min<uint32_t>(p.k(), std::numeric_limits<int>::max()));
  absl::StatusOr<memory::SearchMode> mode = FromProto(p.mode());
  if (!mode.ok()) return mode.status();
  r.mode = *mode;
  r.alpha = p.alpha();
  return r;
}

v1::SearchHit ToProto(const memory::SearchHit& hit) {
  v1::SearchHit p;
  p.set_doc_id(hit.doc_id);
  p.set_score(hit.score);
  p.set_snippet(hit.snippet);
  return p;
}

memory::SearchHit FromProto(const v1::SearchHit& hit) {
  return memory::SearchHit{hit.doc_id(), hit.score(), hit.snippet()};
}

std::vector<memory::SearchHit> FromProto(const v1::SearchResponse& response) {
  std::vector<memory::SearchHit> hits;
  hits.reserve(response.hits_size());
  for (const v1::SearchHit& h : response.hits()) hits.push_back(FromProto(h));
  return hits;
}

}  // namespace triptych::memory_service
