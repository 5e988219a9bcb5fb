#include "memory/collection_store.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/memory/cpu_backend.h"
#include "kernels/memory/top_k.h"
#include "memory/text_analyzer.h"

namespace triptych::memory {
namespace {

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Min-max normalisation in place; all zeros when the range is empty.
void MinMaxNormalize(std::vector<float>& v) {
  if (v.empty()) return;
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  const float mn = *lo, mx = *hi;
  if (!(mx > mn)) {
    std::fill(v.begin(), v.end(), 0.0f);
    return;
  }
  const float range = mx - mn;
  for (float& x : v) x = (x - mn) / range;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CollectionStore>> CollectionStore::Create(
    const CollectionStoreOptions& options) {
  std::unique_ptr<kernels::memory::MemoryBackend> owned;
  if (options.backend == nullptr) {
    ASSIGN_OR_RETURN(owned, kernels::memory::CpuMemoryBackend::Create());
  }
  return std::unique_ptr<CollectionStore>(
      new CollectionStore(options, std::move(owned)));
}

CollectionStore::CollectionStore(
    const CollectionStoreOptions& options,
    std::unique_ptr<kernels::memory::MemoryBackend> owned)
    : options_(options),
      owned_backend_(std::move(owned)),
      backend_(options.backend != nullptr ? options.backend
                                          : owned_backend_.get()) {}

CollectionStore::~CollectionStore() = default;

std::shared_ptr<CollectionStore::Collection> CollectionStore::Find(
    std::string_view name) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = collections_.find(std::string(name));
  return it == collections_.end() ? nullptr : it->second;
}

absl::Status CollectionStore::CreateCollection(std::string_view name, int dim) {
  if (!ValidName(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "collection name must be 1..128 bytes of [A-Za-z0-9_.-], got '",
        std::string(name.substr(0, 160)), "'"));
  }
  if (dim < 0 || dim > options_.max_dim) {
    return absl::InvalidArgumentError(absl::StrCat(
        "collection dim must be in [0, ", options_.max_dim, "], got ", dim));
  }
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = collections_.try_emplace(std::string(name), nullptr);
  if (!inserted) {
    return absl::AlreadyExistsError(
        absl::StrCat("collection '", std::string(name), "' already exists"));
  }
  it->second = std::make_shared<Collection>(std::string(name), dim);
  return absl::OkStatus();
}

absl::Status CollectionStore::DeleteCollection(std::string_view name) {
  absl::MutexLock lock(&mu_);
  if (collections_.erase(std::string(name)) == 0) {
    return absl::NotFoundError(
        absl::StrCat("collection '", std::string(name), "' not found"));
  }
  return absl::OkStatus();
}

CollectionInfo CollectionStore::InfoLocked(const Collection& c) {
  CollectionInfo info;
  info.name = c.name;
  info.dim = c.dim;
  info.num_documents = static_cast<int64_t>(c.ids.size());
  info.num_terms = static_cast<int64_t>(c.postings.size());
  info.avg_document_length = c.ids.empty()
                                 ? 0.0
                                 : static_cast<double>(c.total_length) /
                                       static_cast<double>(c.ids.size());
  return info;
}

std::vector<CollectionInfo> CollectionStore::ListCollections() const {
  std::vector<std::shared_ptr<Collection>> all;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [name, c] : collections_) all.push_back(c);
  }
  std::vector<CollectionInfo> out;
  for (const auto& c : all) {
    absl::ReaderMutexLock lock(&c->mu);
    out.push_back(InfoLocked(*c));
  }
  std::sort(out.begin(), out.end(),
            [](const CollectionInfo& a, const CollectionInfo& b) {
              return a.name < b.name;
            });
  return out;
}

absl::StatusOr<CollectionInfo> CollectionStore::GetCollection(
    std::string_view name) const {
  std::shared_ptr<Collection> c = Find(name);
  if (c == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("collection '", std::string(name), "' not found"));
  }
  absl::ReaderMutexLock lock(&c->mu);
  return InfoLocked(*c);
}

