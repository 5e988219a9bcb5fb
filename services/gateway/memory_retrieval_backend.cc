#include "services/gateway/memory_retrieval_backend.h"

#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc/internal_grpc.h"
#include "common/grpc/status_convert.h"
#include "grpcpp/grpcpp.h"
#include "proto/memory.grpc.pb.h"
#include "services/memory/retrieval_convert.h"

namespace triptych::gateway {

class MemoryRetrievalBackend::Impl {
 public:
  explicit Impl(const MemoryRetrievalBackendOptions& options)
      : options_(options),
        stub_(v1::Retrieval::NewStub(InternalChannel(options.address))) {}

  ~Impl() {
    absl::MutexLock lock(&mu_);
    for (grpc::ClientContext* context : active_) context->TryCancel();
    auto idle = [this]()
                    ABSL_NO_THREAD_SAFETY_ANALYSIS { return active_.empty(); };
    mu_.Await(absl::Condition(&idle));
  }

  // Runs one unary call: `start(stub, context, request, response, callback)`
  // issues it, `finish(status, response)` runs once it completes (status
  // already converted, with the node's address added to transport errors).
  template <typename Req, typename Resp, typename Start, typename Finish>
  void Call(Req request, Start start, Finish finish) {
    struct State {
      grpc::ClientContext context;
      Req request;
      Resp response;
    };
    auto state = std::make_shared<State>();
    state->request = std::move(request);
    state->context.set_deadline(
        absl::ToChronoTime(absl::Now() + options_.timeout));
    {
      absl::MutexLock lock(&mu_);
      active_.insert(&state->context);
    }
    start(
        stub_.get(), &state->context, &state->request, &state->response,
        [this, state, finish = std::move(finish)](grpc::Status status) mutable {
          absl::Status s = FromGrpcStatus(status);
          if (s.code() == absl::StatusCode::kUnavailable ||
              s.code() == absl::StatusCode::kDeadlineExceeded) {
            s = absl::Status(
                s.code(), absl::StrCat("memory node ", options_.address, ": ",
                                       s.message()));
          }
          finish(s, state->response);
          absl::MutexLock lock(&mu_);
          active_.erase(&state->context);
        });
  }

  const MemoryRetrievalBackendOptions options_;

 private:
  const std::unique_ptr<v1::Retrieval::Stub> stub_;
  absl::Mutex mu_;
  absl::flat_hash_set<grpc::ClientContext*> active_ ABSL_GUARDED_BY(mu_);
};

namespace {

using Stub = v1::Retrieval::Stub;
using Callback = std::function<void(grpc::Status)>;

}  // namespace

absl::StatusOr<std::unique_ptr<MemoryRetrievalBackend>>
MemoryRetrievalBackend::Create(const MemoryRetrievalBackendOptions& options) {
  if (options.address.empty()) {
    return absl::InvalidArgumentError(
        "memory retrieval backend: address is empty");
  }
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "memory retrieval backend: timeout must be positive");
  }
  return std::unique_ptr<MemoryRetrievalBackend>(
      new MemoryRetrievalBackend(std::make_unique<Impl>(options)));
}

