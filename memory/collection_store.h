#ifndef TRIPTYCH_MEMORY_COLLECTION_STORE_H_
#define TRIPTYCH_MEMORY_COLLECTION_STORE_H_

// CollectionStore: the memory node's RAG retrieval (BRIEF section 4).
//
// Named collections of documents (id, text, and, in collections created with
// dim > 0, a client-supplied float embedding of exactly dim floats).
// Prepare Memory happens on AddDocument: the text is analyzed
// (text_analyzer.h) into terms and added to the collection's inverted index
// (per term: postings of (doc index, term frequency) in increasing doc index,
// which is the CSR shape Bm25Scores takes), its length recorded, N and the
// average document length updated. DeleteDocument undoes all of it.
//
// Search modes (Compute Relevancy + Retrieval on the MemoryBackend):
//   kBm25    Lucene BM25 (k1 1.5, b 0.75; kernels/memory/bm25.h); only
//            documents matching at least one query term are returned.
//   kDense   inner product of the query embedding with every document
//            embedding; top-k.
//   kHybrid  alpha * norm(dense) + (1 - alpha) * norm(bm25) where norm is
//            min-max normalisation over the collection's documents for this
//            query ((s - min) / (max - min); 0 for all when max == min).
// Ties rank by lower internal index, i.e. earlier-added documents first
// (deletes move the last document into the freed index).
//
// Thread safety: every method is thread-safe. Each collection has its own
// reader/writer lock, so searches of one collection run in parallel and
// writes to different collections don't contend.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "kernels/memory/memory_backend.h"

namespace triptych::memory {

struct CollectionStoreOptions {
  // Scores BM25 and dense queries. Not owned; must outlive the store. Null:
  // the store creates and owns a CPU backend.
  kernels::memory::MemoryBackend* backend = nullptr;
  // Limits on untrusted input (kInvalidArgument beyond them).
  int64_t max_document_bytes = 1 << 20;
  int64_t max_documents_per_collection = 1 << 24;
  int max_dim = 1 << 16;
  // Bytes of document text returned with each hit (cut at a UTF-8
  // character boundary).
  int snippet_bytes = 200;
};

struct CollectionInfo {
  std::string name;
  int dim = 0;  // embedding dimension, 0 = no embeddings (BM25 only)
  int64_t num_documents = 0;
  int64_t num_terms = 0;             // distinct terms in the inverted index
  double avg_document_length = 0.0;  // in analyzer tokens
};

enum class SearchMode { kBm25, kDense, kHybrid };

// Work counters over the store's lifetime (all collections).
struct CollectionStoreStats {
  int64_t searches = 0;
  int64_t postings_scanned = 0;    // BM25 postings fed to the backend
  int64_t embeddings_scanned = 0;  // document embeddings scored
  int64_t hits_returned = 0;
  int64_t documents_added = 0;
  int64_t documents_deleted = 0;
};

// The work one search did (the per-search part of CollectionStoreStats).
struct SearchWork {
  int64_t postings_scanned = 0;
  int64_t embeddings_scanned = 0;
};

struct SearchRequest {
  std::string query_text;              // kBm25, kHybrid
  std::vector<float> query_embedding;  // kDense, kHybrid: exactly dim floats
  int k = 10;                          // >= 1
  SearchMode mode = SearchMode::kBm25;
  float alpha = 0.5f;  // kHybrid: dense weight in [0, 1]
};

struct SearchHit {
  std::string doc_id;
  float score = 0.0f;
  std::string snippet;

  bool operator==(const SearchHit&) const = default;
};

class CollectionStore {
 public:
  // kFailedPrecondition when the default CPU backend cannot be created.
  static absl::StatusOr<std::unique_ptr<CollectionStore>> Create(
      const CollectionStoreOptions& options = {});
  ~CollectionStore();
  CollectionStore(const CollectionStore&) = delete;
  CollectionStore& operator=(const CollectionStore&) = delete;

