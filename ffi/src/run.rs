//! The runner's phases: program load → method load → first forward → warm-up → timed loop, each followed by a
//! memory snapshot, then the output check. Everything is reported as protocol lines through an [`Emit`] sink;
//! a failure becomes an error line after whatever was already measured.

use std::path::Path;

use etbench_protocol::{
    Dtype, ErrorKind, Message, MemorySnapshot, PhaseKind, PhaseRecord, RunSpec, RunnerError, RunnerMeta, RunnerSummary,
    SampleRecord, When,
};

use crate::inputs::{self, Built, Fed};
use crate::{conditions, memory, output, Engine, RuntimeError};

/// One invocation of the runner: the model, the run specification, and where its artifacts go.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub model: String,
    pub spec: RunSpec,
    /// Write the raw bytes of output 0 after the last timed iteration here.
    pub dump_output: Option<String>,
    /// Where the ETDump goes when the spec asks for a profile.
    pub etdump: Option<String>,
    /// Print the method's metadata (the meta line) and stop, without loading the method.
    pub describe: bool,
    /// Where sysfs is (tests point this at a fake tree).
    pub sysfs_root: std::path::PathBuf,
}

impl Invocation {
    pub fn new(model: impl Into<String>, spec: RunSpec) -> Self {
        Self { model: model.into(), spec, dump_output: None, etdump: None, describe: false, sysfs_root: "/sys".into() }
    }

    /// The ETDump path of a profiled run: `--etdump`, else `<model>.etdump` beside the working directory.
    fn etdump_path(&self) -> Option<String> {
        self.spec.profile.then(|| {
            self.etdump.clone().unwrap_or_else(|| {
                let stem = Path::new(&self.model).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                format!("{stem}.etdump")
            })
        })
    }
}

/// Where protocol messages go. Returns false when the reader is gone (broken pipe): the run stops quietly.
pub trait Emit {
    fn emit(&mut self, msg: Message) -> bool;
}

/// A run that ended early; the error line has been emitted when this is returned.
#[derive(Debug)]
pub struct Failed;

struct Ctx<'a, E: Emit> {
    out: &'a mut E,
    phase: Option<PhaseKind>,
}

impl<E: Emit> Ctx<'_, E> {
    fn fail(&mut self, kind: ErrorKind, executorch_error: Option<u32>, message: String) -> Failed {
        self.out.emit(Message::Error(RunnerError { kind, phase: self.phase, executorch_error, message }));
        Failed
    }

    fn runtime(&mut self, kind: ErrorKind, e: RuntimeError, hint: &str) -> Failed {
        let message = if hint.is_empty() { e.to_string() } else { format!("{e}: {hint}") };
        self.fail(kind, Some(e.code), message)
    }

    /// Runs one memory-tracked phase; `body` returns the phase duration and iteration count.
    fn phase<T>(
        &mut self,
        phase: PhaseKind,
        body: impl FnOnce(&mut Self) -> Result<(u64, u32, T), Failed>,
    ) -> Result<T, Failed> {
        self.phase = Some(phase);
        let peak_reset = memory::reset_peak();
        let before = memory::fault_baseline();
        let (duration_ns, iterations, value) = body(self)?;
        let memory = memory::snapshot(Some(&before), peak_reset);
        self.out.emit(Message::Phase(PhaseRecord { phase, duration_ns, iterations, memory }));
        Ok(value)
    }

    fn timed_loop(&mut self, engine: &mut Engine, method: &str, phase: PhaseKind, n: u32) -> Result<(u64, u32, ()), Failed> {
        let mut latencies = Vec::with_capacity(n as usize);
        let result = engine.execute_timed(method, n, &mut latencies);
        for (index, latency_ns) in latencies.iter().enumerate() {
            self.out.emit(Message::Sample(SampleRecord { phase, index: index as u32, latency_ns: *latency_ns }));
        }
        match result {
            Ok(duration) => Ok((duration, n, ())),
            Err(e) => Err(self.runtime(ErrorKind::Execute, e, "the method failed while executing")),
        }
    }
}

