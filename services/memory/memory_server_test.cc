// The KV history end to end in one process over real gRPC and real UCX
// (tcp): a memory node, decode nodes and a prefill node. Turn one of a
// conversation runs on one decode node, which stores the finished
// sequence's blocks on the memory node; turn two (turn one's tokens plus new
// ones) runs on another node, which fetches them instead of computing them.

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/testing/conformance.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "proto/memory.grpc.pb.h"
#include "proto/triptych.grpc.pb.h"
#include "services/decode/decode_server.h"
#include "services/memory/memory_server.h"
#include "services/prefill/prefill_server.h"

namespace triptych {
namespace {

std::vector<std::string> Prompts(const std::string& dir) {
  std::ifstream in(dir + "/reference/stories260K-greedy.jsonl");
  std::vector<std::string> out;
  std::string l;
  while (std::getline(in, l)) {
    auto j = nlohmann::json::parse(l);
    if (j["model"] == "stories260K.gguf") out.push_back(j["prompt"]);
  }
  return out;
}

std::vector<int32_t> Generate(decode::DecodeServer* node, const std::string& id,
                              const std::vector<int32_t>& prompt, int max_tokens,
                              const std::string& prefill_address = "") {
  auto stub = v1::DecodeNode::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(node->port()), grpc::InsecureChannelCredentials()));
  v1::DecodeRequest req;
  req.set_prefill_address(prefill_address);
  auto* r = req.mutable_request();
  r->set_request_id(id);
  r->mutable_prompt_tokens()->Add(prompt.begin(), prompt.end());
  r->set_max_tokens(static_cast<uint32_t>(max_tokens));
  r->set_ignore_eos(true);
  r->mutable_sampling()->set_temperature(0);
  grpc::ClientContext ctx;
  auto reader = stub->Generate(&ctx, req);
  std::vector<int32_t> tokens;
  v1::GenerateEvent ev;
  while (reader->Read(&ev)) tokens.insert(tokens.end(), ev.tokens().begin(), ev.tokens().end());
  EXPECT_TRUE(reader->Finish().ok());
  return tokens;
}

struct Cluster {
  std::string model;
  std::unique_ptr<memory_service::MemoryServer> memory;

  std::string memory_address() const {
    return "127.0.0.1:" + std::to_string(memory->port());
  }
  std::unique_ptr<decode::DecodeServer> Decode(bool with_memory) {
    decode::DecodeServerOptions o;
    o.model_path = model;
    o.engine.num_kv_blocks = 128;
    o.ucx.transports = "tcp,self";
    if (with_memory) o.memory_address = memory_address();
    auto s = decode::DecodeServer::Start(o);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }
};

Cluster StartCluster(const std::string& dir, int64_t ram_blocks, const std::string& disk_dir) {
  Cluster c;
  c.model = dir + "/models/stories260K.gguf";
  memory_service::MemoryServerOptions mo;
  mo.model_path = c.model;
  mo.core.history.ram_capacity_blocks = ram_blocks;
  if (!disk_dir.empty()) {
    mo.core.history.disk_dir = disk_dir;
    mo.core.history.disk_capacity_blocks = 256;
  }
  mo.ucx.transports = "tcp,self";
  auto m = memory_service::MemoryServer::Start(mo);
  EXPECT_TRUE(m.ok()) << m.status();
  if (m.ok()) c.memory = std::move(*m);
  return c;
}

// Waits until the memory node has committed `blocks` blocks in total.
void WaitForCommitted(memory_service::MemoryCore* core, int64_t blocks) {
  for (int i = 0; i < 200 && core->stats().blocks_committed < blocks; ++i) {
    absl::SleepFor(absl::Milliseconds(25));
  }
  ASSERT_GE(core->stats().blocks_committed, blocks);
}