  // name: 1..128 bytes of [A-Za-z0-9_.-]; dim: 0 or 1..max_dim.
  // Errors: kInvalidArgument; kAlreadyExists.
  absl::Status CreateCollection(std::string_view name, int dim);
  // kNotFound. Searches already running finish on the old contents.
  absl::Status DeleteCollection(std::string_view name);
  // Sorted by name.
  std::vector<CollectionInfo> ListCollections() const;
  absl::StatusOr<CollectionInfo> GetCollection(std::string_view name) const;

  // Adds a document. id: 1..256 bytes; text: at most max_document_bytes;
  // embedding: exactly dim floats (all finite) when the collection has
  // dim > 0, absent otherwise.
  // Errors: kNotFound (collection); kInvalidArgument (and nothing changes);
  // kAlreadyExists for a duplicate id; kResourceExhausted when the
  // collection holds max_documents_per_collection documents.
  absl::Status AddDocument(
      std::string_view collection, std::string_view id, std::string_view text,
      std::optional<absl::Span<const float>> embedding = std::nullopt);
  // Errors: kNotFound (collection or document).
  absl::Status DeleteDocument(std::string_view collection, std::string_view id);

  // Top-k hits, best first (see the modes above). `work`, when not null,
  // receives what this search scanned.
  // Errors: kNotFound (collection); kInvalidArgument for k < 1, a missing,
  // wrong-sized or non-finite embedding, dense/hybrid on a dim 0
  // collection, alpha outside [0, 1]; backend errors as returned.
  absl::StatusOr<std::vector<SearchHit>> Search(
      std::string_view collection, const SearchRequest& request,
      SearchWork* work = nullptr) const;

  CollectionStoreStats stats() const;

 private:
  struct Posting {
    int32_t doc = 0;
    uint32_t tf = 0;
  };
  struct Collection {
    Collection(std::string n, int d) : name(std::move(n)), dim(d) {}
    const std::string name;
    const int dim;
    mutable absl::Mutex mu;
    // Documents by dense internal index [0, N).
    std::vector<std::string> ids ABSL_GUARDED_BY(mu);
    std::vector<std::string> texts ABSL_GUARDED_BY(mu);
    std::vector<int32_t> lengths ABSL_GUARDED_BY(mu);
    std::vector<float> embeddings ABSL_GUARDED_BY(mu);  // [N][dim]
    // The distinct terms of each document (for delete).
    std::vector<std::vector<std::string>> doc_terms ABSL_GUARDED_BY(mu);
    absl::flat_hash_map<std::string, int32_t> by_id ABSL_GUARDED_BY(mu);
    absl::flat_hash_map<std::string, std::vector<Posting>> postings
        ABSL_GUARDED_BY(mu);
    int64_t total_length ABSL_GUARDED_BY(mu) = 0;
  };

  CollectionStore(const CollectionStoreOptions& options,
                  std::unique_ptr<kernels::memory::MemoryBackend> owned);

  std::shared_ptr<Collection> Find(std::string_view name) const;
  static CollectionInfo InfoLocked(const Collection& c)
      ABSL_SHARED_LOCKS_REQUIRED(c.mu);
  // scores[d] for every document (0 for no matching term); *postings is
  // the number of postings scored (0: no query term is in the index).
  absl::Status Bm25AllLocked(const Collection& c, std::string_view text,
                             std::vector<float>* scores,
                             int64_t* postings) const
      ABSL_SHARED_LOCKS_REQUIRED(c.mu);
  std::string Snippet(const std::string& text) const;

  const CollectionStoreOptions options_;
  std::unique_ptr<kernels::memory::MemoryBackend> owned_backend_;
  kernels::memory::MemoryBackend* const backend_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Collection>> collections_
      ABSL_GUARDED_BY(mu_);

  // Separate from mu_ so that searches (shared collection locks) can count.
  mutable absl::Mutex stats_mu_;
  mutable CollectionStoreStats stats_ ABSL_GUARDED_BY(stats_mu_);
};

}  // namespace triptych::memory

#endif  // TRIPTYCH_MEMORY_COLLECTION_STORE_H_