absl::Status CollectionStore::AddDocument(
    std::string_view collection, std::string_view id, std::string_view text,
    std::optional<absl::Span<const float>> embedding) {
  std::shared_ptr<Collection> c = Find(collection);
  if (c == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("collection '", std::string(collection), "' not found"));
  }
  if (id.empty() || id.size() > 256) {
    return absl::InvalidArgumentError("document id must be 1..256 bytes");
  }
  if (static_cast<int64_t>(text.size()) > options_.max_document_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("document '", std::string(id), "' has ", text.size(),
                     " bytes, the limit is ", options_.max_document_bytes));
  }
  if (c->dim == 0 && embedding.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("collection '", c->name, "' has no embeddings (dim 0)"));
  }
  if (c->dim > 0) {
    if (!embedding.has_value() ||
        static_cast<int64_t>(embedding->size()) != c->dim) {
      return absl::InvalidArgumentError(absl::StrCat(
          "collection '", c->name, "' needs an embedding of ", c->dim,
          " floats, got ", embedding.has_value() ? embedding->size() : 0));
    }
    for (const float x : *embedding) {
      if (!std::isfinite(x)) {
        return absl::InvalidArgumentError("embedding has a non-finite value");
      }
    }
  }
  // Analyze outside the lock.
  const std::vector<std::string> tokens = AnalyzeText(text);
  if (tokens.size() > static_cast<size_t>(INT32_MAX)) {
    return absl::InvalidArgumentError("document has too many tokens");
  }
  absl::flat_hash_map<std::string, uint32_t> tf;
  for (const std::string& t : tokens) ++tf[t];

  absl::MutexLock lock(&c->mu);
  if (c->by_id.contains(std::string(id))) {
    return absl::AlreadyExistsError(absl::StrCat(
        "document '", std::string(id), "' already exists in '", c->name, "'"));
  }
  if (static_cast<int64_t>(c->ids.size()) >=
      options_.max_documents_per_collection) {
    return absl::ResourceExhaustedError(
        absl::StrCat("collection '", c->name, "' is full"));
  }
  const int32_t doc = static_cast<int32_t>(c->ids.size());
  std::vector<std::string> terms;
  terms.reserve(tf.size());
  for (auto& [term, count] : tf) {
    // New doc has the largest index: appending keeps postings sorted.
    c->postings[term].push_back(Posting{doc, count});
    terms.push_back(term);
  }
  c->ids.emplace_back(id);
  c->texts.emplace_back(text);
  c->lengths.push_back(static_cast<int32_t>(tokens.size()));
  c->doc_terms.push_back(std::move(terms));
  if (c->dim > 0) {
    c->embeddings.insert(c->embeddings.end(), embedding->begin(),
                         embedding->end());
  }
  c->by_id.emplace(std::string(id), doc);
  c->total_length += static_cast<int64_t>(tokens.size());
  absl::MutexLock stats_lock(&stats_mu_);
  ++stats_.documents_added;
  return absl::OkStatus();
}

absl::Status CollectionStore::DeleteDocument(std::string_view collection,
                                             std::string_view id) {
  std::shared_ptr<Collection> c = Find(collection);
  if (c == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("collection '", std::string(collection), "' not found"));
  }
  absl::MutexLock lock(&c->mu);
  auto found = c->by_id.find(std::string(id));
  if (found == c->by_id.end()) {
    return absl::NotFoundError(absl::StrCat("document '", std::string(id),
                                            "' not found in '", c->name, "'"));
  }
  const int32_t doc = found->second;
  const int32_t last = static_cast<int32_t>(c->ids.size()) - 1;
  auto by_doc = [](const Posting& p, int32_t d) { return p.doc < d; };
  // Remove doc's postings.
  for (const std::string& term : c->doc_terms[doc]) {
    auto it = c->postings.find(term);
    std::vector<Posting>& list = it->second;
    auto pos = std::lower_bound(list.begin(), list.end(), doc, by_doc);
    list.erase(pos);
    if (list.empty()) c->postings.erase(it);
  }
  c->total_length -= c->lengths[doc];
  c->by_id.erase(found);
  if (doc != last) {
    // Move the last document into the freed index so indices stay dense
    // (BM25 takes N = number of indices). Its postings are the last entry
    // of each of its lists; re-insert them at the sorted position.
    for (const std::string& term : c->doc_terms[last]) {
      std::vector<Posting>& list = c->postings.find(term)->second;
      const Posting moved{doc, list.back().tf};
      list.pop_back();
      list.insert(std::lower_bound(list.begin(), list.end(), doc, by_doc),
                  moved);
    }
    c->ids[doc] = std::move(c->ids[last]);
    c->texts[doc] = std::move(c->texts[last]);
    c->lengths[doc] = c->lengths[last];
    c->doc_terms[doc] = std::move(c->doc_terms[last]);
    if (c->dim > 0) {
      std::copy_n(c->embeddings.begin() + int64_t{last} * c->dim, c->dim,
                  c->embeddings.begin() + int64_t{doc} * c->dim);
    }
    c->by_id[c->ids[doc]] = doc;
  }
  c->ids.pop_back();
  c->texts.pop_back();
  c->lengths.pop_back();
  c->doc_terms.pop_back();
  if (c->dim > 0) c->embeddings.resize(c->embeddings.size() - c->dim);
  absl::MutexLock stats_lock(&stats_mu_);
  ++stats_.documents_deleted;
  return absl::OkStatus();
}

absl::Status CollectionStore::Bm25AllLocked(const Collection& c,
                                            std::string_view text,
                                            std::vector<float>* scores,
                                            int64_t* postings) const {
  const size_t n = c.ids.size();
  scores->assign(n, 0.0f);
  *postings = 0;
  std::vector<int64_t> offsets{0};
  std::vector<int32_t> doc_ids;
  std::vector<uint32_t> tfs;
  for (const std::string& term : AnalyzeText(text)) {
    auto it = c.postings.find(term);
    if (it == c.postings.end()) continue;  // contributes 0 everywhere
    for (const Posting& p : it->second) {
      doc_ids.push_back(p.doc);
      tfs.push_back(p.tf);
    }
    offsets.push_back(static_cast<int64_t>(doc_ids.size()));
  }
  if (doc_ids.empty() || c.total_length == 0) return absl::OkStatus();
  *postings = static_cast<int64_t>(doc_ids.size());
  kernels::memory::Bm25Input in;
  in.postings.term_offsets = offsets;
  in.postings.doc_ids = doc_ids;
  in.postings.term_freqs = tfs;
  in.doc_lengths = c.lengths;
  in.avg_doc_length = static_cast<float>(static_cast<double>(c.total_length) /
                                         static_cast<double>(n));
  return backend_->Bm25Scores(in, absl::MakeSpan(*scores));
}