std::vector<int32_t> Concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(KvHistory, SecondTurnOnAnotherDecodeNodeComputesOnlyNewTokens) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  Cluster c = StartCluster(dir, 256, "");
  ASSERT_NE(c.memory, nullptr);
  auto a = c.Decode(true);
  auto b = c.Decode(true);
  auto ref = c.Decode(false);
  ASSERT_TRUE(a && b && ref);
  const auto& tok = *a->core()->bundle().tokenizer;
  const std::vector<int32_t> turn1 = tok.Encode(Prompts(dir)[0], true, false);
  const std::vector<int32_t> answer1 = Generate(a.get(), "t1", turn1, 60);
  ASSERT_EQ(answer1.size(), 60u);
  // Every full block of what has KV (prompt + all but the last token).
  const int64_t with_kv = static_cast<int64_t>(turn1.size() + answer1.size()) - 1;
  const int64_t stored = with_kv / 16;
  WaitForCommitted(c.memory->core(), stored);
  // The node counts a store when CloseLease answers, just after the memory
  // node committed: wait for that too.
  for (int i = 0; i < 200 && a->history_stats().client.blocks_stored < stored; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(a->history_stats().client.blocks_stored, stored);

  const std::vector<int32_t> turn2 =
      Concat(Concat(turn1, answer1), tok.Encode(" Then they went home.", false, false));
  const std::vector<int32_t> answer2 = Generate(b.get(), "t2", turn2, 24);
  const std::vector<int32_t> expected = Generate(ref.get(), "t2", turn2, 24);
  EXPECT_EQ(answer2, expected);  // greedy: equals a full recompute

  const engine::EngineStats st = b->core()->stats();
  EXPECT_EQ(st.history_fetched_tokens, stored * 16);
  EXPECT_EQ(st.prompt_tokens_computed, static_cast<int64_t>(turn2.size()) - stored * 16);
  EXPECT_EQ(ref->core()->stats().prompt_tokens_computed, static_cast<int64_t>(turn2.size()));
  EXPECT_EQ(b->history_stats().client.blocks_fetched, stored);
  EXPECT_EQ(c.memory->core()->stats().open_leases, 0);
  EXPECT_EQ(c.memory->core()->history()->stats().pinned_blocks, 0);
  // The engines released every block they held for the stores.
  EXPECT_TRUE(a->core()->WaitUntilIdle(absl::Seconds(5)));
  EXPECT_EQ(a->core()->kv_cache()->stats().used_blocks, 0);
}

TEST(KvHistory, PrefillNodePullsSpilledBlocksBackFromDisk) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  const std::string disk = ::testing::TempDir() + "/kv_history_spill";
  std::filesystem::create_directories(disk);
  // A RAM tier of 5 blocks: the second conversation pushes the first to disk.
  Cluster c = StartCluster(dir, 5, disk);
  ASSERT_NE(c.memory, nullptr);
  prefill::PrefillServerOptions po;
  po.core.model_path = c.model;
  po.ucx.transports = "tcp,self";
  po.memory_address = c.memory_address();
  auto p = prefill::PrefillServer::Start(po);
  ASSERT_TRUE(p.ok()) << p.status();
  const std::string prefill_address = "127.0.0.1:" + std::to_string((*p)->port());
  auto a = c.Decode(true);
  auto b = c.Decode(true);
  auto ref = c.Decode(false);
  ASSERT_TRUE(a && b && ref);
  const auto& tok = *a->core()->bundle().tokenizer;
  const auto prompts = Prompts(dir);
  const std::vector<int32_t> turn1 = tok.Encode(prompts[1], true, false);
  const std::vector<int32_t> answer1 = Generate(a.get(), "c1", turn1, 60);
  const int64_t stored = static_cast<int64_t>(turn1.size() + answer1.size() - 1) / 16;
  WaitForCommitted(c.memory->core(), stored);
  const std::vector<int32_t> other = tok.Encode(prompts[2], true, false);
  const std::vector<int32_t> other_answer = Generate(a.get(), "c2", other, 60);
  const int64_t other_stored = static_cast<int64_t>(other.size() + other_answer.size() - 1) / 16;
  WaitForCommitted(c.memory->core(), stored + other_stored);
  const memory::KvHistoryStats before = c.memory->core()->history()->stats();
  EXPECT_GT(before.spills, 0);
  EXPECT_GT(before.disk_blocks, 0);

  // Turn two of the first conversation on another decode node, prefilled by
  // the prefill node: both pull the stored prefix (reloaded from disk).
  const std::vector<int32_t> turn2 =
      Concat(Concat(turn1, answer1), tok.Encode(" The sun was warm.", false, false));
  const std::vector<int32_t> answer2 = Generate(b.get(), "c1-2", turn2, 24, prefill_address);
  const std::vector<int32_t> expected = Generate(ref.get(), "c1-2", turn2, 24);
  EXPECT_EQ(answer2, expected);
  const memory::KvHistoryStats after = c.memory->core()->history()->stats();
  EXPECT_GT(after.reloads, before.reloads);
  EXPECT_EQ(after.evictions, 0);  // spilled, not dropped

  // The decode node fetched the prefix, so the prefill node was asked only
  // for the rest; it fetched the same prefix for attention and computed only
  // the new tokens.
  const engine::EngineStats bs = b->core()->stats();
  EXPECT_EQ(bs.history_fetched_tokens, stored * 16);
  EXPECT_EQ(bs.prompt_tokens_computed, 0);
  EXPECT_EQ(bs.remote_prefill_failures, 0);
  const prefill::PrefillStats ps = (*p)->core()->stats();
  EXPECT_EQ(ps.tokens_from_history, stored * 16);
  EXPECT_EQ(ps.tokens_computed, static_cast<int64_t>(turn2.size()) - stored * 16);
  EXPECT_EQ(c.memory->core()->stats().open_leases, 0);
  (*p)->Shutdown();
}

