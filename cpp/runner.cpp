#include "runner.h"

#include <chrono>
#include <cstring>

#include "etbench-ffi/src/bridge.rs.h"

#include <executorch/devtools/etdump/etdump_flatcc.h>
#include <executorch/runtime/core/exec_aten/util/scalar_type_util.h>

#include <cstdio>
#include <cstdlib>

// The wheel ships the threadpool library but not `threadpool.h`; these exported symbols are all we need.
namespace executorch::extension::threadpool {
class ThreadPool {
 public:
  size_t get_thread_count() const;
  bool _unsafe_reset_threadpool(uint32_t num_threads);
};
ThreadPool* get_threadpool();
}  // namespace executorch::extension::threadpool

namespace etbench {

using executorch::extension::module::Module;
using executorch::runtime::Error;
using executorch::runtime::Tag;

namespace {

Status make_status(Error error, const char* what, uint64_t elapsed_ns = 0) {
  Status status;
  status.ok = error == Error::Ok;
  status.code = static_cast<uint32_t>(error);
  status.message = status.ok ? rust::String() : rust::String(what);
  status.elapsed_ns = elapsed_ns;
  return status;
}

Status ok_status(uint64_t elapsed_ns = 0) { return make_status(Error::Ok, "", elapsed_ns); }

uint64_t nanos_since(std::chrono::steady_clock::time_point start) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
}

Module::LoadMode to_load_mode(uint8_t mode) {
  switch (mode) {
    case 1:
      return Module::LoadMode::File;
    case 2:
      return Module::LoadMode::MmapUseMlock;
    default:
      return Module::LoadMode::Mmap;
  }
}

TensorInfo describe(const executorch::runtime::TensorInfo& info) {
  TensorInfo out;
  out.is_tensor = true;
  out.tag = static_cast<int32_t>(Tag::Tensor);
  out.scalar_type = static_cast<int32_t>(info.scalar_type());
  for (int32_t size : info.sizes()) out.sizes.push_back(size);
  return out;
}

TensorInfo not_a_tensor(int32_t tag = -1) {
  TensorInfo out;
  out.is_tensor = false;
  out.tag = tag;
  out.scalar_type = -1;
  return out;
}

}  // namespace

EtRunner::EtRunner(std::string path, uint8_t load_mode, bool profile, bool share_arenas)
    : module_(std::move(path), to_load_mode(load_mode),
              profile ? std::make_unique<executorch::etdump::ETDumpGen>() : nullptr, nullptr, nullptr, share_arenas) {}

std::unique_ptr<EtRunner> new_runner(rust::Str path, uint8_t load_mode, bool profile, bool share_arenas) {
  return std::make_unique<EtRunner>(std::string(path), load_mode, profile, share_arenas);
}

Status EtRunner::write_etdump(rust::Str path) {
  auto* tracer = static_cast<executorch::etdump::ETDumpGen*>(module_.event_tracer());
  if (tracer == nullptr) return make_status(Error::InvalidState, "profiling was not enabled");
  executorch::etdump::ETDumpResult dump = tracer->get_etdump_data();
  if (dump.buf == nullptr || dump.size == 0) return make_status(Error::NotFound, "the ETDump is empty");
  std::FILE* file = std::fopen(std::string(path).c_str(), "wb");
  bool ok = file != nullptr && std::fwrite(dump.buf, 1, dump.size, file) == dump.size;
  if (file != nullptr) ok = std::fclose(file) == 0 && ok;
  std::free(dump.buf);
  return make_status(ok ? Error::Ok : Error::AccessFailed, "could not write the ETDump file");
}

Status EtRunner::load_program() {
  auto start = std::chrono::steady_clock::now();
  Error error = module_.load();
  return make_status(error, "Program::load failed", nanos_since(start));
}

rust::Vec<rust::String> EtRunner::method_names() {
  rust::Vec<rust::String> names;
  auto result = module_.method_names();
  if (result.ok()) {
    for (const auto& name : *result) names.push_back(rust::String(name));
  }
  return names;
}

