// Prefill and decode throughput of the runtime on one GGUF model, on the
// CPU or (--device gpu) the build's GPU runtime (runtime/device's
// DeviceModel: weights and the KV pool in device memory).
//
//   runtime_bench --model M.gguf [--device cpu|gpu] [--threads 1] [--batch 1]
//                 [--prompt 128] [--decode 32] [--bandwidth-gbs 32]
//
// Prefill: `batch` sequences of `prompt` tokens run in one forward batch.
// Decode: then `decode` steps, each one token for every sequence. Prints one
// JSON line with tokens/s and, for decode, the weight bytes read per step
// against the memory-bandwidth bound.

#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "CLI/CLI.hpp"
#include "common/thread_pool.h"
#include "kernels/quant.h"
#include "runtime/device/device.h"
#include "runtime/device/device_model.h"
#include "runtime/gguf/gguf_reader.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/model/model.h"

using namespace triptych;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  CLI::App app{"Triptych runtime prefill/decode benchmark"};
  std::string path, device_name = "cpu";
  int threads = 1, batch = 1;
  int64_t prompt = 128, decode = 32;
  double bandwidth_gbs = 32.0;
  app.add_option("--model", path)->required();
  app.add_option("--device", device_name,
                 "cpu, or gpu (this build's GPU runtime)");
  app.add_option("--threads", threads);
  app.add_option("--batch", batch);
  app.add_option("--prompt", prompt);
  app.add_option("--decode", decode);
  app.add_option("--bandwidth-gbs", bandwidth_gbs,
                 "Measured memory bandwidth for the bound (GB/s)");
  CLI11_PARSE(app, argc, argv);

  auto file = gguf::GgufFile::Open(path);
  if (!file.ok()) {
    std::fprintf(stderr, "%s\n", std::string(file.status().message()).c_str());
    return 1;
  }
  auto model = model::Model::Load(**file);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  const auto& cfg = (*model)->config();
  auto device = device::SelectDevice(device_name);
  if (!device.ok()) {
    std::fprintf(stderr, "%s\n",
                 std::string(device.status().message()).c_str());
    return 2;  // no such device here
  }
  std::unique_ptr<model::ForwardModel> on_device;
  const model::ForwardModel* fwd = model->get();
  if ((*device)->kind() != device::DeviceKind::kCpu) {
    auto d = device::DeviceModel::Create(**model, **device);
    if (!d.ok()) {
      std::fprintf(stderr, "%s\n", std::string(d.status().message()).c_str());
      return 1;
    }
    on_device = *std::move(d);
    fwd = on_device.get();
  }
  const int block = 16;
  const int64_t per_seq = (prompt + decode + block) / block + 1;
  auto cache = model::NewKvCache(
      *fwd, fwd->KvOptions(per_seq * batch, block, kv::KvDtype::kF16));
  if (!cache.ok()) {
    std::fprintf(stderr, "%s\n", std::string(cache.status().message()).c_str());
    return 1;
  }
  ThreadPool pool(threads);

  std::mt19937 rng(1);
  std::vector<std::vector<int32_t>> tokens(batch);
  std::vector<std::unique_ptr<kv::SequenceKv>> seqs;
  for (int b = 0; b < batch; ++b) {
    for (int64_t i = 0; i < prompt; ++i) tokens[b].push_back(rng() % cfg.vocab_size);
    seqs.push_back(std::make_unique<kv::SequenceKv>(cache->get()));
    if (!seqs[b]->Reserve(prompt + decode).ok()) return 1;
  }

  std::vector<model::SequenceBatch> pb(batch);
  for (int b = 0; b < batch; ++b) {
    pb[b].tokens = tokens[b];
    pb[b].start_pos = 0;
    pb[b].kv = seqs[b].get();
  }
  auto t0 = Clock::now();
  auto logits = fwd->Forward(pb, cache->get(), &pool);
  const double prefill_s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!logits.ok()) return 1;

  std::vector<int32_t> next(batch, 1);
  auto t1 = Clock::now();
  for (int64_t step = 0; step < decode; ++step) {
    std::vector<model::SequenceBatch> db(batch);
    for (int b = 0; b < batch; ++b) {
      next[b] = static_cast<int32_t>((step * 7919 + b) % cfg.vocab_size);
      db[b].tokens = absl::MakeConstSpan(&next[b], 1);
      db[b].start_pos = prompt + step;
      db[b].kv = seqs[b].get();
    }
    if (!fwd->Forward(db, cache->get(), &pool).ok()) return 1;
  }
  const double decode_s = std::chrono::duration<double>(Clock::now() - t1).count();

  const double weight_bytes = static_cast<double>((*model)->WeightBytesPerToken());
  const double step_s = decode_s / decode;
  const double bound_step_s = weight_bytes / (bandwidth_gbs * 1e9);
  std::printf(
      "{\"model\": \"%s\", \"device\": \"%s\", \"type\": \"%s\", \"isa\": "
      "\"%s\", "
      "\"threads\": %d, "
      "\"batch\": %d, \"prompt\": %lld, \"prefill_tok_s\": %.1f, "
      "\"decode_tok_s\": %.2f, \"decode_ms_per_step\": %.2f, "
      "\"weight_bytes_per_step\": %.0f, \"bandwidth_gbs\": %.1f, "
      "\"fraction_of_bandwidth_bound\": %.3f}\n",
      cfg.name.c_str(), fwd->device().c_str(),
      std::string(kernels::TypeName((*model)->weight_type())).c_str(),
      kernels::IsaName(kernels::BestIsa()), threads, batch,
      static_cast<long long>(prompt), batch * prompt / prefill_s,
      batch * decode / decode_s, step_s * 1e3, weight_bytes, bandwidth_gbs,
      bound_step_s / step_s);
  return 0;
}
