//! The runner's phases: program load → method load → first forward → warm-up → timed loop, each followed by a
//! memory snapshot, then the output check. Everything is reported as protocol lines through an [`Emit`] sink;
//! a failure becomes an error line after whatever was already measured.

use std::path::Path;

use etbench_protocol::{
    Dtype, ErrorKind, InputSource, LoadMode, Message, MemorySnapshot, PhaseKind, PhaseRecord, RunnerError, RunnerMeta,
    RunnerSummary, SampleRecord, TensorSpec, When,
};

use crate::{conditions, memory, output, Engine, RuntimeError};

/// What to run; built by the runner's CLI.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub model: String,
    pub method: String,
    pub load_mode: LoadMode,
    pub warmup: u32,
    pub iterations: u32,
    pub threads: Option<u32>,
    pub input: InputRequest,
    pub input_dtype: Option<Dtype>,
    pub dump_output: Option<String>,
    /// How many leading input positions hold real tokens (the rest is padding); default: all.
    pub real_tokens: Option<u32>,
    /// Greedy tokens to generate after the timed loop (0 = none).
    pub generate: u32,
    /// Print the method's metadata (the meta line) and stop, without loading the method.
    pub describe: bool,
    /// Wait until the hottest thermal zone is below this (°C) before loading, at most `gate_timeout`.
    pub thermal_gate: Option<f64>,
    pub gate_timeout: std::time::Duration,
    /// Hex CPU mask to pin the runner (and ExecuTorch's threads) to.
    pub cpu_affinity: Option<String>,
    /// Where sysfs is (tests point this at a fake tree).
    pub sysfs_root: std::path::PathBuf,
    /// Record an ETDump of the timed iterations and write it here.
    pub etdump: Option<String>,
    /// Run inside a memory cgroup limited to this many bytes.
    pub memory_limit: Option<u64>,
    /// Measure streaming memory bandwidth before loading.
    pub bandwidth_probe: bool,
}

#[derive(Debug, Clone)]
pub enum InputRequest {
    Default,
    List(Vec<i64>),
    File(String),
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

fn read_ids_file(path: &str) -> Result<Vec<i64>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("input file {path}: {e}"))?;
    text.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
        .filter(|t| !t.is_empty())
        .map(|t| t.parse::<i64>().map_err(|_| format!("input file {path}: `{t}` is not an integer token id")))
        .collect()
}

/// `ids[i] = 2 + (i * 31) % 509`: deterministic, inside any vocabulary of ≥ 512 tokens, and the same formula the
/// export script records expected outputs for.
pub fn default_ids(n: usize) -> Vec<i64> {
    (0..n).map(|i| 2 + (i as i64 * 31) % 509).collect()
}

struct Input {
    ids: Vec<i64>,
    dtype: Dtype,
    sizes: Vec<i64>,
    source: InputSource,
}

fn build_input(config: &RunConfig, inputs: &[TensorSpec], outputs: &[TensorSpec]) -> Result<Input, String> {
    let method = &config.method;
    let spec = match inputs {
        [one] => one,
        _ => return Err(format!("method `{method}` takes {} inputs; etbench feeds exactly one token-id tensor", inputs.len())),
    };
    let dtype = spec.dtype.ok_or_else(|| format!("input 0 of method `{method}` is not a tensor"))?;
    if !matches!(dtype, Dtype::Int64 | Dtype::Int32) {
        return Err(format!("method `{method}` takes a {} tensor; etbench feeds integer token ids", dtype.name()));
    }
    if let Some(requested) = config.input_dtype.filter(|d| *d != dtype) {
        return Err(format!(
            "method `{method}` expects {} input but --input-dtype is {}; drop --input-dtype or pass {}",
            dtype.name(),
            requested.name(),
            dtype.name()
        ));
    }
    let numel = spec.numel() as usize;
    let (ids, source) = match &config.input {
        InputRequest::Default => (default_ids(numel), InputSource::Default),
        InputRequest::List(ids) => (ids.clone(), InputSource::List),
        InputRequest::File(path) => (read_ids_file(path)?, InputSource::File { path: path.clone() }),
    };
    if ids.len() != numel {
        return Err(format!(
            "method `{method}` expects {numel} token ids (shape {:?}), got {}; pass exactly {numel}",
            spec.sizes,
            ids.len()
        ));
    }
    let vocab = outputs.first().and_then(|o| o.sizes.last()).copied().filter(|v| *v > 1);
    if let Some(bad) = ids.iter().find(|&&id| id < 0 || vocab.is_some_and(|v| id >= v) || (dtype == Dtype::Int32 && id > i32::MAX as i64)) {
        let range = vocab.map(|v| format!("0..{v}")).unwrap_or_else(|| "non-negative".to_owned());
        return Err(format!("token id {bad} is outside the model's vocabulary ({range})"));
    }
    if let Some(real) = config.real_tokens.filter(|&r| r == 0 || r as usize > numel) {
        return Err(format!("--real-tokens {real} must be between 1 and the input length {numel}"));
    }
    Ok(Input { ids, dtype, sizes: spec.sizes.clone(), source })
}