Status EtRunner::load_method(rust::Str name) {
  auto start = std::chrono::steady_clock::now();
  Error error = module_.load_method(std::string(name));
  return make_status(error, "Method load failed", nanos_since(start));
}

MethodInfo EtRunner::method_info(rust::Str name) {
  MethodInfo info;
  auto meta = module_.method_meta(std::string(name));
  if (!meta.ok()) {
    info.status = make_status(meta.error(), "method_meta failed");
    return info;
  }
  for (size_t i = 0; i < meta->num_inputs(); ++i) {
    auto tag = meta->input_tag(i);
    auto tensor = meta->input_tensor_meta(i);
    if (tag.ok() && *tag == Tag::Tensor && tensor.ok()) {
      info.inputs.push_back(describe(*tensor));
    } else {
      info.inputs.push_back(not_a_tensor(tag.ok() ? static_cast<int32_t>(*tag) : -1));
    }
  }
  for (size_t i = 0; i < meta->num_outputs(); ++i) {
    auto tag = meta->output_tag(i);
    auto tensor = meta->output_tensor_meta(i);
    if (tag.ok() && *tag == Tag::Tensor && tensor.ok()) {
      info.outputs.push_back(describe(*tensor));
    } else {
      info.outputs.push_back(not_a_tensor(tag.ok() ? static_cast<int32_t>(*tag) : -1));
    }
  }
  info.status = ok_status();
  return info;
}

Status EtRunner::set_input(size_t index, int32_t scalar_type, rust::Slice<const uint8_t> data,
                           rust::Slice<const int32_t> sizes) {
  auto type = static_cast<executorch::aten::ScalarType>(scalar_type);
  std::vector<executorch::aten::SizesType> shape(sizes.begin(), sizes.end());
  size_t numel = 1;
  for (auto size : shape) numel *= static_cast<size_t>(size);
  if (numel * executorch::runtime::elementSize(type) != data.size()) {
    return make_status(Error::InvalidArgument, "input byte count does not match its shape and dtype");
  }
  reserve_input(index);
  input_buffers_[index].assign(data.begin(), data.end());
  input_tensors_[index] = executorch::extension::make_tensor_ptr(std::move(shape), input_buffers_[index].data(), type);
  inputs_[index] = executorch::runtime::EValue(*input_tensors_[index]);
  return ok_status();
}

void EtRunner::reserve_input(size_t index) {
  if (input_buffers_.size() <= index) {
    input_buffers_.resize(index + 1);
    input_tensors_.resize(index + 1);
    inputs_.resize(index + 1);
  }
}

Status EtRunner::set_scalar_input(size_t index, int32_t tag, int64_t int_value, double double_value) {
  reserve_input(index);
  switch (static_cast<Tag>(tag)) {
    case Tag::Int:
      inputs_[index] = executorch::runtime::EValue(int_value);
      break;
    case Tag::Double:
      inputs_[index] = executorch::runtime::EValue(double_value);
      break;
    case Tag::Bool:
      inputs_[index] = executorch::runtime::EValue(int_value != 0);
      break;
    default:
      return make_status(Error::InvalidArgument, "only Int, Double and Bool scalar inputs can be fed");
  }
  return ok_status();
}

Status EtRunner::execute_timed(rust::Str name, uint32_t iterations, rust::Vec<uint64_t>& latencies_ns) {
  const std::string method(name);
  latencies_ns.reserve(latencies_ns.size() + iterations);
  auto phase_start = std::chrono::steady_clock::now();
  for (uint32_t i = 0; i < iterations; ++i) {
    auto start = std::chrono::steady_clock::now();
    auto result = module_.execute(method, inputs_);
    auto end = std::chrono::steady_clock::now();
    if (!result.ok()) {
      return make_status(result.error(), "Method execute failed", nanos_since(phase_start));
    }
    latencies_ns.push_back(
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count()));
    outputs_ = std::move(*result);
  }
  return ok_status(nanos_since(phase_start));
}