fn check_model_file(ctx: &mut Ctx<impl Emit>, path: &str) -> Result<u64, Failed> {
    let p = Path::new(path);
    match std::fs::metadata(p) {
        Err(e) => Err(ctx.fail(ErrorKind::ModelNotFound, None, format!("model {path}: {e}; check the path"))),
        Ok(m) if m.is_dir() => {
            Err(ctx.fail(ErrorKind::NotAFile, None, format!("model {path} is a directory; pass a .pte file")))
        }
        Ok(m) if m.len() == 0 => Err(ctx.fail(
            ErrorKind::EmptyFile,
            None,
            format!("model {path} is empty (0 bytes); re-export or re-copy it"),
        )),
        Ok(m) => Ok(m.len()),
    }
}

fn load_hint(code: u32) -> &'static str {
    match code {
        0x12 | 0x23 | 0x20 => "not a valid ExecuTorch program (bad header, truncated or corrupt); re-export or re-copy the .pte",
        0x22 => "could not read the file (permissions, or truncated)",
        0x21 => "out of memory while loading",
        _ => "",
    }
}

/// Token ids as the raw little-endian elements of an int32 or int64 tensor.
pub fn input_bytes(ids: &[i64], dtype: Dtype) -> Vec<u8> {
    match dtype {
        Dtype::Int32 => ids.iter().flat_map(|&id| (id as i32).to_le_bytes()).collect(),
        _ => ids.iter().flat_map(|&id| id.to_le_bytes()).collect(),
    }
}

fn feed(ctx: &mut Ctx<impl Emit>, engine: &mut Engine, built: &[Built]) -> Result<(), Failed> {
    for (index, input) in built.iter().enumerate() {
        let result = match &input.fed {
            Fed::Tensor { dtype, sizes, bytes } => engine.set_input(index, *dtype, bytes, sizes),
            Fed::Scalar(value) => engine.set_scalar_input(index, *value),
        };
        result.map_err(|e| ctx.runtime(ErrorKind::InvalidInput, e, &format!("the runtime refused input {index}")))?;
    }
    Ok(())
}

/// The vocabulary size when output 0 looks like logits (a floating tensor whose last dimension is > 1).
fn vocabulary(outputs: &[etbench_protocol::TensorSpec]) -> Option<i64> {
    let first = outputs.first()?;
    first.dtype.filter(|d| d.is_float())?;
    first.sizes.last().copied().filter(|v| *v > 1)
}

