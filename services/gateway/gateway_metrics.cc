#include "services/gateway/gateway_metrics.h"

namespace triptych::gateway {

GatewayMetrics::GatewayMetrics(metrics::Registry* r)
    : registry(r),
      ttft(r->GetHistogram("triptych_gateway_time_to_first_token_seconds",
                           "Time from request arrival to the first generated token.",
                           metrics::LatencyBuckets())),
      tpot(r->GetHistogram("triptych_gateway_time_per_output_token_seconds",
                           "Mean time per generated token after the first, per request.",
                           metrics::LatencyBuckets())),
      itl(r->GetHistogram("triptych_gateway_inter_token_latency_seconds",
                          "Time between consecutive token events of a request.",
                          metrics::LatencyBuckets())),
      e2e(r->GetHistogram("triptych_gateway_e2e_request_latency_seconds",
                          "Time from request arrival to its last token.",
                          metrics::LatencyBuckets())),
      in_flight(r->GetGauge("triptych_gateway_requests_in_flight",
                            "Generation requests being served.")),
      prompt_tokens(r->GetCounter("triptych_gateway_prompt_tokens_total",
                                  "Prompt tokens of served requests.")),
      completion_tokens(r->GetCounter("triptych_gateway_completion_tokens_total",
                                      "Generated tokens.")),
      cached_tokens(r->GetCounter("triptych_gateway_cached_prompt_tokens_total",
                                  "Prompt tokens whose KV was reused.")),
      search_seconds(r->GetHistogram("triptych_gateway_retrieval_search_seconds",
                                     "Time to search one vector store, backend round trip.",
                                     metrics::LatencyBuckets())),
      postings_scanned(r->GetCounter("triptych_gateway_retrieval_postings_scanned_total",
                                     "BM25 postings scored by vector store searches.")),
      embeddings_scanned(r->GetCounter("triptych_gateway_retrieval_embeddings_scanned_total",
                                       "Document embeddings scored by vector store searches.")) {}

void GatewayMetrics::CountRequest(const std::string& endpoint, int http_status) {
  registry
      ->GetCounter("triptych_gateway_requests_total", "HTTP API requests by endpoint and status.",
                   {{"endpoint", endpoint}, {"status", std::to_string(http_status)}})
      ->Increment();
}


void GatewayMetrics::CountSearch(const std::string& mode, int http_status) {
  registry
      ->GetCounter("triptych_gateway_retrieval_searches_total",
                   "Vector store searches (API and chat retrieval) by mode and status.",
                   {{"mode", mode}, {"status", std::to_string(http_status)}})
      ->Increment();
}

}  // namespace triptych::gateway
