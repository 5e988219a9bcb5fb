// triptych-run: generate text from a GGUF model on the CPU or, with
// --device gpu, on the build's GPU runtime (hip, cuda or hip-cpu) through
// the device model (runtime/device/device_model.h).
//
// Prints the prompt followed by the generated text on stdout and nothing
// else; load and speed figures go to stderr.

#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>

#include "CLI/CLI.hpp"
#include "runtime/engine/engine.h"
#include "runtime/device/device_model.h"
#include "runtime/engine/model_bundle.h"
#include "runtime/model/sparse_attention.h"

namespace {

using Clock = std::chrono::steady_clock;

int Run(int argc, char** argv) {
  CLI::App app{"Generate text from a GGUF model (Triptych runtime)"};
  app.set_version_flag("--version",
                       std::string("triptych-run (GPU runtime: ") +
                           triptych::device::GpuRuntime() + ")");
  std::string device_flag = "cpu";
  app.add_option("--device", device_flag,
                 "Where the forward pass runs: cpu, or gpu (this build's GPU "
                 "runtime; also hip / cuda by name)");
  std::string model_path, prompt;
  int64_t n_predict = 64;
  float temp = 0.8f, top_p = 1.0f, min_p = 0.0f, repeat_penalty = 1.0f;
  int top_k = 0, threads = 1;
  int64_t seed = -1;
  bool kv_f32 = false, verbose = false;
  app.add_option("-m,--model", model_path, "GGUF model file")->required();
  app.add_option("-p,--prompt", prompt, "Prompt text")->required();
  app.add_option("-n,--n-predict", n_predict, "Tokens to generate")->check(CLI::Range(1, 1 << 20));
  app.add_option("--temp", temp, "Temperature (0 = greedy)")->check(CLI::Range(0.0, 2.0));
  app.add_option("--top-k", top_k, "Top-k (0 = off)");
  app.add_option("--top-p", top_p, "Top-p");
  app.add_option("--min-p", min_p, "Min-p");
  app.add_option("--repeat-penalty", repeat_penalty, "Repetition penalty");
  app.add_option("--seed", seed, "RNG seed (-1 = random)");
  app.add_option("-t,--threads", threads, "Threads")->check(CLI::Range(1, 256));
  app.add_flag("--kv-f32", kv_f32, "Keep the KV cache in F32 instead of F16");
  app.add_flag("-v,--verbose", verbose, "Print timings to stderr");
  std::string sparse_attention = "off";
  app.add_option("--sparse-attention", sparse_attention,
                 "Quest sparse attention in decode over long contexts: "
                 "budget=TOKENS[,dense_layers=2,sink=1,recent=4], or off");
  CLI11_PARSE(app, argc, argv);
  auto sparse = triptych::model::ParseSparseAttention(sparse_attention);
  if (!sparse.ok()) {
    std::cerr << "error: --sparse-attention: " << sparse.status().message() << "\n";
    return 2;
  }

  const auto t0 = Clock::now();
  // The device first: a missing GPU is an error before any loading.
  auto device = triptych::device::SelectDevice(device_flag);
  if (!device.ok()) {
    std::cerr << "error: " << device.status().message() << "\n";
    return 1;
  }
  auto bundle = triptych::engine::ModelBundle::Load(model_path);
  if (!bundle.ok()) {
    std::cerr << "error: " << bundle.status().message() << "\n";
    return 1;
  }
  const triptych::model::ForwardModel* forward = (*bundle)->model.get();
  std::unique_ptr<triptych::device::DeviceModel> device_model;
  if ((*device)->kind() != triptych::device::DeviceKind::kCpu) {
    auto dm = triptych::device::DeviceModel::Create(*(*bundle)->model, **device);
    if (!dm.ok()) {
      std::cerr << "error: " << dm.status().message() << "\n";
      return 1;
    }
    device_model = *std::move(dm);
    forward = device_model.get();
  }
  if (verbose) std::fprintf(stderr, "device: %s\n", forward->device().c_str());
  const auto& tok = *(*bundle)->tokenizer;
  std::vector<int32_t> ids = tok.Encode(prompt, /*add_special=*/true,
                                        /*parse_special=*/false);
  const auto& cfg = (*bundle)->model->config();

  triptych::engine::EngineOptions eo;
  eo.num_threads = threads;
  eo.max_running = 1;
  eo.kv_dtype = kv_f32 ? triptych::kv::KvDtype::kF32 : triptych::kv::KvDtype::kF16;
  const int64_t total = std::min<int64_t>(cfg.context_length,
                                          static_cast<int64_t>(ids.size()) + n_predict + 1);
  eo.num_kv_blocks = (total + eo.block_size - 1) / eo.block_size + 1;
  eo.max_batch_tokens = 512;
  eo.sparse_attention = *sparse;
  auto engine = triptych::engine::Engine::Create(forward, &tok, eo);
  if (!engine.ok()) {
    std::cerr << "error: " << engine.status().message() << "\n";
    return 1;
  }
  triptych::engine::GenerationRequest req;
  req.id = "cli";
  req.prompt = ids;
  req.max_tokens = n_predict;
  req.sampling.temperature = temp;
  req.sampling.top_k = top_k;
  req.sampling.top_p = top_p;
  req.sampling.min_p = min_p;
  req.sampling.repetition_penalty = repeat_penalty;
  req.sampling.seed = seed >= 0 ? static_cast<uint64_t>(seed) : std::random_device{}();
  if (auto st = (*engine)->Add(std::move(req)); !st.ok()) {
    std::cerr << "error: " << st.message() << "\n";
    return 1;
  }
  const auto t1 = Clock::now();
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  std::fflush(stdout);
  int64_t generated = 0;
  Clock::time_point first_token;
  bool done = false;
  while (!done && (*engine)->HasWork()) {
    for (const auto& o : (*engine)->Step()) {
      if (o.token >= 0) {
        if (generated++ == 0) first_token = Clock::now();
      }
      std::fwrite(o.text.data(), 1, o.text.size(), stdout);
      std::fflush(stdout);
      if (o.finish == triptych::engine::FinishReason::kError) {
        std::cerr << "\nerror: " << o.error << "\n";
        return 1;
      }
      if (o.finish != triptych::engine::FinishReason::kNone) done = true;
    }
  }
  const auto t2 = Clock::now();
  if (verbose) {
    auto ms = [](auto d) {
      return std::chrono::duration<double, std::milli>(d).count();
    };
    std::fprintf(stderr,
                 "\nload %.1f ms | prompt %zu tokens in %.1f ms | %lld tokens, "
                 "%.2f tokens/s after the first\n",
                 ms(t1 - t0), ids.size(), ms(first_token - t1),
                 static_cast<long long>(generated),
                 generated > 1 ? (generated - 1) / (ms(t2 - first_token) / 1000.0)
                               : 0.0);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
