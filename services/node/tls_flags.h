#ifndef TRIPTYCH_SERVICES_NODE_TLS_FLAGS_H_
#define TRIPTYCH_SERVICES_NODE_TLS_FLAGS_H_

// The mTLS flags every Triptych service takes for its internal gRPC
// (common/grpc/internal_grpc.h): --tls-ca, --tls-cert, --tls-key and
// --tls-server-name (also TRIPTYCH_TLS_* environment variables and YAML
// config keys).

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "common/grpc/internal_grpc.h"

namespace triptych::node {

void AddTlsFlags(CLI::App& app, InternalTlsFiles* files);
// After parsing: ConfigureInternalTls(files).
absl::Status ApplyTlsFlags(const InternalTlsFiles& files);

}  // namespace triptych::node

#endif  // TRIPTYCH_SERVICES_NODE_TLS_FLAGS_H_