CollectionStoreStats CollectionStore::stats() const {
  absl::MutexLock lock(&stats_mu_);
  return stats_;
}

std::string CollectionStore::Snippet(const std::string& text) const {
  size_t n = std::min(text.size(),
                      static_cast<size_t>(std::max(0, options_.snippet_bytes)));
  // Do not cut a UTF-8 character: back up over continuation bytes.
  while (n > 0 && n < text.size() &&
         (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) {
    --n;
  }
  return text.substr(0, n);
}

absl::StatusOr<std::vector<SearchHit>> CollectionStore::Search(
    std::string_view collection, const SearchRequest& request,
    SearchWork* work) const {
  std::shared_ptr<Collection> c = Find(collection);
  if (c == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("collection '", std::string(collection), "' not found"));
  }
  if (request.k < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("search: k must be >= 1, got ", request.k));
  }
  const bool needs_dense = request.mode != SearchMode::kBm25;
  if (needs_dense) {
    if (c->dim == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("search: collection '", c->name,
                       "' has no embeddings; use bm25 mode"));
    }
    if (static_cast<int64_t>(request.query_embedding.size()) != c->dim) {
      return absl::InvalidArgumentError(absl::StrCat(
          "search: query embedding has ", request.query_embedding.size(),
          " floats, collection dim is ", c->dim));
    }
    for (float v : request.query_embedding) {
      // A NaN would break the ordering top-k relies on.
      if (!std::isfinite(v)) {
        return absl::InvalidArgumentError(
            "search: query embedding values must be finite");
      }
    }
  }
  if (request.mode == SearchMode::kHybrid &&
      !(request.alpha >= 0.0f && request.alpha <= 1.0f)) {
    return absl::InvalidArgumentError("search: alpha must be in [0, 1]");
  }

  absl::ReaderMutexLock lock(&c->mu);
  const int64_t n = static_cast<int64_t>(c->ids.size());
  std::vector<kernels::memory::ScoredIndex> top;
  int64_t postings = 0, embeddings = 0;
  if (n > 0) {
    switch (request.mode) {
      case SearchMode::kBm25: {
        std::vector<float> scores;
        RETURN_IF_ERROR(
            Bm25AllLocked(*c, request.query_text, &scores, &postings));
        if (postings > 0) {
          top = kernels::memory::TopK(scores, request.k);
          // Only documents that match a query term (their score is > 0).
          top.erase(std::remove_if(top.begin(), top.end(),
                                   [](const kernels::memory::ScoredIndex& s) {
                                     return !(s.score > 0.0f);
                                   }),
                    top.end());
        }
        break;
      }
      case SearchMode::kDense: {
        kernels::memory::DenseInput in;
        in.query = request.query_embedding;
        in.docs = c->embeddings;
        in.dim = c->dim;
        ASSIGN_OR_RETURN(top, backend_->DenseTopK(in, request.k));
        embeddings = n;
        break;
      }
      case SearchMode::kHybrid: {
        std::vector<float> bm25;
        RETURN_IF_ERROR(
            Bm25AllLocked(*c, request.query_text, &bm25, &postings));
        embeddings = n;
        kernels::memory::DenseInput in;
        in.query = request.query_embedding;
        in.docs = c->embeddings;
        in.dim = c->dim;
        // All documents' dense scores (top-k with k = N, scattered back).
        ASSIGN_OR_RETURN(auto all,
                         backend_->DenseTopK(in, static_cast<int>(n)));
        std::vector<float> dense(n, 0.0f);
        for (const auto& s : all) dense[s.index] = s.score;
        MinMaxNormalize(dense);
        MinMaxNormalize(bm25);
        std::vector<float> combined(n);
        for (int64_t d = 0; d < n; ++d) {
          combined[d] =
              request.alpha * dense[d] + (1.0f - request.alpha) * bm25[d];
        }
        top = kernels::memory::TopK(combined, request.k);
        break;
      }
    }
  }
  {
    absl::MutexLock stats_lock(&stats_mu_);
    ++stats_.searches;
    stats_.postings_scanned += postings;
    stats_.embeddings_scanned += embeddings;
    stats_.hits_returned += static_cast<int64_t>(top.size());
  }
  if (work != nullptr) *work = SearchWork{postings, embeddings};
  std::vector<SearchHit> hits;
  hits.reserve(top.size());
  for (const auto& s : top) {
    hits.push_back(
        SearchHit{c->ids[s.index], s.score, Snippet(c->texts[s.index])});
  }
  return hits;
}

}  // namespace triptych::memory
