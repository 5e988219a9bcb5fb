#ifndef TRIPTYCH_SERVICES_MEMORY_RETRIEVAL_CONVERT_H_
#define TRIPTYCH_SERVICES_MEMORY_RETRIEVAL_CONVERT_H_

// Proto <-> memory::CollectionStore domain types for service Retrieval, used
// by the service (retrieval_service.h) and by its clients (the gateway).
// Proto fields are untrusted: values that do not fit the domain type become
// kInvalidArgument, never UB.

#include <vector>

#include "absl/status/statusor.h"
#include "memory/collection_store.h"
#include "proto/memory.pb.h"

namespace triptych::memory_service {

v1::Collection ToProto(const memory::CollectionInfo& info);
memory::CollectionInfo FromProto(const v1::Collection& collection);

v1::SearchMode ToProto(memory::SearchMode mode);
// kInvalidArgument for a value outside the enum.
absl::StatusOr<memory::SearchMode> FromProto(v1::SearchMode mode);

// Everything but the collection name. k 0 means 10; k beyond INT_MAX is
// clamped (the store returns at most every document anyway).
v1::SearchRequest ToProto(const memory::SearchRequest& request);
absl::StatusOr<memory::SearchRequest> FromProto(const v1::SearchRequest& request);

v1::SearchHit ToProto(const memory::SearchHit& hit);
memory::SearchHit FromProto(const v1::SearchHit& hit);
std::vector<memory::SearchHit> FromProto(const v1::SearchResponse& response);

}  // namespace triptych::memory_service

#endif  // TRIPTYCH_SERVICES_MEMORY_RETRIEVAL_CONVERT_H_
