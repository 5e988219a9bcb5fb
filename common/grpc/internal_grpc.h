#ifndef TRIPTYCH_COMMON_GRPC_INTERNAL_GRPC_H_
#define TRIPTYCH_COMMON_GRPC_INTERNAL_GRPC_H_

// How Triptych's services talk gRPC to each other (scheduler, prefill,
// decode, memory nodes and the gateway's backend calls): one place for the
// channel and server settings every internal connection shares.
//
//  * Keepalive: channels ping every 2 s and give up after 2 s without an
//    answer, so a peer whose link went down (not just a dead process, which
//    resets its connections) fails in-flight calls with UNAVAILABLE in
//    seconds instead of waiting for TCP's retransmission timeout; servers
//    accept such pings (also with no call open) and ping their clients the
//    same way, so a request whose caller vanished is cancelled and its KV
//    blocks freed.
//  * mTLS (optional): with ConfigureInternalTls, every server requires and
//    verifies a client certificate signed by the cluster CA and every
//    channel presents one and verifies the server's. Without it, plaintext.
//
// Thread safety: ConfigureInternalTls once at startup, before any channel or
// server is made; the rest is thread-safe.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "grpcpp/channel.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace triptych {

struct InternalTlsFiles {
  std::string ca_file;    // PEM: the CA that signs every node's certificate
  std::string cert_file;  // PEM: this process's certificate (server and client)
  std::string key_file;   // PEM: its private key
  // Name to verify in server certificates instead of the dialled host
  // (e.g. when nodes are dialled by IP but certificates name services).
  std::string server_name_override;

  bool enabled() const { return !ca_file.empty() || !cert_file.empty() || !key_file.empty(); }
};

// Reads the files and makes every later InternalChannel / internal server
// use mutual TLS. kInvalidArgument when only some files are given,
// kNotFound / kPermissionDenied when one cannot be read. Files that are not
// valid PEM surface when the first connection is made.
absl::Status ConfigureInternalTls(const InternalTlsFiles& files);
bool InternalTlsEnabled();

// A channel to another Triptych service (keepalive, mTLS when configured).
std::shared_ptr<grpc::Channel> InternalChannel(const std::string& address);

// Adds a listening port with the internal credentials and the keepalive
// settings to `builder`; `*selected_port` as grpc::ServerBuilder documents.
void AddInternalListeningPort(grpc::ServerBuilder* builder, const std::string& address,
                              int* selected_port);

}  // namespace triptych

#endif  // TRIPTYCH_COMMON_GRPC_INTERNAL_GRPC_H_
