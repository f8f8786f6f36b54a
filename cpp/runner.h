// etbench's C++ runner core: one class owning an ExecuTorch `Module`, and nothing else.
//
// Policy (phases, memory probes, statistics, output checks, the protocol) lives in Rust. C++ does what must happen
// next to the runtime: load, describe methods, hold the inputs, and the timed `execute` loop itself, so that the
// clock brackets `execute` and nothing else. ExecuTorch reports failures as `runtime::Error` codes, never
// exceptions; every call here returns a `Status` carrying that code.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rust/cxx.h"

#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor_ptr.h>

namespace etbench {

// Shared with Rust; defined by the cxx bridge.
struct Status;
struct TensorInfo;
struct MethodInfo;
struct TimedLoop;
struct ConstValue;

class EtRunner {
 public:
  // With `profile`, an ETDump event tracer records every operator and delegate event of every execute.
  // With `share_arenas`, every method of the program shares one set of planned buffers, so methods exported with
  // shared mutable buffers (separate prefill and decode methods over one KV cache) see the same state.
  EtRunner(std::string path, uint8_t load_mode, bool profile, bool share_arenas);

  Status load_program();
  rust::Vec<rust::String> method_names();
  Status load_method(rust::Str name);
  MethodInfo method_info(rust::Str name);
  // Copies `data` (raw little-endian elements of `scalar_type`) into an input tensor of `sizes`.
  Status set_input(size_t index, int32_t scalar_type, rust::Slice<const uint8_t> data,
                   rust::Slice<const int32_t> sizes);
  // Sets a non-tensor input: `tag` is ExecuTorch's `Tag` (Int, Double or Bool); the matching value is used.
  Status set_scalar_input(size_t index, int32_t tag, int64_t int_value, double double_value);
  // Runs `execute` `iterations` times, appending one monotonic-clock latency per call.
  Status execute_timed(rust::Str name, uint32_t iterations, rust::Vec<uint64_t>& latencies_ns);
  // Executes a constant (metadata) method and returns its single output value.
  ConstValue constant_value(rust::Str name);
  size_t num_outputs() const;
  TensorInfo output_info(size_t index) const;
  rust::Slice<const uint8_t> output_bytes(size_t index) const;
  // Writes the ETDump collected so far (requires `profile`).
  Status write_etdump(rust::Str path);

 private:
  executorch::extension::module::Module module_;
  std::vector<std::vector<uint8_t>> input_buffers_;
  std::vector<executorch::extension::TensorPtr> input_tensors_;
  std::vector<executorch::runtime::EValue> inputs_;
  std::vector<executorch::runtime::EValue> outputs_;

  void reserve_input(size_t index);
};

std::unique_ptr<EtRunner> new_runner(rust::Str path, uint8_t load_mode, bool profile, bool share_arenas);

// Sets the size of ExecuTorch's CPU threadpool (used by XNNPACK and the optimized kernels); returns the new count.
uint32_t set_thread_count(uint32_t threads);
uint32_t thread_count();

// The baseline etbench is measured against: a bare `Module::forward` loop, no etbench code in between.
TimedLoop bare_forward_loop(rust::Str path, uint32_t warmup, uint32_t iterations);

// The decode baseline: prefill `prompt` in one `forward(tokens, input_pos)` call, then `steps` greedy decode steps,
// each `Module::forward({token, input_pos})` timed alone; no etbench code in between.
TimedLoop bare_decode_loop(rust::Str path, rust::Slice<const int64_t> prompt, uint32_t steps);

}  // namespace etbench