// Compute Relevancy + Retrieval over a stored conversation through the
// MemoryNode RPCs, and the errors untrusted requests get.
TEST(KvHistory, SelectRelevantAndBadRequestsOverGrpc) {
  TRIPTYCH_REQUIRE_CONFORMANCE(dir);
  Cluster c = StartCluster(dir, 256, "");
  ASSERT_NE(c.memory, nullptr);
  auto a = c.Decode(true);
  ASSERT_TRUE(a);
  const auto& tok = *a->core()->bundle().tokenizer;
  const std::vector<int32_t> prompt = tok.Encode(Prompts(dir)[3], true, false);
  const std::vector<int32_t> answer = Generate(a.get(), "s1", prompt, 90);
  const std::vector<int32_t> all = Concat(prompt, answer);
  const int64_t stored = static_cast<int64_t>(all.size() - 1) / 16;
  ASSERT_GE(stored, 5);
  WaitForCommitted(c.memory->core(), stored);
  const std::vector<uint64_t> chain = kv::KvCache::ChainHashes(all, 16, stored);
  const model::ModelConfig& mc = a->core()->bundle().model->config();
  auto stub = v1::MemoryNode::NewStub(
      grpc::CreateChannel(c.memory_address(), grpc::InsecureChannelCredentials()));
  v1::SelectRelevantRequest req;
  *req.mutable_geometry() = memory_service::ShapeToProto(c.memory->core()->options().history.geometry);
  req.mutable_chain()->Add(chain.begin(), chain.end());
  req.set_num_heads(static_cast<uint32_t>(mc.num_heads));
  req.add_layers(static_cast<uint32_t>(mc.num_layers - 1));
  std::vector<float> q(static_cast<size_t>(mc.num_heads * mc.head_dim));
  for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<float>((i * 7919) % 13) - 6.0f;
  req.set_query(std::string(reinterpret_cast<const char*>(q.data()), q.size() * sizeof(float)));
  req.set_token_budget(3 * 16);
  req.set_sink_blocks(1);
  req.set_recent_blocks(1);
  {
    v1::SelectRelevantResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->SelectRelevant(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.hashes_size(), 3);
    EXPECT_EQ(resp.hashes(0), chain.front());  // the sink block
    EXPECT_EQ(resp.hashes(2), chain.back());   // the recent window
    EXPECT_EQ(resp.summary_bytes_scanned(),
              static_cast<uint64_t>(stored * mc.num_kv_heads * mc.head_dim * 2 * 4));
  }
  {
    v1::SelectRelevantRequest all_req = req;
    all_req.set_token_budget(static_cast<uint64_t>(stored * 16));
    v1::SelectRelevantResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->SelectRelevant(&ctx, all_req, &resp).ok());
    EXPECT_EQ(std::vector<uint64_t>(resp.hashes().begin(), resp.hashes().end()), chain);
  }
  auto code = [&](v1::SelectRelevantRequest r) {
    v1::SelectRelevantResponse resp;
    grpc::ClientContext ctx;
    return stub->SelectRelevant(&ctx, r, &resp).error_code();
  };
  v1::SelectRelevantRequest bad = req;
  bad.mutable_geometry()->set_head_dim(bad.geometry().head_dim() * 2);
  EXPECT_EQ(code(bad), grpc::StatusCode::FAILED_PRECONDITION);
  bad = req;
  bad.mutable_geometry()->set_dtype("bf8");
  EXPECT_EQ(code(bad), grpc::StatusCode::INVALID_ARGUMENT);
  bad = req;
  bad.set_query("abc");
  EXPECT_EQ(code(bad), grpc::StatusCode::INVALID_ARGUMENT);
  bad = req;
  bad.add_layers(999);
  EXPECT_EQ(code(bad), grpc::StatusCode::INVALID_ARGUMENT);
  bad = req;
  bad.add_chain(12345);  // not stored
  EXPECT_EQ(code(bad), grpc::StatusCode::NOT_FOUND);
  {
    v1::CloseLeaseRequest close;
    close.set_lease_id("forged");
    v1::CloseLeaseResponse resp;
    grpc::ClientContext ctx;
    EXPECT_EQ(stub->CloseLease(&ctx, close, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  // Nothing stored was lost to the bad requests.
  v1::LookupHistoryRequest lookup;
  *lookup.mutable_geometry() = req.geometry();
  lookup.mutable_chain()->Add(chain.begin(), chain.end());
  v1::LookupHistoryResponse found;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub->LookupHistory(&ctx, lookup, &found).ok());
  EXPECT_EQ(found.matched_blocks(), static_cast<uint32_t>(stored));
}

}  // namespace
}  // namespace triptych
