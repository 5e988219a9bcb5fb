#ifndef TRIPTYCH_SERVICES_GATEWAY_GATEWAY_METRICS_H_
#define TRIPTYCH_SERVICES_GATEWAY_GATEWAY_METRICS_H_

// The gateway's Prometheus metrics. Thread-safe (metrics update lock-free;
// CountRequest takes the registry's mutex to find the labelled counter).

#include <string>

#include "common/metrics/metrics.h"

namespace triptych::gateway {

struct GatewayMetrics {
  explicit GatewayMetrics(metrics::Registry* registry);

  // triptych_gateway_requests_total{endpoint, status}.
  void CountRequest(const std::string& endpoint, int http_status);
  // triptych_gateway_retrieval_searches_total{mode, status}: searches of
  // one vector store (API or chat retrieval), by HTTP status of the outcome.
  void CountSearch(const std::string& mode, int http_status);

  metrics::Registry* const registry;
  metrics::Histogram* const ttft;  // request arrival -> first token, seconds
  metrics::Histogram* const tpot;  // (e2e - ttft) / (completion tokens - 1)
  metrics::Histogram* const itl;   // gap between consecutive token events
  metrics::Histogram* const e2e;   // request arrival -> last event
  metrics::Gauge* const in_flight;
  metrics::Counter* const prompt_tokens;
  metrics::Counter* const completion_tokens;
  metrics::Counter* const cached_tokens;
  // Retrieval (vector stores and chat retrieval).
  metrics::Histogram* const search_seconds;  // one store search, backend round trip
  metrics::Counter* const postings_scanned;
  metrics::Counter* const embeddings_scanned;
};

}  // namespace triptych::gateway

#endif  // TRIPTYCH_SERVICES_GATEWAY_GATEWAY_METRICS_H_