MemoryRetrievalBackend::MemoryRetrievalBackend(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
MemoryRetrievalBackend::~MemoryRetrievalBackend() = default;

void MemoryRetrievalBackend::CreateCollection(
    const std::string& name, int dim, Done<memory::CollectionInfo> done) {
  if (dim < 0) {
    done(absl::InvalidArgumentError("dim must be >= 0"));
    return;
  }
  v1::CreateCollectionRequest request;
  request.set_name(name);
  request.set_dim(static_cast<uint32_t>(dim));
  impl_->Call<v1::CreateCollectionRequest, v1::Collection>(
      std::move(request),
      [](Stub* stub, grpc::ClientContext* c,
         const v1::CreateCollectionRequest* req, v1::Collection* resp,
         Callback cb) { stub->async()->CreateCollection(c, req, resp, cb); },
      [done = std::move(done)](const absl::Status& s,
                               const v1::Collection& resp) {
        if (!s.ok()) return done(s);
        done(memory_service::FromProto(resp));
      });
}

void MemoryRetrievalBackend::GetCollection(const std::string& name,
                                           Done<memory::CollectionInfo> done) {
  v1::GetCollectionRequest request;
  request.set_name(name);
  impl_->Call<v1::GetCollectionRequest, v1::Collection>(
      std::move(request),
      [](Stub* stub, grpc::ClientContext* c,
         const v1::GetCollectionRequest* req, v1::Collection* resp,
         Callback cb) { stub->async()->GetCollection(c, req, resp, cb); },
      [done = std::move(done)](const absl::Status& s,
                               const v1::Collection& resp) {
        if (!s.ok()) return done(s);
        done(memory_service::FromProto(resp));
      });
}

void MemoryRetrievalBackend::DeleteCollection(const std::string& name,
                                              StatusDone done) {
  v1::DeleteCollectionRequest request;
  request.set_name(name);
  impl_->Call<v1::DeleteCollectionRequest, v1::DeleteCollectionResponse>(
      std::move(request),
      [](Stub* stub, grpc::ClientContext* c,
         const v1::DeleteCollectionRequest* req,
         v1::DeleteCollectionResponse* resp,
         Callback cb) { stub->async()->DeleteCollection(c, req, resp, cb); },
      [done = std::move(done)](const absl::Status& s,
                               const v1::DeleteCollectionResponse&) {
        done(s);
      });
}

void MemoryRetrievalBackend::ListCollections(
    Done<std::vector<memory::CollectionInfo>> done) {
  impl_->Call<v1::ListCollectionsRequest, v1::ListCollectionsResponse>(
      v1::ListCollectionsRequest(),
      [](Stub* stub, grpc::ClientContext* c,
         const v1::ListCollectionsRequest* req,
         v1::ListCollectionsResponse* resp,
         Callback cb) { stub->async()->ListCollections(c, req, resp, cb); },
      [done = std::move(done)](const absl::Status& s,
                               const v1::ListCollectionsResponse& resp) {
        if (!s.ok()) return done(s);
        std::vector<memory::CollectionInfo> out;
        for (const v1::Collection& c : resp.collections()) {
          out.push_back(memory_service::FromProto(c));
        }
        done(std::move(out));
      });
}

void MemoryRetrievalBackend::AddDocuments(
    const std::string& collection, std::vector<RetrievalDocument> docs,
    Done<std::vector<absl::Status>> done) {
  v1::AddDocumentsRequest request;
  request.set_collection(collection);
  for (RetrievalDocument& doc : docs) {
    v1::Document* d = request.add_documents();
    d->set_id(std::move(doc.id));
    d->set_text(std::move(doc.text));
    if (doc.embedding.has_value()) {
      d->mutable_embedding()->Add(doc.embedding->begin(), doc.embedding->end());
    }
  }
  const size_t n = docs.size();
  impl_->Call<v1::AddDocumentsRequest, v1::AddDocumentsResponse>(
      std::move(request),
      [](Stub* stub, grpc::ClientContext* c, const v1::AddDocumentsRequest* req,
         v1::AddDocumentsResponse* resp,
         Callback cb) { stub->async()->AddDocuments(c, req, resp, cb); },
      [done = std::move(done), n](const absl::Status& s,
                                  const v1::AddDocumentsResponse& resp) {
        if (!s.ok()) return done(s);
        if (static_cast<size_t>(resp.results_size()) != n) {
          return done(absl::InternalError(
              absl::StrCat("memory node answered ", resp.results_size(),
                           " results for ", n, " documents")));
        }
        std::vector<absl::Status> out;
        out.reserve(n);
        for (const v1::DocumentResult& r : resp.results()) {
          // Untrusted: a code outside google.rpc.Code becomes kUnknown.
          const int code = r.code() >= 0 && r.code() <= 16 ? r.code() : 2;
          out.emplace_back(static_cast<absl::StatusCode>(code), r.error());
        }
        done(std::move(out));
      });
}

void MemoryRetrievalBackend::DeleteDocument(const std::string& collection,
                                            const std::string& id,
                                            StatusDone done) {
  v1::DeleteDocumentRequest request;
  request.set_collection(collection);
  request.set_id(id);
  impl_->Call<v1::DeleteDocumentRequest, v1::DeleteDocumentResponse>(
      std::move(request),
      [](Stub* stub, grpc::ClientContext* c,
         const v1::DeleteDocumentRequest* req, v1::DeleteDocumentResponse* resp,
         Callback cb) { stub->async()->DeleteDocument(c, req, resp, cb); },
      [done = std::move(done)](const absl::Status& s,
                               const v1::DeleteDocumentResponse&) { done(s); });
}

void MemoryRetrievalBackend::Search(const std::string& collection,
                                    const memory::SearchRequest& search,
                                    Done<RetrievalResult> done) {
  v1::SearchRequest request = memory_service::ToProto(search);
  request.set_collection(collection);
  impl_->Call<v1::SearchRequest, v1::SearchResponse>(
      std::move(request),
      [](Stub* stub, grpc::ClientContext* c, const v1::SearchRequest* req,
         v1::SearchResponse* resp,
         Callback cb) { stub->async()->Search(c, req, resp, cb); },
      [done = std::move(done)](const absl::Status& s,
                               const v1::SearchResponse& resp) {
        if (!s.ok()) return done(s);
        RetrievalResult result;
        result.hits = memory_service::FromProto(resp);
        result.work.postings_scanned =
            static_cast<int64_t>(resp.postings_scanned());
        result.work.embeddings_scanned =
            static_cast<int64_t>(resp.embeddings_scanned());
        done(std::move(result));
      });
}

}  // namespace triptych::gateway
