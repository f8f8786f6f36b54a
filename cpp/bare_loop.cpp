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
