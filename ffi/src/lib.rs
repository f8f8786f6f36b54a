//! Safe Rust face of the ExecuTorch runtime for `etbench-runner`: an [`Engine`] that loads a program, describes a
//! method, holds inputs and runs the timed loop. Errors carry ExecuTorch's error code and name.

mod bridge;
pub mod conditions;
pub mod energy;
pub mod inputs;
pub mod memory;

use bridge::ffi;
use etbench_protocol::{Dtype, LoadMode, TensorSpec, ValueKind};

pub use bridge::ffi::TimedLoop;

/// The ExecuTorch release this runner was built against (from the SDK's `version.py`).
pub const EXECUTORCH_VERSION: &str = env!("ETBENCH_EXECUTORCH_VERSION");
/// The Rust target triple this runner was built for.
pub const TARGET: &str = env!("ETBENCH_TARGET");

/// A failed runtime call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{what}: ExecuTorch error {code:#x} ({name})")]
pub struct RuntimeError {
    pub what: String,
    pub code: u32,
    pub name: &'static str,
}

impl RuntimeError {
    fn from_status(status: &ffi::Status) -> Self {
        Self { what: status.message.clone(), code: status.code, name: error_name(status.code) }
    }
}

/// Names of `executorch::runtime::Error` codes (runtime/core/error.h).
pub fn error_name(code: u32) -> &'static str {
    match code {
        0x00 => "Ok",
        0x01 => "Internal",
        0x02 => "InvalidState",
        0x03 => "EndOfMethod",
        0x10 => "NotSupported",
        0x11 => "NotImplemented",
        0x12 => "InvalidArgument",
        0x13 => "InvalidType",
        0x14 => "OperatorMissing",
        0x15 => "RegistrationExceedingMaxKernels",
        0x16 => "RegistrationAlreadyRegistered",
        0x20 => "NotFound",
        0x21 => "MemoryAllocationFailed",
        0x22 => "AccessFailed",
        0x23 => "InvalidProgram",
        0x24 => "InvalidExternalData",
        0x25 => "OutOfResources",
        0x30 => "DelegateInvalidCompatibility",
        0x31 => "DelegateMemoryAllocationFailed",
        0x32 => "DelegateInvalidHandle",
        _ => "Unknown",
    }
}

fn check(status: ffi::Status) -> Result<u64, RuntimeError> {
    if status.ok {
        Ok(status.elapsed_ns)
    } else {
        Err(RuntimeError::from_status(&status))
    }
}

fn load_mode_code(mode: LoadMode) -> u8 {
    match mode {
        LoadMode::Mmap => 0,
        LoadMode::File => 1,
        LoadMode::Mlock => 2,
    }
}

/// ExecuTorch's `Tag` codes (runtime/core/tag.h) for the values a runner can feed.
const TAG_TENSOR: i32 = 1;
const TAG_DOUBLE: i32 = 3;
const TAG_INT: i32 = 4;
const TAG_BOOL: i32 = 5;
const TAG_STRING: i32 = 2;

fn kind(tag: i32) -> ValueKind {
    match tag {
        TAG_TENSOR => ValueKind::Tensor,
        TAG_DOUBLE => ValueKind::Double,
        TAG_INT => ValueKind::Int,
        TAG_BOOL => ValueKind::Bool,
        _ => ValueKind::Other,
    }
}

fn spec(info: &ffi::TensorInfo) -> TensorSpec {
    TensorSpec {
        kind: if info.is_tensor { ValueKind::Tensor } else { kind(info.tag) },
        dtype: info.is_tensor.then(|| Dtype::from_scalar_type(info.scalar_type)),
        sizes: info.sizes.clone(),
    }
}

/// A non-tensor input value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar {
    Int(i64),
    Double(f64),
    Bool(bool),
}

/// ExecuTorch's `ScalarType` code for a dtype the runner can build inputs of.
pub fn scalar_type_code(dtype: Dtype) -> Option<i32> {
    Some(match dtype {
        Dtype::Uint8 => 0,
        Dtype::Int8 => 1,
        Dtype::Int16 => 2,
        Dtype::Int32 => 3,
        Dtype::Int64 => 4,
        Dtype::Float16 => 5,
        Dtype::Float32 => 6,
        Dtype::Float64 => 7,
        Dtype::Bool => 11,
        Dtype::Bfloat16 => 15,
        Dtype::Other(_) => return None,
    })
}

/// The specs of a method's inputs and outputs.
#[derive(Debug, Clone)]
pub struct MethodSpecs {
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
}

/// One loaded program. Not `Sync`: ExecuTorch's `Module` does no internal locking.
pub struct Engine {
    inner: cxx::UniquePtr<ffi::EtRunner>,
}

impl Engine {
    /// Creates the module; nothing is read from disk until [`Engine::load_program`].
    pub fn new(path: &str, mode: LoadMode) -> Self {
        Self::with_profiling(path, mode, false)
    }

    /// With `profile`, an ETDump event tracer records operator and delegate events (costs some time per op).
    pub fn with_profiling(path: &str, mode: LoadMode, profile: bool) -> Self {
        Self { inner: ffi::new_runner(path, load_mode_code(mode), profile, false) }
    }