/// Runs every phase, emitting protocol lines. `Err(Failed)` means an error line was emitted.
pub fn run(inv: &Invocation, out: &mut impl Emit) -> Result<(), Failed> {
    let mut ctx = Ctx { out, phase: None };
    let config = &inv.spec;
    if let Err(e) = config.validate() {
        return Err(ctx.fail(ErrorKind::InvalidInput, None, format!("run specification: {e}")));
    }
    let size = check_model_file(&mut ctx, &inv.model)?;
    if let Some(mask) = &config.cpu_affinity {
        conditions::parse_mask(mask)
            .and_then(|cpus| conditions::pin(&cpus))
            .map_err(|m| ctx.fail(ErrorKind::InvalidInput, None, m))?;
    }
    if !inv.describe {
        let gate_timeout = std::time::Duration::from_secs_f64(config.gate_timeout_s);
        let mut before = conditions::read_conditions(&inv.sysfs_root, When::Before);
        before.thermal_gate = config.thermal_gate_c.map(|limit| conditions::thermal_gate(&inv.sysfs_root, limit, gate_timeout));
        before.memory_bandwidth_bytes_per_s = config.bandwidth_probe.then(conditions::probe_bandwidth);
        if let Some(bytes) = config.memory_limit_bytes {
            let cgroup = conditions::limit_memory(bytes).map_err(|m| ctx.fail(ErrorKind::Io, None, m))?;
            before.memory_limit = Some(etbench_protocol::MemoryLimit { bytes, cgroup });
        }
        ctx.out.emit(Message::Conditions(before));
    }
    let threads_effective = config.threads.map(crate::set_threads).or_else(|| Some(crate::threads()));
    let etdump = inv.etdump_path();
    let mut engine = Engine::with_profiling(&inv.model, config.load_mode, etdump.is_some());

    ctx.phase(PhaseKind::ProgramLoad, |ctx| match engine.load_program() {
        Ok(ns) => Ok((ns, 1, ())),
        Err(e) => {
            let hint = load_hint(e.code);
            let kind = ErrorKind::ProgramLoad;
            Err(ctx.runtime(kind, RuntimeError { what: format!("loading {}", inv.model), ..e }, hint))
        }
    })?;

    let methods = engine.method_names();
    if !methods.contains(&config.method) {
        let msg = format!("model {} has no method `{}`; available: {}", inv.model, config.method, methods.join(", "));
        return Err(ctx.fail(ErrorKind::MethodNotFound, None, msg));
    }
    let specs = engine
        .method_specs(&config.method)
        .map_err(|e| ctx.runtime(ErrorKind::MethodLoad, e, "could not read the method's metadata"))?;
    let built = if inv.describe {
        Vec::new()
    } else {
        inputs::build_all(config, &config.method, &specs.inputs, vocabulary(&specs.outputs))
            .map_err(|m| ctx.fail(ErrorKind::InvalidInput, None, m))?
    };
    let token_ids = built.first().and_then(|b| b.ids.clone()).unwrap_or_default();
    if let Some(real) = config.real_tokens.filter(|&r| r == 0 || r as usize > token_ids.len()) {
        return Err(ctx.fail(ErrorKind::InvalidInput, None, format!("real_tokens {real} must be between 1 and the token input's length {}", token_ids.len())));
    }
    if config.generate > 0 && token_ids.is_empty() {
        let msg = format!("generation needs an integer token input at index 0; method `{}` takes {}", config.method, specs.inputs.first().map(|s| s.describe()).unwrap_or_else(|| "no inputs".into()));
        return Err(ctx.fail(ErrorKind::InvalidInput, None, msg));
    }

    ctx.out.emit(Message::Meta(RunnerMeta {
        runner_version: env!("CARGO_PKG_VERSION").to_owned(),
        executorch_version: crate::EXECUTORCH_VERSION.to_owned(),
        target_triple: crate::TARGET.to_owned(),
        pid: std::process::id(),
        model_path: inv.model.clone(),
        model_size_bytes: Some(size),
        methods,
        spec: config.clone(),
        threads_effective,
        inputs: specs.inputs.clone(),
        outputs: specs.outputs.clone(),
        inputs_used: built.iter().map(|b| b.record.clone()).collect(),
        input_ids: token_ids.clone(),
        debug_build: cfg!(debug_assertions),
    }));
    if inv.describe {
        return Ok(());
    }

    ctx.phase(PhaseKind::MethodLoad, |ctx| match engine.load_method(&config.method) {
        Ok(ns) => Ok((ns, 1, ())),
        Err(e) => Err(ctx.runtime(ErrorKind::MethodLoad, e, "a missing operator or backend means the runtime lacks a kernel this .pte needs")),
    })?;
    feed(&mut ctx, &mut engine, &built)?;

    let method = config.method.as_str();
    ctx.phase(PhaseKind::FirstForward, |ctx| ctx.timed_loop(&mut engine, method, PhaseKind::FirstForward, 1))?;
    ctx.phase(PhaseKind::Warmup, |ctx| ctx.timed_loop(&mut engine, method, PhaseKind::Warmup, config.warmup))?;
    ctx.phase(PhaseKind::Timed, |ctx| ctx.timed_loop(&mut engine, method, PhaseKind::Timed, config.iterations))?;
    let last_real = config.real_tokens.map(|r| r as usize - 1);
    if let Some(path) = &etdump {
        engine.write_etdump(path).map_err(|e| ctx.runtime(ErrorKind::Output, e, &format!("--etdump {path}")))?;
    }
    // Checks and dumps describe the timed loop's output, before generation changes the input.
    let outputs = engine.outputs();
    if let (Some(path), Some((_, bytes))) = (&inv.dump_output, outputs.first()) {
        std::fs::write(path, bytes)
            .map_err(|e| ctx.fail(ErrorKind::Output, None, format!("--dump-output {path}: {e}")))?;
    }
    let checks = outputs.iter().enumerate().filter_map(|(i, (spec, bytes))| output::check(i, spec, bytes, last_real)).collect();
    let generated = if config.generate > 0 {
        let window = Window { ids: token_ids.clone(), real: last_real.map_or(token_ids.len(), |p| p + 1) };
        ctx.phase(PhaseKind::Generate, |ctx| generate(ctx, &mut engine, config, &built[0], window))?
    } else {
        Vec::new()
    };
    ctx.phase = None;
    ctx.out.emit(Message::Conditions(conditions::read_conditions(&inv.sysfs_root, When::After)));
    ctx.out.emit(Message::Summary(RunnerSummary {
        warmup_iterations: config.warmup,
        timed_iterations: config.iterations,
        outputs: checks,
        generated,
    }));
    Ok(())
}

