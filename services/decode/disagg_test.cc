// Prefill node + decode node in one process over real gRPC and real UCX:
// the decode node asks the prefill node for the prompt's KV, the prefill node
// puts the blocks into the decode node's registered pool, and decoding
// continues from there. Output must equal the reference text exactly.

#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "common/testing/conformance.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "proto/triptych.grpc.pb.h"
#include "services/decode/decode_server.h"
#include "services/prefill/prefill_server.h"

namespace triptych {
namespace {

struct Line {
  std::string prompt, output;
};

std::vector<Line> Reference(const std::string& dir) {
  std::ifstream in(dir + "/reference/stories260K-greedy.jsonl");
  std::vector<Line> out;
  std::string l;
  while (std::getline(in, l)) {
    auto j = nlohmann::json::parse(l);
    if (j["model"] == "stories260K.gguf") out.push_back({j["prompt"], j["output"]});
  }
  return out;
}

struct Result {
  std::string text;
  triptych::v1::FinishReason finish = triptych::v1::FINISH_REASON_UNSPECIFIED;
  grpc::Status status;
};

Result Generate(
    triptych::v1::DecodeNode::Stub* stub, const std::string& id,
    const std::vector<int32_t>& prompt, const std::string& prefill_address,
    const std::function<void(triptych::v1::GenerateRequest*)>& edit = nullptr) {
  triptych::v1::DecodeRequest req;
  req.set_prefill_address(prefill_address);
  auto* r = req.mutable_request();
  r->set_request_id(id);
  r->mutable_prompt_tokens()->Add(prompt.begin(), prompt.end());
  r->set_max_tokens(48);
  r->mutable_sampling()->set_temperature(0);
  if (edit) edit(r);
  grpc::ClientContext ctx;
  auto reader = stub->Generate(&ctx, req);
  Result res;
  triptych::v1::GenerateEvent ev;
  while (reader->Read(&ev)) {
    res.text += ev.text();
    if (ev.finish_reason() != triptych::v1::FINISH_REASON_UNSPECIFIED) res.finish = ev.finish_reason();
  }
  res.status = reader->Finish();
  return res;
}

class Disaggregated : public ::testing::TestWithParam<std::string> {};

TEST_P(Disaggregated, PrefillNodeWritesKvOverUcxAndDecodeMatchesReference) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  const std::string model = dir + "/models/stories260K.gguf";
  prefill::PrefillServerOptions po;
  po.core.model_path = model;
  po.ucx.transports = GetParam();
  // UCX 1.13 only wires peer error handling over tcp lanes.
  po.ucx.peer_error_handling = GetParam() == "tcp,self";
  auto prefill = prefill::PrefillServer::Start(po);
  ASSERT_TRUE(prefill.ok()) << prefill.status();
  decode::DecodeServerOptions dopt;
  dopt.model_path = model;
  dopt.engine.num_kv_blocks = 128;
  dopt.ucx.transports = GetParam();
  dopt.ucx.peer_error_handling = GetParam() == "tcp,self";
  auto dec = decode::DecodeServer::Start(dopt);
  ASSERT_TRUE(dec.ok()) << dec.status();

  auto stub = triptych::v1::DecodeNode::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string((*dec)->port()), grpc::InsecureChannelCredentials()));
  const std::string prefill_addr = "127.0.0.1:" + std::to_string((*prefill)->port());
  const auto lines = Reference(dir);
  const auto& tok = *(*dec)->core()->bundle().tokenizer;
  for (size_t i = 0; i < lines.size(); ++i) {
    Result r = Generate(stub.get(), "d" + std::to_string(i), tok.Encode(lines[i].prompt, true, false),
                        prefill_addr);
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    EXPECT_EQ(lines[i].prompt + r.text, lines[i].output) << i;
  }
  // Preserved tokens travel in the request to the decode node's
  // detokenizer: a control token (BOS, forced by a logit bias) is kept in
  // the text only when named, the first token (sampled from the prefill
  // node's logits) included.
  for (bool preserve : {false, true}) {
    Result r = Generate(stub.get(), preserve ? "keep" : "drop",
                        tok.Encode(lines[0].prompt, true, false), prefill_addr,
                        [&](triptych::v1::GenerateRequest* g) {
                          g->set_max_tokens(3);
                          (*g->mutable_sampling()->mutable_logit_bias())[1] =
                              100.0f;
                          if (preserve) g->add_preserved_token_ids(1);
                        });
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    EXPECT_EQ(r.text, preserve ? "<s><s><s>" : "") << preserve;
  }
  const engine::EngineStats st = (*dec)->core()->stats();
  EXPECT_EQ(st.prompt_tokens_computed, 0);
  EXPECT_EQ(st.remote_prefill_failures, 0);
  EXPECT_GT(st.remote_prefill_tokens, 0);
  const uint64_t received = (*dec)->prefill_stats().kv_bytes_received;
  const uint64_t sent = (*prefill)->core()->stats().kv_bytes_sent;
  EXPECT_GT(received, 0u);
  EXPECT_EQ(received, sent);
  EXPECT_EQ((*prefill)->core()->transport()->stats().bytes_put, sent);
  (*dec)->Shutdown(absl::Seconds(5));
  (*prefill)->Shutdown();
}

INSTANTIATE_TEST_SUITE_P(Transports, Disaggregated,
                         ::testing::Values("tcp,self", "posix,sysv,cma,self"),
                         [](const auto& info) {
                           return info.param == "tcp,self" ? std::string("Tcp")
                                                           : std::string("SharedMemory");
                         });

TEST(Decode, LocalPrefillAndCancelFreeBlocks) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  decode::DecodeServerOptions dopt;
  dopt.model_path = dir + "/models/stories260K.gguf";
  dopt.engine.num_kv_blocks = 64;
  auto dec = decode::DecodeServer::Start(dopt);
  ASSERT_TRUE(dec.ok()) << dec.status();
  auto stub = triptych::v1::DecodeNode::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string((*dec)->port()), grpc::InsecureChannelCredentials()));
  const auto lines = Reference(dir);
  const auto& tok = *(*dec)->core()->bundle().tokenizer;
  Result r = Generate(stub.get(), "local", tok.Encode(lines[0].prompt, true, false), "");
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(lines[0].prompt + r.text, lines[0].output);
  EXPECT_GT((*dec)->core()->stats().prompt_tokens_computed, 0);

  // A client that cancels mid-stream: the node cancels the request and its
  // blocks are free again.
  {
    triptych::v1::DecodeRequest req;
    req.mutable_request()->set_request_id("cancel-me");
    req.mutable_request()->add_prompt_tokens(1);
    req.mutable_request()->set_max_tokens(100);
    req.mutable_request()->set_ignore_eos(true);
    grpc::ClientContext ctx;
    auto reader = stub->Generate(&ctx, req);
    triptych::v1::GenerateEvent ev;
    ASSERT_TRUE(reader->Read(&ev));
    ctx.TryCancel();
    while (reader->Read(&ev)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  EXPECT_TRUE((*dec)->core()->WaitUntilIdle(absl::Seconds(10)));
  EXPECT_EQ((*dec)->core()->kv_cache()->stats().used_blocks, 0);
}

}  // namespace
}  // namespace triptych