    /// For LLM programs: every method shares the planned memory (ExecuTorch's `share_memory_arenas`), as programs
    /// whose `prefill` and `decode` methods share one KV cache (`share_mutable_buffers`) need; a method's outputs are
    /// then valid only until another method executes.
    pub fn for_generation(path: &str, mode: LoadMode) -> Self {
        Self { inner: ffi::new_runner(path, load_mode_code(mode), false, true) }
    }

    /// Writes the collected ETDump to `path`.
    pub fn write_etdump(&mut self, path: &str) -> Result<(), RuntimeError> {
        check(self.pin().write_etdump(path)).map(|_| ())
    }

    fn pin(&mut self) -> std::pin::Pin<&mut ffi::EtRunner> {
        self.inner.pin_mut()
    }

    /// Loads the program; returns the time `Program::load` took.
    pub fn load_program(&mut self) -> Result<u64, RuntimeError> {
        check(self.pin().load_program())
    }

    /// Method names, sorted (empty before a successful load).
    pub fn method_names(&mut self) -> Vec<String> {
        let mut names = self.pin().method_names();
        names.sort();
        names
    }

    pub fn method_specs(&mut self, method: &str) -> Result<MethodSpecs, RuntimeError> {
        let info = self.pin().method_info(method);
        check(info.status)?;
        Ok(MethodSpecs {
            inputs: info.inputs.iter().map(spec).collect(),
            outputs: info.outputs.iter().map(spec).collect(),
        })
    }

    /// Loads (initialises) a method; returns the time it took.
    pub fn load_method(&mut self, method: &str) -> Result<u64, RuntimeError> {
        check(self.pin().load_method(method))
    }

    /// Sets input `index` from raw little-endian element bytes.
    pub fn set_input(&mut self, index: usize, dtype: Dtype, bytes: &[u8], sizes: &[i64]) -> Result<(), RuntimeError> {
        let code = scalar_type_code(dtype).ok_or_else(|| RuntimeError {
            what: format!("inputs of dtype {} are not supported", dtype.name()),
            code: 0x12,
            name: "InvalidArgument",
        })?;
        let sizes: Vec<i32> = sizes.iter().map(|&s| s as i32).collect();
        check(self.pin().set_input(index, code, bytes, &sizes)).map(|_| ())
    }

    /// Sets non-tensor input `index`.
    pub fn set_scalar_input(&mut self, index: usize, value: Scalar) -> Result<(), RuntimeError> {
        let (tag, int, double) = match value {
            Scalar::Int(v) => (TAG_INT, v, 0.0),
            Scalar::Double(v) => (TAG_DOUBLE, 0, v),
            Scalar::Bool(v) => (TAG_BOOL, v as i64, 0.0),
        };
        check(self.pin().set_scalar_input(index, tag, int, double)).map(|_| ())
    }

    /// Runs `execute` `iterations` times; each latency is measured in C++ around `execute` alone.
    /// On failure the latencies measured before it are still in `latencies_ns`.
    pub fn execute_timed(
        &mut self,
        method: &str,
        iterations: u32,
        latencies_ns: &mut Vec<u64>,
    ) -> Result<u64, RuntimeError> {
        check(self.pin().execute_timed(method, iterations, latencies_ns))
    }

    /// Runs a constant (metadata) method, e.g. `get_max_seq_len`, and returns its value.
    pub fn constant_value(&mut self, method: &str) -> Result<etbench_protocol::MetaValue, RuntimeError> {
        use etbench_protocol::MetaValue;
        let v = self.pin().constant_value(method);
        check(v.status.clone())?;
        Ok(match v.tag {
            TAG_INT => MetaValue::Int(v.ints.first().copied().unwrap_or(0)),
            TAG_BOOL => MetaValue::Bool(v.ints.first().is_some_and(|&b| b != 0)),
            TAG_DOUBLE => MetaValue::Double(v.double_value),
            TAG_STRING => MetaValue::Text(v.text),
            _ => MetaValue::Ints(v.ints),
        })
    }

    /// The outputs of the last successful `execute`: spec and raw bytes.
    pub fn outputs(&self) -> Vec<(TensorSpec, &[u8])> {
        (0..self.inner.num_outputs()).map(|i| (spec(&self.inner.output_info(i)), self.inner.output_bytes(i))).collect()
    }
}

/// Resizes ExecuTorch's CPU threadpool (0 keeps the runtime's default); returns the effective count.
pub fn set_threads(threads: u32) -> u32 {
    ffi::set_thread_count(threads)
}

pub fn threads() -> u32 {
    ffi::thread_count()
}

/// The overhead baseline: a bare C++ `Module::forward` loop on input `[1, 32]` int64.
pub fn bare_forward_loop(path: &str, warmup: u32, iterations: u32) -> Result<Vec<u64>, RuntimeError> {
    let result = ffi::bare_forward_loop(path, warmup, iterations);
    check(result.status)?;
    Ok(result.latencies_ns)
}
pub mod generate;
pub mod output;
pub mod run;

/// The decode baseline: a bare C++ loop of `Module::forward({token, input_pos})` after a one-call prefill of
/// `prompt`; one latency per decode step.
pub fn bare_decode_loop(path: &str, prompt: &[i64], steps: u32) -> Result<Vec<u64>, RuntimeError> {
    let result = ffi::bare_decode_loop(path, prompt, steps);
    check(result.status)?;
    Ok(result.latencies_ns)
}