ConstValue EtRunner::constant_value(rust::Str name) {
  ConstValue value;
  value.tag = -1;
  value.double_value = 0.0;
  auto result = module_.execute(std::string(name));
  if (!result.ok()) {
    value.status = make_status(result.error(), "constant method failed");
    return value;
  }
  if (result->empty()) {
    value.status = make_status(Error::InvalidProgram, "a constant method returned no value");
    return value;
  }
  if (result->size() > 1) {
    // A list of several values is emitted as one output per element.
    value.tag = static_cast<int32_t>(Tag::ListInt);
    for (const auto& out : *result) {
      if (!out.isInt()) {
        value.status = make_status(Error::InvalidType, "a constant method returned several values that are not all ints");
        return value;
      }
      value.ints.push_back(out.toInt());
    }
    value.status = ok_status();
    return value;
  }
  const auto& out = (*result)[0];
  value.tag = static_cast<int32_t>(out.tag);
  if (out.isInt()) {
    value.ints.push_back(out.toInt());
  } else if (out.isBool()) {
    value.ints.push_back(out.toBool() ? 1 : 0);
  } else if (out.isDouble()) {
    value.double_value = out.toDouble();
  } else if (out.isString()) {
    auto text = out.toString();
    value.text = rust::String(text.data(), text.size());
  } else if (out.isIntList()) {
    for (int64_t v : out.toIntList()) value.ints.push_back(v);
  } else if (out.isTensor()) {
    const auto& t = out.toTensor();
    if (t.scalar_type() == executorch::aten::ScalarType::Long) {
      const int64_t* data = t.const_data_ptr<int64_t>();
      for (ssize_t i = 0; i < t.numel(); ++i) value.ints.push_back(data[i]);
    } else if (t.scalar_type() == executorch::aten::ScalarType::Int) {
      const int32_t* data = t.const_data_ptr<int32_t>();
      for (ssize_t i = 0; i < t.numel(); ++i) value.ints.push_back(data[i]);
    } else if (t.scalar_type() == executorch::aten::ScalarType::Bool) {
      const bool* data = t.const_data_ptr<bool>();
      for (ssize_t i = 0; i < t.numel(); ++i) value.ints.push_back(data[i] ? 1 : 0);
    }
  }
  value.status = ok_status();
  return value;
}

size_t EtRunner::num_outputs() const { return outputs_.size(); }

TensorInfo EtRunner::output_info(size_t index) const {
  if (index >= outputs_.size() || !outputs_[index].isTensor()) return not_a_tensor(index < outputs_.size() ? static_cast<int32_t>(outputs_[index].tag) : -1);
  const auto& tensor = outputs_[index].toTensor();
  TensorInfo out;
  out.is_tensor = true;
  out.tag = static_cast<int32_t>(Tag::Tensor);
  out.scalar_type = static_cast<int32_t>(tensor.scalar_type());
  for (auto size : tensor.sizes()) out.sizes.push_back(size);
  return out;
}

rust::Slice<const uint8_t> EtRunner::output_bytes(size_t index) const {
  if (index >= outputs_.size() || !outputs_[index].isTensor()) return {};
  const auto& tensor = outputs_[index].toTensor();
  return {static_cast<const uint8_t*>(tensor.const_data_ptr()), tensor.nbytes()};
}

uint32_t set_thread_count(uint32_t threads) {
  auto* pool = executorch::extension::threadpool::get_threadpool();
  if (pool == nullptr) return 0;
  if (threads > 0) pool->_unsafe_reset_threadpool(threads);
  return static_cast<uint32_t>(pool->get_thread_count());
}

uint32_t thread_count() {
  auto* pool = executorch::extension::threadpool::get_threadpool();
  return pool == nullptr ? 0 : static_cast<uint32_t>(pool->get_thread_count());
}

}  // namespace etbench
