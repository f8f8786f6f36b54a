// The baseline for etbench's overhead benchmark: the shortest honest ExecuTorch loop, written as a user of the
// runtime would write it. No etbench code runs between the clock reads.
#include <chrono>

#include "runner.h"
#include "etbench-ffi/src/bridge.rs.h"

namespace etbench {

TimedLoop bare_forward_loop(rust::Str path, uint32_t warmup, uint32_t iterations) {
  using executorch::extension::module::Module;
  TimedLoop out;
  out.status.ok = false;
  out.status.code = 0;
  out.status.elapsed_ns = 0;
  Module module(std::string(path), Module::LoadMode::Mmap);
  auto error = module.load_method("forward");
  if (error != executorch::runtime::Error::Ok) {
    out.status.code = static_cast<uint32_t>(error);
    out.status.message = "load_method(forward) failed";
    return out;
  }
  // Same default input as the runner: ids[i] = 2 + (i * 31) % 509, shape [1, 32].
  std::vector<int64_t> ids(32);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = 2 + static_cast<int64_t>(i * 31 % 509);
  std::vector<executorch::aten::SizesType> sizes{1, 32};
  auto input = executorch::extension::make_tensor_ptr(std::move(sizes), std::move(ids));
  for (uint32_t i = 0; i < warmup; ++i) {
    if (!module.forward(input).ok()) {
      out.status.message = "forward failed during warm-up";
      return out;
    }
  }
  for (uint32_t i = 0; i < iterations; ++i) {
    auto start = std::chrono::steady_clock::now();
    auto result = module.forward(input);
    auto end = std::chrono::steady_clock::now();
    if (!result.ok()) {
      out.status.code = static_cast<uint32_t>(result.error());
      out.status.message = "forward failed";
      return out;
    }
    out.latencies_ns.push_back(
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count()));
  }
  out.status.ok = true;
  return out;
}

}  // namespace etbench

namespace etbench {

TimedLoop bare_decode_loop(rust::Str path, rust::Slice<const int64_t> prompt, uint32_t steps) {
  using executorch::extension::module::Module;
  using executorch::extension::make_tensor_ptr;
  TimedLoop out;
  out.status.ok = false;
  out.status.code = 0;
  out.status.elapsed_ns = 0;
  Module module(std::string(path), Module::LoadMode::Mmap);
  auto error = module.load_method("forward");
  if (error != executorch::runtime::Error::Ok || prompt.empty()) {
    out.status.code = static_cast<uint32_t>(error);
    out.status.message = "load_method(forward) failed, or an empty prompt";
    return out;
  }
  // Greedy argmax over the last row of float32 logits.
  auto next_token = [](const executorch::aten::Tensor& logits) {
    const int64_t vocab = logits.size(logits.dim() - 1);
    const float* row = logits.const_data_ptr<float>() + (logits.numel() - vocab);
    int64_t best = 0;
    for (int64_t i = 1; i < vocab; ++i) {
      if (row[i] > row[best]) best = i;
    }
    return best;
  };
  // Prefill: the whole prompt in one call at position 0 (sizes computed before the data is moved).
  std::vector<int64_t> ids(prompt.begin(), prompt.end());
  std::vector<executorch::aten::SizesType> sizes{1, static_cast<executorch::aten::SizesType>(ids.size())};
  auto tokens = make_tensor_ptr(std::move(sizes), std::move(ids));
  auto pos = make_tensor_ptr(std::vector<executorch::aten::SizesType>{1}, std::vector<int64_t>{0});
  auto result = module.forward({tokens, pos});
  if (!result.ok()) {
    out.status.code = static_cast<uint32_t>(result.error());
    out.status.message = "prefill forward failed";
    return out;
  }
  int64_t token = next_token((*result)[0].toTensor());
  int64_t position = static_cast<int64_t>(prompt.size());
  for (uint32_t i = 0; i < steps; ++i) {
    auto step_tokens = make_tensor_ptr(std::vector<executorch::aten::SizesType>{1, 1}, std::vector<int64_t>{token});
    auto step_pos = make_tensor_ptr(std::vector<executorch::aten::SizesType>{1}, std::vector<int64_t>{position});
    auto start = std::chrono::steady_clock::now();
    auto step = module.forward({step_tokens, step_pos});
    auto end = std::chrono::steady_clock::now();
    if (!step.ok()) {
      out.status.code = static_cast<uint32_t>(step.error());
      out.status.message = "decode forward failed";
      return out;
    }
    out.latencies_ns.push_back(
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count()));
    token = next_token((*step)[0].toTensor());
    ++position;
  }
  out.status.ok = true;
  return out;
}

}  // namespace etbench
