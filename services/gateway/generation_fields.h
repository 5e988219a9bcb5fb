#ifndef TRIPTYCH_SERVICES_GATEWAY_GENERATION_FIELDS_H_
#define TRIPTYCH_SERVICES_GATEWAY_GENERATION_FIELDS_H_

// Request fields that steer what is generated beyond the sampling
// parameters: logit_bias, response_format, and the list of fields other
// servers accept that Triptych does not implement (each a 400 naming it,
// never silently ignored; the list is in the README). Pure functions,
// thread-safe.

#include <string_view>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "services/gateway/openai_request.h"

namespace triptych::gateway {

// "logit_bias": {"<token id>": bias, ...}; ids are decimal strings of
// non-negative integers, biases numbers in [-100, 100]. The vocabulary bound
// is checked later, where the model is known (GatewayCore). Errors:
// kInvalidArgument with param "logit_bias".
absl::Status ParseLogitBias(const nlohmann::json& body, ParsedRequest* req);

// "response_format": absent, {"type":"text"}, {"type":"json_object"} or
// {"type":"json_schema","json_schema":{"name","schema","strict",
// "description"}}; fills req->constraint (the schema is compiled later, in
// GatewayCore, so unsupported schema features are reported there).
// Errors: kInvalidArgument with param "response_format...".
absl::Status ParseResponseFormat(const nlohmann::json& body, ParsedRequest* req);
// After ParseResponseFormat: the json_schema schema again from the raw
// `body`, with its keys in the order sent (nlohmann::json sorts them, and
// the grammar writes properties in schema order, as OpenAI does).
void KeepSchemaKeyOrder(std::string_view body, ParsedRequest* req);

// A 400 naming the first field of `body` that changes the output and that
// Triptych does not implement (e.g. "guided_json", "min_tokens",
// "use_beam_search", "functions"); fields set to their neutral value
// (false, 0, 1, [], {}, as the field means) are accepted.
absl::Status RejectUnsupportedFields(const nlohmann::json& body, Endpoint endpoint);

}  // namespace triptych::gateway

#endif  // TRIPTYCH_SERVICES_GATEWAY_GENERATION_FIELDS_H_
