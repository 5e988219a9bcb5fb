// Mutual TLS between services: a scheduler and a node agent configured with
// certificates from one CA talk; a plaintext client and a client with a
// certificate from another CA are refused. Certificates are made here with
// the openssl command line (IP SAN 127.0.0.1). The TLS setting is process
// wide, so this is its own test binary.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/grpc/internal_grpc.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/triptych.grpc.pb.h"
#include "services/node/node_agent.h"
#include "services/scheduler/scheduler_server.h"

namespace triptych {
namespace {

void Run(const std::string& cmd) {
  ASSERT_EQ(std::system((cmd + " >/dev/null 2>&1").c_str()), 0) << cmd;
}

// Makes ca.pem/ca.key and <name>.pem/<name>.key signed by it in `dir`.
void MakeCa(const std::string& dir) {
  Run(absl::StrCat("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=triptych-ca",
                   " -keyout ", dir, "/ca.key -out ", dir, "/ca.pem"));
}
void MakeCert(const std::string& dir, const std::string& name) {
  Run(absl::StrCat("openssl req -newkey rsa:2048 -nodes -subj /CN=", name, " -keyout ", dir,
                   "/", name, ".key -out ", dir, "/", name, ".csr"));
  std::ofstream(dir + "/san.ext") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  Run(absl::StrCat("openssl x509 -req -in ", dir, "/", name, ".csr -CA ", dir, "/ca.pem -CAkey ",
                   dir, "/ca.key -CAcreateserial -days 2 -extfile ", dir, "/san.ext -out ", dir,
                   "/", name, ".pem"));
}

TEST(InternalTls, MutualTlsAdmitsClusterCertsOnly) {
  const std::string dir = ::testing::TempDir() + "/triptych_tls";
  const std::string other = dir + "/other";
  std::filesystem::create_directories(other);
  MakeCa(dir);
  MakeCert(dir, "node");
  MakeCa(other);
  MakeCert(other, "intruder");

  // Half a configuration is refused up front.
  InternalTlsFiles partial;
  partial.ca_file = dir + "/ca.pem";
  EXPECT_TRUE(absl::IsInvalidArgument(ConfigureInternalTls(partial)));
  InternalTlsFiles missing{dir + "/ca.pem", dir + "/nope.pem", dir + "/node.key", ""};
  EXPECT_TRUE(absl::IsNotFound(ConfigureInternalTls(missing)));
  EXPECT_FALSE(InternalTlsEnabled());

  ASSERT_TRUE(ConfigureInternalTls({dir + "/ca.pem", dir + "/node.pem", dir + "/node.key", ""})
                  .ok());
  ASSERT_TRUE(InternalTlsEnabled());
  scheduler_service::SchedulerServer::Options so;
  so.host = "127.0.0.1";
  auto sched = scheduler_service::SchedulerServer::Create(so);
  ASSERT_TRUE(sched.ok()) << sched.status();
  const std::string address = absl::StrCat("127.0.0.1:", (*sched)->port());

  // A node with the cluster's certificate registers over mTLS.
  node::NodeAgentOptions ao;
  ao.scheduler_address = address;
  ao.info.set_node_id("decode-tls");
  ao.info.set_role(v1::NODE_ROLE_DECODE);
  ao.info.set_grpc_address("127.0.0.1:1");
  ao.info.set_block_size(16);
  ao.info.set_kv_blocks_total(8);
  node::NodeAgent agent(ao, [] { return v1::NodeLoad(); },
                        [] { return std::vector<v1::KvEvent>(); });
  agent.Start();
  for (int i = 0; i < 200 && !agent.registered(); ++i) absl::SleepFor(absl::Milliseconds(25));
  EXPECT_TRUE(agent.registered());
  agent.Stop();

  v1::ListNodesRequest req;
  auto list = [&](std::shared_ptr<grpc::ChannelCredentials> creds) {
    auto stub = v1::Scheduler::NewStub(grpc::CreateChannel(address, creds));
    v1::ListNodesResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
    return stub->ListNodes(&ctx, req, &resp).error_code();
  };
  // Plaintext: refused.
  EXPECT_NE(list(grpc::InsecureChannelCredentials()), grpc::StatusCode::OK);
  // TLS without a client certificate: refused by the server.
  auto read = [](const std::string& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  grpc::SslCredentialsOptions no_cert;
  no_cert.pem_root_certs = read(dir + "/ca.pem");
  EXPECT_NE(list(grpc::SslCredentials(no_cert)), grpc::StatusCode::OK);
  // The cluster's own certificate: served.
  grpc::SslCredentialsOptions member = no_cert;
  member.pem_cert_chain = read(dir + "/node.pem");
  member.pem_private_key = read(dir + "/node.key");
  EXPECT_EQ(list(grpc::SslCredentials(member)), grpc::StatusCode::OK);
  // A certificate from another CA: refused.
  grpc::SslCredentialsOptions intruder = no_cert;
  intruder.pem_cert_chain = read(other + "/intruder.pem");
  intruder.pem_private_key = read(other + "/intruder.key");
  EXPECT_NE(list(grpc::SslCredentials(intruder)), grpc::StatusCode::OK);
  (*sched)->Shutdown(absl::ZeroDuration());
}

}  // namespace
}  // namespace triptych