/// The fixed-size input window during generation: `real` leading positions hold tokens.
struct Window {
    ids: Vec<i64>,
    real: usize,
}

impl Window {
    /// Appends a token: fills the next padding slot, or slides the window left by one when it is full.
    fn push(&mut self, token: i64) {
        if self.real < self.ids.len() {
            self.ids[self.real] = token;
            self.real += 1;
        } else {
            self.ids.rotate_left(1);
            let last = self.ids.len() - 1;
            self.ids[last] = token;
        }
    }
}

/// Greedy decoding without KV cache: each new token is one full forward over the window; each forward is a sample.
fn generate(
    ctx: &mut Ctx<impl Emit>,
    engine: &mut Engine,
    config: &RunSpec,
    input: &Built,
    mut window: Window,
) -> Result<(u64, u32, Vec<i64>), Failed> {
    let Fed::Tensor { dtype, sizes, .. } = &input.fed else { unreachable!("generation is checked to have a token tensor") };
    let (mut tokens, mut latencies, mut total_ns) = (Vec::new(), Vec::new(), 0);
    for _ in 0..config.generate {
        let bytes = input_bytes(&window.ids, *dtype);
        engine
            .set_input(0, *dtype, &bytes, sizes)
            .map_err(|e| ctx.runtime(ErrorKind::InvalidInput, e, "the runtime refused the input"))?;
        match engine.execute_timed(&config.method, 1, &mut latencies) {
            Ok(ns) => total_ns += ns,
            Err(e) => return Err(ctx.runtime(ErrorKind::Execute, e, "the method failed while generating")),
        }
        let outputs = engine.outputs();
        let Some(token) = outputs.first().and_then(|(spec, bytes)| output::argmax_row(spec, bytes, Some(window.real - 1))) else {
            return Err(ctx.fail(ErrorKind::Output, None, "output 0 has no finite logits to take the argmax of".into()));
        };
        tokens.push(token as i64);
        window.push(token as i64);
    }
    for (index, latency_ns) in latencies.iter().enumerate() {
        ctx.out.emit(Message::Sample(SampleRecord { phase: PhaseKind::Generate, index: index as u32, latency_ns: *latency_ns }));
    }
    Ok((total_ns, config.generate, tokens))
}

/// Memory right now, for callers outside a phase (the bare baseline binary).
pub fn memory_now() -> MemorySnapshot {
    memory::snapshot(None, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_fills_padding_then_slides() {
        let mut w = Window { ids: vec![5, 6, 0, 0], real: 2 };
        w.push(7);
        w.push(8);
        assert_eq!((w.ids.clone(), w.real), (vec![5, 6, 7, 8], 4));
        w.push(9);
        assert_eq!((w.ids, w.real), (vec![6, 7, 8, 9], 4));
    }

    #[test]
    fn token_ids_encode_as_the_input_dtype() {
        assert_eq!(input_bytes(&[1, 2], Dtype::Int32), vec![1, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(input_bytes(&[1], Dtype::Int64).len(), 8);
    }

    #[test]
    fn logits_outputs_give_a_vocabulary_and_others_do_not() {
        use etbench_protocol::TensorSpec;
        assert_eq!(vocabulary(&[TensorSpec::tensor(Dtype::Float32, vec![1, 4, 100])]), Some(100));
        assert_eq!(vocabulary(&[TensorSpec::tensor(Dtype::Int64, vec![1, 4])]), None);
    }
}