/// Token ids as the raw little-endian elements of an int32 or int64 tensor.
pub fn input_bytes(ids: &[i64], dtype: Dtype) -> Vec<u8> {
    match dtype {
        Dtype::Int32 => ids.iter().flat_map(|&id| (id as i32).to_le_bytes()).collect(),
        _ => ids.iter().flat_map(|&id| id.to_le_bytes()).collect(),
    }
}

/// Runs every phase, emitting protocol lines. `Err(Failed)` means an error line was emitted.
pub fn run(config: &RunConfig, out: &mut impl Emit) -> Result<(), Failed> {
    let mut ctx = Ctx { out, phase: None };
    let size = check_model_file(&mut ctx, &config.model)?;
    if let Some(mask) = &config.cpu_affinity {
        conditions::parse_mask(mask)
            .and_then(|cpus| conditions::pin(&cpus))
            .map_err(|m| ctx.fail(ErrorKind::InvalidInput, None, m))?;
    }
    if !config.describe {
        let mut before = conditions::read_conditions(&config.sysfs_root, When::Before);
        before.thermal_gate = config.thermal_gate.map(|limit| conditions::thermal_gate(&config.sysfs_root, limit, config.gate_timeout));
        before.memory_bandwidth_bytes_per_s = config.bandwidth_probe.then(conditions::probe_bandwidth);
        if let Some(bytes) = config.memory_limit {
            let cgroup = conditions::limit_memory(bytes).map_err(|m| ctx.fail(ErrorKind::Io, None, m))?;
            before.memory_limit = Some(etbench_protocol::MemoryLimit { bytes, cgroup });
        }
        ctx.out.emit(Message::Conditions(before));
    }
    let threads_effective = config.threads.map(crate::set_threads).or_else(|| Some(crate::threads()));
    let mut engine = Engine::with_profiling(&config.model, config.load_mode, config.etdump.is_some());

    ctx.phase(PhaseKind::ProgramLoad, |ctx| match engine.load_program() {
        Ok(ns) => Ok((ns, 1, ())),
        Err(e) => {
            let hint = load_hint(e.code);
            let kind = ErrorKind::ProgramLoad;
            Err(ctx.runtime(kind, RuntimeError { what: format!("loading {}", config.model), ..e }, hint))
        }
    })?;

    let methods = engine.method_names();
    if !methods.contains(&config.method) {
        let msg = format!("model {} has no method `{}`; available: {}", config.model, config.method, methods.join(", "));
        return Err(ctx.fail(ErrorKind::MethodNotFound, None, msg));
    }
    let specs = engine
        .method_specs(&config.method)
        .map_err(|e| ctx.runtime(ErrorKind::MethodLoad, e, "could not read the method's metadata"))?;
    let input = build_input(config, &specs.inputs, &specs.outputs).map_err(|m| ctx.fail(ErrorKind::InvalidInput, None, m))?;

    ctx.out.emit(Message::Meta(RunnerMeta {
        runner_version: env!("CARGO_PKG_VERSION").to_owned(),
        executorch_version: crate::EXECUTORCH_VERSION.to_owned(),
        target_triple: crate::TARGET.to_owned(),
        pid: std::process::id(),
        model_path: config.model.clone(),
        model_size_bytes: Some(size),
        method: config.method.clone(),
        methods,
        load_mode: config.load_mode,
        threads_requested: config.threads,
        threads_effective,
        inputs: specs.inputs.clone(),
        outputs: specs.outputs.clone(),
        input_source: input.source.clone(),
        input_dtype: Some(input.dtype),
        input_ids: input.ids.clone(),
        real_tokens: config.real_tokens,
        debug_build: cfg!(debug_assertions),
        cpu_affinity: config.cpu_affinity.clone(),
    }));
    if config.describe {
        return Ok(());
    }

    ctx.phase(PhaseKind::MethodLoad, |ctx| match engine.load_method(&config.method) {
        Ok(ns) => Ok((ns, 1, ())),
        Err(e) => Err(ctx.runtime(ErrorKind::MethodLoad, e, "a missing operator or backend means the runtime lacks a kernel this .pte needs")),
    })?;
    engine
        .set_input(0, input.dtype, &input_bytes(&input.ids, input.dtype), &input.sizes)
        .map_err(|e| ctx.runtime(ErrorKind::InvalidInput, e, "the runtime refused the input"))?;

    let method = config.method.as_str();
    ctx.phase(PhaseKind::FirstForward, |ctx| ctx.timed_loop(&mut engine, method, PhaseKind::FirstForward, 1))?;
    ctx.phase(PhaseKind::Warmup, |ctx| ctx.timed_loop(&mut engine, method, PhaseKind::Warmup, config.warmup))?;
    ctx.phase(PhaseKind::Timed, |ctx| ctx.timed_loop(&mut engine, method, PhaseKind::Timed, config.iterations))?;
    let last_real = config.real_tokens.map(|r| r as usize - 1);
    if let Some(path) = &config.etdump {
        engine.write_etdump(path).map_err(|e| ctx.runtime(ErrorKind::Output, e, &format!("--etdump {path}")))?;
    }
    // Checks and dumps describe the timed loop's output, before generation changes the input.
    let outputs = engine.outputs();
    if let (Some(path), Some((_, bytes))) = (&config.dump_output, outputs.first()) {
        std::fs::write(path, bytes)
            .map_err(|e| ctx.fail(ErrorKind::Output, None, format!("--dump-output {path}: {e}")))?;
    }
    let checks = outputs.iter().filter_map(|(spec, bytes)| output::check(spec, bytes, last_real)).collect();
    let generated = if config.generate > 0 {
        let window = Window { ids: input.ids.clone(), real: last_real.map_or(input.ids.len(), |p| p + 1) };
        ctx.phase(PhaseKind::Generate, |ctx| generate(ctx, &mut engine, config, &input, window))?
    } else {
        Vec::new()
    };
    ctx.phase = None;
    ctx.out.emit(Message::Conditions(conditions::read_conditions(&config.sysfs_root, When::After)));
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
    config: &RunConfig,
    input: &Input,
    mut window: Window,
) -> Result<(u64, u32, Vec<i64>), Failed> {
    let (mut tokens, mut latencies, mut total_ns) = (Vec::new(), Vec::new(), 0);
    for _ in 0..config.generate {
        let bytes = input_bytes(&window.ids, input.dtype);
        engine
            .set_input(0, input.dtype, &bytes, &input.sizes)
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

    fn config(input: InputRequest) -> RunConfig {
        RunConfig {
            model: "m.pte".into(),
            method: "forward".into(),
            load_mode: LoadMode::Mmap,
            warmup: 0,
            iterations: 1,
            threads: None,
            input,
            input_dtype: None,
            dump_output: None,
            real_tokens: None,
            generate: 0,
            describe: false,
            thermal_gate: None,
            gate_timeout: std::time::Duration::from_secs(1),
            cpu_affinity: None,
            sysfs_root: "/sys".into(),
            etdump: None,
            memory_limit: None,
            bandwidth_probe: false,
        }
    }

    fn tokens(n: i64) -> TensorSpec {
        TensorSpec { dtype: Some(Dtype::Int64), sizes: vec![1, n] }
    }

    fn logits(vocab: i64) -> TensorSpec {
        TensorSpec { dtype: Some(Dtype::Float32), sizes: vec![1, 4, vocab] }
    }

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
    fn real_tokens_beyond_the_window_are_refused() {
        let mut c = config(InputRequest::Default);
        c.real_tokens = Some(5);
        let err = build_input(&c, &[tokens(4)], &[logits(100)]).err().unwrap();
        assert!(err.contains("--real-tokens 5"), "{err}");
    }

    #[test]
    fn default_ids_follow_the_documented_formula() {
        assert_eq!(default_ids(4), vec![2, 33, 64, 95]);
        assert!(default_ids(1000).iter().all(|&id| (2..511).contains(&id)));
    }

    #[test]
    fn wrong_length_names_the_expected_count() {
        let err = build_input(&config(InputRequest::List(vec![1, 2])), &[tokens(4)], &[logits(100)]).err().unwrap();
        assert!(err.contains("expects 4 token ids") && err.contains("got 2"), "{err}");
    }

    #[test]
    fn wrong_dtype_is_refused_with_the_fix() {
        let mut c = config(InputRequest::Default);
        c.input_dtype = Some(Dtype::Int32);
        let err = build_input(&c, &[tokens(4)], &[logits(100)]).err().unwrap();
        assert!(err.contains("expects int64") && err.contains("--input-dtype"), "{err}");
    }

    #[test]
    fn ids_beyond_the_vocabulary_are_refused() {
        let err = build_input(&config(InputRequest::List(vec![1, 2, 3, 100])), &[tokens(4)], &[logits(100)]).err().unwrap();
        assert!(err.contains("token id 100") && err.contains("0..100"), "{err}");
    }
}
