#include "services/node/tls_flags.h"

namespace triptych::node {

void AddTlsFlags(CLI::App& app, InternalTlsFiles* files) {
  app.add_option("--tls-ca", files->ca_file,
                 "PEM CA for mutual TLS between services (with --tls-cert, --tls-key)")
      ->envname("TRIPTYCH_TLS_CA");
  app.add_option("--tls-cert", files->cert_file, "PEM certificate of this service")
      ->envname("TRIPTYCH_TLS_CERT");
  app.add_option("--tls-key", files->key_file, "PEM private key of this service")
      ->envname("TRIPTYCH_TLS_KEY");
  app.add_option("--tls-server-name", files->server_name_override,
                 "Name to verify in peers' certificates instead of the dialled host")
      ->envname("TRIPTYCH_TLS_SERVER_NAME");
}

absl::Status ApplyTlsFlags(const InternalTlsFiles& files) {
  return ConfigureInternalTls(files);
}

}  // namespace triptych::node
