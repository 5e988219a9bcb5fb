#include "common/grpc/internal_grpc.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace triptych {
namespace {

constexpr int kReconnectInitialMs = 100;
constexpr int kReconnectMaxMs = 1000;
constexpr int kKeepaliveMs = 2000;
constexpr int kKeepaliveTimeoutMs = 2000;

struct TlsState {
  absl::Mutex mu;
  bool enabled ABSL_GUARDED_BY(mu) = false;
  std::string ca, cert, key, server_name ABSL_GUARDED_BY(mu);
};

TlsState& State() {
  static TlsState* s = new TlsState();
  return *s;
}

absl::Status ReadPem(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    const std::string msg = absl::StrCat("cannot read ", path, ": ", std::strerror(err));
    return err == EACCES ? absl::PermissionDeniedError(msg) : absl::NotFoundError(msg);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  if (out->empty()) return absl::InvalidArgumentError(absl::StrCat(path, " is empty"));
  return absl::OkStatus();
}

}  // namespace

absl::Status ConfigureInternalTls(const InternalTlsFiles& files) {
  if (!files.enabled()) return absl::OkStatus();
  if (files.ca_file.empty() || files.cert_file.empty() || files.key_file.empty()) {
    return absl::InvalidArgumentError(
        "mTLS needs all of --tls-ca, --tls-cert and --tls-key");
  }
  std::string ca, cert, key;
  if (absl::Status s = ReadPem(files.ca_file, &ca); !s.ok()) return s;
  if (absl::Status s = ReadPem(files.cert_file, &cert); !s.ok()) return s;
  if (absl::Status s = ReadPem(files.key_file, &key); !s.ok()) return s;
  TlsState& st = State();
  absl::MutexLock lock(&st.mu);
  st.enabled = true;
  st.ca = std::move(ca);
  st.cert = std::move(cert);
  st.key = std::move(key);
  st.server_name = files.server_name_override;
  return absl::OkStatus();
}

bool InternalTlsEnabled() {
  TlsState& st = State();
  absl::MutexLock lock(&st.mu);
  return st.enabled;
}

std::shared_ptr<grpc::Channel> InternalChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Reconnect within a second. gRPC's default backoff grows to 120 s, and
  // calls on a channel in backoff fail at once with UNAVAILABLE: a node that
  // restarted and re-registered was then reported failed (and marked dead)
  // by the scheduler's first call to it, seen in compose-e2e's kill/restart
  // check. Inside a cluster a reconnect attempt is cheap.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, kReconnectInitialMs);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, kReconnectMaxMs);
  std::shared_ptr<grpc::ChannelCredentials> creds;
  {
    TlsState& st = State();
    absl::MutexLock lock(&st.mu);
    if (st.enabled) {
      grpc::SslCredentialsOptions o;
      o.pem_root_certs = st.ca;
      o.pem_private_key = st.key;
      o.pem_cert_chain = st.cert;
      creds = grpc::SslCredentials(o);
      if (!st.server_name.empty()) {
        args.SetSslTargetNameOverride(st.server_name);
      }
    } else {
      creds = grpc::InsecureChannelCredentials();
    }
  }
  return grpc::CreateCustomChannel(address, creds, args);
}

void AddInternalListeningPort(grpc::ServerBuilder* builder, const std::string& address,
                              int* selected_port) {
  std::shared_ptr<grpc::ServerCredentials> creds;
  {
    TlsState& st = State();
    absl::MutexLock lock(&st.mu);
    if (st.enabled) {
      grpc::SslServerCredentialsOptions o(
          GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
      o.pem_root_certs = st.ca;
      o.pem_key_cert_pairs.push_back({st.key, st.cert});
      creds = grpc::SslServerCredentials(o);
    } else {
      creds = grpc::InsecureServerCredentials();
    }
  }
  builder->AddListeningPort(address, creds, selected_port);
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveMs);
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                              kKeepaliveMs / 2);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
}

}  // namespace triptych
