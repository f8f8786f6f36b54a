//! The runner's phases: program load → method load → first forward → warm-up → timed loop, each followed by a
//! memory snapshot, then the output check. Everything is reported as protocol lines through an [`Emit`] sink;
//! a failure becomes an error line after whatever was already measured.

use std::path::Path;

use etbench_protocol::{
    ErrorKind, MemorySnapshot, Message, PhaseKind, PhaseRecord, RunSpec, RunnerError, RunnerMeta, RunnerSummary,
    SampleRecord, When,
};

use crate::generate::{self as llm_run, Plan};
use crate::inputs::{self, Built, Fed};
use std::time::Instant;

use etbench_protocol::energy::WindowKind;

use crate::{conditions, energy, memory, output, Engine, RuntimeError};

/// One invocation of the runner: the model(s), the run specification, and where its artifacts go. With several
/// models the run is a paired session: every model is loaded and warmed up in this process, then their timed
/// iterations alternate round by round in the spec's balanced order.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub models: Vec<String>,
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
        Self {
            models: vec![model.into()],
            spec,
            dump_output: None,
            etdump: None,
            describe: false,
            sysfs_root: "/sys".into(),
        }
    }

    fn paired(&self) -> bool {
        self.models.len() > 1
    }

    /// The ETDump path of a profiled run: `--etdump`, else `<model>.etdump` beside the working directory.
    fn etdump_path(&self) -> Option<String> {
        self.spec.profile.then(|| {
            self.etdump.clone().unwrap_or_else(|| {
                let stem = Path::new(&self.models[0])
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
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
    /// The model the next lines are about (its index on the command line).
    model: u32,
    /// The energy side thread, when the spec asks for energy.
    energy: Option<energy::Meter>,
}

impl<E: Emit> Ctx<'_, E> {
    /// Records an energy window (nothing without `--energy`).
    fn window(&mut self, phase: WindowKind, round: Option<u32>, start: Instant, units: u32) {
        let model = self.model;
        if let Some(meter) = &mut self.energy {
            meter.window(model, phase, round, start, Instant::now(), units);
        }
    }
}

impl<E: Emit> Ctx<'_, E> {
    fn fail(&mut self, kind: ErrorKind, executorch_error: Option<u32>, message: String) -> Failed {
        // What was sampled until the failure is kept (its windows say how far the run got).
        if let Some(meter) = self.energy.take() {
            self.out.emit(Message::Energy(Box::new(meter.finish())));
        }
        self.out.emit(Message::Error(RunnerError {
            model: self.model,
            kind,
            phase: self.phase,
            executorch_error,
            message,
        }));
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
        self.out.emit(Message::Phase(PhaseRecord { model: self.model, phase, duration_ns, iterations, memory }));
        Ok(value)
    }

    fn sample(&mut self, phase: PhaseKind, index: u32, latency_ns: u64, round: Option<u32>) {
        self.out.emit(Message::Sample(SampleRecord { model: self.model, phase, index, latency_ns, round }));
    }

    fn timed_loop(
        &mut self,
        engine: &mut Engine,
        method: &str,
        phase: PhaseKind,
        n: u32,
    ) -> Result<(u64, u32, ()), Failed> {
        let mut latencies = Vec::with_capacity(n as usize);
        let result = engine.execute_timed(method, n, &mut latencies);
        for (index, latency_ns) in latencies.iter().enumerate() {
            self.sample(phase, index as u32, *latency_ns, None);
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
        0x12 | 0x23 | 0x20 => {
            "not a valid ExecuTorch program (bad header, truncated or corrupt); re-export or re-copy the .pte"
        }
        0x22 => "could not read the file (permissions, or truncated)",
        0x21 => "out of memory while loading",
        _ => "",
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

/// One model of the invocation, loaded and ready to execute.
struct Loaded {
    engine: Engine,
    built: Vec<Built>,
    token_ids: Vec<i64>,
    /// The generation workload, for an LLM run.
    llm: Option<Plan>,
}

/// Runs every phase, emitting protocol lines. `Err(Failed)` means an error line was emitted.
// Over 80 lines on purpose: the run's phases in order (gate, load, warm-up, timed loop, outputs), each emitting its
// protocol lines where it happens.
pub fn run(inv: &Invocation, out: &mut impl Emit) -> Result<(), Failed> {
    let mut ctx = Ctx { out, phase: None, model: 0, energy: None };
    let config = &inv.spec;
    if let Err(e) = config.validate().and_then(|_| check_paired(inv)) {
        return Err(ctx.fail(ErrorKind::InvalidInput, None, format!("run specification: {e}")));
    }
    let mut sizes = Vec::new();
    for (i, model) in inv.models.iter().enumerate() {
        ctx.model = i as u32;
        sizes.push(check_model_file(&mut ctx, model)?);
    }
    ctx.model = 0;
    if let Some(mask) = &config.cpu_affinity {
        conditions::pin(mask).map_err(|m| ctx.fail(ErrorKind::InvalidInput, None, m))?;
    }
    if !inv.describe {
        let gate_timeout = std::time::Duration::from_secs_f64(config.gate_timeout_s);
        let mut before = conditions::read_conditions(&inv.sysfs_root, When::Before);
        before.thermal_gate =
            config.thermal_gate_c.map(|limit| conditions::thermal_gate(&inv.sysfs_root, limit, gate_timeout));
        let probe_threads = config
            .threads
            .map(|t| t as usize)
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
        before.memory_bandwidth_bytes_per_s =
            config.bandwidth_probe.then(|| conditions::probe_bandwidth(probe_threads));
        if let Some(bytes) = config.memory_limit_bytes {
            let cgroup = conditions::limit_memory(bytes).map_err(|m| ctx.fail(ErrorKind::Io, None, m))?;
            before.memory_limit = Some(etbench_protocol::MemoryLimit { bytes, cgroup });
        }
        ctx.out.emit(Message::Conditions(before));
        if let Some(request) = &config.energy {
            let mut meter = energy::Meter::start(&inv.sysfs_root, request)
                .map_err(|m| ctx.fail(ErrorKind::InvalidInput, None, m))?;
            meter.idle(request.idle_s);
            ctx.energy = Some(meter);
        }
    }
    let threads_effective = config.threads.map(crate::set_threads).or_else(|| Some(crate::threads()));
    let etdump = inv.etdump_path();
    let mut loaded = Vec::new();
    for (i, model) in inv.models.iter().enumerate() {
        ctx.model = i as u32;
        if let Some(l) = load(&mut ctx, inv, model, sizes[i], threads_effective, etdump.is_some())? {
            loaded.push(l);
        }
    }
    if inv.describe {
        return Ok(());
    }
    let method = config.method.as_str();
    let timed = if config.llm.is_some() {
        generation_rounds(&mut ctx, &mut loaded, config, &inv.sysfs_root)?
    } else if inv.paired() || config.until_ci_pct.is_some() || config.max_time_s.is_some() {
        timed_rounds(&mut ctx, &mut loaded, config)?
    } else {
        ctx.model = 0;
        let engine = &mut loaded[0].engine;
        let start = Instant::now();
        ctx.phase(PhaseKind::Timed, |ctx| ctx.timed_loop(engine, method, PhaseKind::Timed, config.iterations))?;
        ctx.window(WindowKind::Timed, None, start, config.iterations);
        config.iterations
    };
    if let Some(meter) = ctx.energy.take() {
        ctx.out.emit(Message::Energy(Box::new(meter.finish())));
    }
    let last_real = config.real_tokens.map(|r| r as usize - 1);
    let mut summaries = Vec::new();
    for (i, model) in loaded.iter_mut().enumerate() {
        ctx.model = i as u32;
        ctx.phase = None;
        if let Some(path) = &etdump {
            model
                .engine
                .write_etdump(path)
                .map_err(|e| ctx.runtime(ErrorKind::Output, e, &format!("--etdump {path}")))?;
        }
        // Checks and dumps describe the timed loop's output, before generation changes the input.
        let outputs = model.engine.outputs();
        if let (Some(path), Some((_, bytes))) = (&inv.dump_output, outputs.first()) {
            std::fs::write(path, bytes)
                .map_err(|e| ctx.fail(ErrorKind::Output, None, format!("--dump-output {path}: {e}")))?;
        }
        let checks = outputs
            .iter()
            .enumerate()
            .filter_map(|(i, (spec, bytes))| output::check(i, spec, bytes, last_real))
            .collect();
        let generated = if config.generate > 0 {
            let window =
                Window { ids: model.token_ids.clone(), real: last_real.map_or(model.token_ids.len(), |p| p + 1) };
            ctx.phase(PhaseKind::Generate, |ctx| generate(ctx, &mut model.engine, config, &model.built[0], window))?
        } else {
            Vec::new()
        };
        summaries.push(RunnerSummary {
            model: i as u32,
            warmup_iterations: config.warmup,
            timed_iterations: timed,
            outputs: checks,
            generated,
        });
    }
    ctx.phase = None;
    ctx.out.emit(Message::Conditions(conditions::read_conditions(&inv.sysfs_root, When::After)));
    for summary in summaries {
        ctx.out.emit(Message::Summary(summary));
    }
    Ok(())
}

/// What a paired session cannot do: per-model artifacts that would overwrite each other, and generation.
fn check_paired(inv: &Invocation) -> Result<(), String> {
    if inv.models.is_empty() {
        return Err("no model given".into());
    }
    if !inv.paired() {
        return Ok(());
    }
    let refuse = |what: &str| {
        Err(format!("a paired session (several models) cannot {what}; run the models one by one for that"))
    };
    if inv.spec.generate > 0 {
        return refuse("generate tokens");
    }
    if inv.spec.profile || inv.etdump.is_some() {
        return refuse("record ETDump profiles (profiled and unprofiled timings are never pooled)");
    }
    if inv.dump_output.is_some() {
        return refuse("dump outputs");
    }
    Ok(())
}

/// Program load, method description, meta line, method load, inputs, first forward and warm-up of one model.
/// `Ok(None)` in describe mode (the meta line was printed).
// Over 80 lines on purpose: the load phases in the order the runtime needs them (program, method, inputs, thread
// pool), each timed and checked in place.
fn load(
    ctx: &mut Ctx<impl Emit>,
    inv: &Invocation,
    path: &str,
    size: u64,
    threads_effective: Option<u32>,
    profile: bool,
) -> Result<Option<Loaded>, Failed> {
    let config = &inv.spec;
    let mut engine = if config.llm.is_some() {
        Engine::for_generation(path, config.load_mode)
    } else {
        Engine::with_profiling(path, config.load_mode, profile)
    };
    ctx.phase(PhaseKind::ProgramLoad, |ctx| match engine.load_program() {
        Ok(ns) => Ok((ns, 1, ())),
        Err(e) => {
            let hint = load_hint(e.code);
            Err(ctx.runtime(ErrorKind::ProgramLoad, RuntimeError { what: format!("loading {path}"), ..e }, hint))
        }
    })?;
    let methods = engine.method_names();
    // A generation run of a program with separate prefill and decode methods, or of ExecuTorch's Gemma 4 export
    // (`text_decoder`), has no `forward` to ask for: its step method is the one the recogniser picks.
    let split = config.llm.is_some() && ["prefill", "decode"].iter().all(|m| methods.iter().any(|x| x == m));
    let gemma4 = config.llm.is_some() && methods.iter().any(|m| m == "text_decoder");
    let method = if methods.contains(&config.method) || !(split || gemma4) {
        config.method.clone()
    } else if split {
        "prefill".to_owned()
    } else {
        "text_decoder".to_owned()
    };
    if !methods.contains(&method) {
        let msg = format!("model {path} has no method `{}`; available: {}", config.method, methods.join(", "));
        return Err(ctx.fail(ErrorKind::MethodNotFound, None, msg));
    }
    let specs = engine
        .method_specs(&method)
        .map_err(|e| ctx.runtime(ErrorKind::MethodLoad, e, "could not read the method's metadata"))?;
    let metadata = if inv.describe || config.llm.is_some() {
        llm_run::read_metadata(&mut engine, &methods, &method)
    } else {
        Default::default()
    };
    let program = if inv.describe || config.llm.is_some() {
        let hint = config.llm.as_ref().and_then(|w| w.dynamic_tokens);
        Some(llm_run::recognise(&mut engine, &methods, &metadata, hint))
    } else {
        None
    };
    let plan = match (&config.llm, &program) {
        (Some(workload), Some(Ok(program))) => Some(
            llm_run::plan(program, workload, path)
                .map_err(|m| ctx.fail(ErrorKind::InvalidInput, None, format!("generation: {m}")))?,
        ),
        (Some(_), Some(Err(found))) => {
            return Err(ctx.fail(
                ErrorKind::InvalidInput,
                None,
                format!("generation needs an LLM program; {path}: {found}"),
            ));
        }
        _ => None,
    };
    let built = if inv.describe || plan.is_some() {
        Vec::new()
    } else {
        inputs::build_all(config, &config.method, &specs.inputs, vocabulary(&specs.outputs))
            .map_err(|m| ctx.fail(ErrorKind::InvalidInput, None, format!("{path}: {m}")))?
    };
    let token_ids = built.first().and_then(|b| b.ids.clone()).unwrap_or_default();
    if let Some(real) = config.real_tokens.filter(|&r| !inv.describe && (r == 0 || r as usize > token_ids.len())) {
        return Err(ctx.fail(
            ErrorKind::InvalidInput,
            None,
            format!("real_tokens {real} must be between 1 and the token input's length {}", token_ids.len()),
        ));
    }
    if config.generate > 0 && token_ids.is_empty() && !inv.describe {
        let msg = format!(
            "generation needs an integer token input at index 0; method `{}` takes {}",
            config.method,
            specs.inputs.first().map(|s| s.describe()).unwrap_or_else(|| "no inputs".into())
        );
        return Err(ctx.fail(ErrorKind::InvalidInput, None, msg));
    }
    ctx.out.emit(Message::Meta(RunnerMeta {
        model: ctx.model,
        runner_version: env!("CARGO_PKG_VERSION").to_owned(),
        executorch_version: crate::EXECUTORCH_VERSION.to_owned(),
        target_triple: crate::TARGET.to_owned(),
        pid: std::process::id(),
        model_path: path.to_owned(),
        model_size_bytes: Some(size),
        methods,
        spec: config.clone(),
        threads_effective,
        inputs: specs.inputs.clone(),
        outputs: specs.outputs.clone(),
        inputs_used: built.iter().map(|b| b.record.clone()).collect(),
        input_ids: token_ids.clone(),
        debug_build: cfg!(debug_assertions),
        metadata,
        llm: program.and_then(Result::ok),
        prompt_ids: plan.as_ref().map(|p| p.context.clone()).unwrap_or_default(),
    }));
    if inv.describe {
        return Ok(None);
    }
    if let Some(plan) = plan {
        return load_llm(ctx, engine, plan, config.warmup).map(Some);
    }
    ctx.phase(PhaseKind::MethodLoad, |ctx| match engine.load_method(&config.method) {
        Ok(ns) => Ok((ns, 1, ())),
        Err(e) => Err(ctx.runtime(
            ErrorKind::MethodLoad,
            e,
            "a missing operator or backend means the runtime lacks a kernel this .pte needs",
        )),
    })?;
    feed(ctx, &mut engine, &built)?;
    let method = config.method.as_str();
    ctx.phase(PhaseKind::FirstForward, |ctx| ctx.timed_loop(&mut engine, method, PhaseKind::FirstForward, 1))?;
    ctx.phase(PhaseKind::Warmup, |ctx| ctx.timed_loop(&mut engine, method, PhaseKind::Warmup, config.warmup))?;
    Ok(Some(Loaded { engine, built, token_ids, llm: None }))
}

/// Method load and warm-up generations of an LLM program (the first warm-up generation is the cold one).
fn load_llm(ctx: &mut Ctx<impl Emit>, mut engine: Engine, plan: Plan, warmup: u32) -> Result<Loaded, Failed> {
    let program = plan.program.clone();
    ctx.phase(PhaseKind::MethodLoad, |ctx| {
        let mut total = 0;
        let mut methods = vec![program.prefill_method.as_str()];
        if program.decode_method != program.prefill_method {
            methods.push(program.decode_method.as_str());
        }
        for m in &methods {
            total += engine.load_method(m).map_err(|e| {
                ctx.runtime(ErrorKind::MethodLoad, e, "a missing operator or backend means the runtime lacks a kernel this .pte needs; export without custom operators (no llama::sdpa_with_kv_cache / update_cache / custom_sdpa: drop --use_sdpa_with_kv_cache)")
            })?;
        }
        Ok((total, methods.len() as u32, ()))
    })?;
    llm_run::check_outputs(&mut engine, &program).map_err(|m| ctx.fail(ErrorKind::InvalidInput, None, m))?;
    let started = std::time::Instant::now();
    ctx.phase(PhaseKind::Warmup, |ctx| {
        let mut total = 0;
        for i in 0..warmup {
            let mut g = llm_run::generate(&mut engine, &plan, started)
                .map_err(|e| ctx.runtime(ErrorKind::Execute, e.error, &format!("warm-up generation, {}", e.at)))?;
            total += g.prefill_ns + g.decode_ns.iter().sum::<u64>();
            (g.model, g.index, g.warmup) = (ctx.model, i, true);
            ctx.out.emit(Message::Generation(g));
        }
        Ok((total, warmup, ()))
    })?;
    Ok(Loaded { engine, built: Vec::new(), token_ids: Vec::new(), llm: Some(plan) })
}

/// The timed generations: each round runs one whole generation per model, in the spec's order. The sample of a
/// generation is its mean time per decode step (the paired and adaptive machinery works on it); the generation
/// line keeps every step. Stops after `iterations` rounds, or once `min_iterations` are done and the time budget
/// is spent or both the decode and the time-to-first-token intervals are narrow enough; a sustained run
/// (`llm.sustain_s`) generates until its time is up and records device conditions after every generation.
fn generation_rounds(
    ctx: &mut Ctx<impl Emit>,
    loaded: &mut [Loaded],
    config: &RunSpec,
    sysfs: &Path,
) -> Result<u32, Failed> {
    let sustain = config.llm.as_ref().and_then(|l| l.sustain_s);
    let paired = loaded.len() > 1;
    let (mut per_token, mut ttft) = (vec![Vec::new(); loaded.len()], vec![Vec::new(); loaded.len()]);
    let mut spent = vec![0u64; loaded.len()];
    let before = memory::fault_baseline();
    let start = std::time::Instant::now();
    let mut rounds = 0;
    // When the newest generation ended: a sustained run stops once a generation ends past its time (reading the
    // conditions and emitting the record after it must not end the run early).
    let mut last_end_ms = 0u64;
    ctx.phase = Some(PhaseKind::Timed);
    loop {
        for m in config.order.round(rounds, loaded.len()) {
            ctx.model = m as u32;
            let plan = loaded[m].llm.as_ref().expect("an LLM run loads every model with a plan");
            let mut marks = llm_run::Marks::default();
            let mut g = llm_run::generate_marked(&mut loaded[m].engine, plan, start, &mut marks)
                .map_err(|e| ctx.runtime(ErrorKind::Execute, e.error, &format!("generation {rounds}, {}", e.at)))?;
            (g.model, g.index, g.round) = (m as u32, rounds, paired.then_some(rounds));
            last_end_ms = g.end_uptime_ms;
            if let (Some(meter), Some(p0), Some(p1), Some(d1)) =
                (&mut ctx.energy, marks.prefill_start, marks.prefill_end, marks.decode_end)
            {
                meter.window(m as u32, WindowKind::Prefill, Some(rounds), p0, p1, g.prefill_tokens);
                meter.window(m as u32, WindowKind::Decode, Some(rounds), p1, d1, g.decode_ns.len() as u32);
            }
            if sustain.is_some() {
                g.conditions = Some(conditions::read_conditions(sysfs, When::After).facts);
            }
            let per = llm_run::ns_per_decode_token(&g);
            per_token[m].push(per);
            ttft[m].push(g.ttft_ns);
            spent[m] += g.prefill_ns + g.decode_ns.iter().sum::<u64>();
            ctx.sample(PhaseKind::Decode, rounds, per, g.round);
            if !ctx.out.emit(Message::Generation(g)) {
                return Err(Failed);
            }
        }
        rounds += 1;
        let elapsed = start.elapsed();
        let stop = match sustain {
            Some(s) => last_end_ms as f64 / 1000.0 >= s && rounds >= config.min_iterations,
            None => {
                rounds >= config.iterations
                    || (rounds >= config.min_iterations
                        && done(config, &per_token, elapsed)
                        && done(config, &ttft, elapsed))
            }
        };
        if stop {
            break;
        }
    }
    let memory = memory::snapshot(Some(&before), false);
    for (m, ns) in spent.iter().enumerate() {
        ctx.out.emit(Message::Phase(PhaseRecord {
            model: m as u32,
            phase: PhaseKind::Timed,
            duration_ns: *ns,
            iterations: rounds,
            memory: memory.clone(),
        }));
    }
    Ok(rounds)
}

/// The timed phase as rounds: each round executes every model once, in the spec's order. Stops after
/// `iterations` rounds, or earlier once `min_iterations` are done and the time budget is spent or every interval is
/// narrow enough (`until_ci_pct`). Every model gets a timed phase record; their memory is the process's (shared).
fn timed_rounds(ctx: &mut Ctx<impl Emit>, loaded: &mut [Loaded], config: &RunSpec) -> Result<u32, Failed> {
    let peak_reset = memory::reset_peak();
    let before = memory::fault_baseline();
    let start = std::time::Instant::now();
    let method = config.method.as_str();
    let mut samples: Vec<Vec<u64>> = loaded.iter().map(|_| Vec::new()).collect();
    let mut rounds = 0;
    while rounds < config.iterations {
        for m in config.order.round(rounds, loaded.len()) {
            ctx.model = m as u32;
            ctx.phase = Some(PhaseKind::Timed);
            let mut latency = Vec::with_capacity(1);
            let begun = Instant::now();
            if let Err(e) = loaded[m].engine.execute_timed(method, 1, &mut latency) {
                return Err(ctx.runtime(ErrorKind::Execute, e, "the method failed while executing"));
            }
            ctx.window(WindowKind::Timed, Some(rounds), begun, 1);
            ctx.sample(PhaseKind::Timed, rounds, latency[0], (loaded.len() > 1).then_some(rounds));
            samples[m].push(latency[0]);
        }
        rounds += 1;
        if rounds >= config.min_iterations && done(config, &samples, start.elapsed()) {
            break;
        }
    }
    let memory = memory::snapshot(Some(&before), peak_reset);
    for (m, s) in samples.iter().enumerate() {
        ctx.model = m as u32;
        let duration_ns = s.iter().sum();
        ctx.out.emit(Message::Phase(PhaseRecord {
            model: m as u32,
            phase: PhaseKind::Timed,
            duration_ns,
            iterations: rounds,
            memory: memory.clone(),
        }));
    }
    Ok(rounds)
}

/// Whether an adaptive or time-bounded run may stop now.
fn done(config: &RunSpec, samples: &[Vec<u64>], elapsed: std::time::Duration) -> bool {
    if config.max_time_s.is_some_and(|t| elapsed.as_secs_f64() >= t) {
        return true;
    }
    let Some(pct) = config.until_ci_pct else { return false };
    let widths: Vec<Option<f64>> = if samples.len() == 1 {
        vec![median_ci_halfwidth_pct(&samples[0].iter().map(|&v| v as f64).collect::<Vec<_>>())]
    } else {
        samples[1..]
            .iter()
            .map(|s| {
                median_ci_halfwidth_pct(
                    &s.iter().zip(&samples[0]).map(|(c, r)| *c as f64 / *r as f64).collect::<Vec<_>>(),
                )
            })
            .collect()
    };
    widths.iter().all(|w| w.is_some_and(|w| w <= pct))
}

/// Half-width of the distribution-free 95 % interval of the median (order statistics j, k around n/2 ± 0.98·√n),
/// as a percentage of the median; `None` with fewer than 6 values.
pub fn median_ci_halfwidth_pct(values: &[f64]) -> Option<f64> {
    let (lo, hi) = etbench_protocol::median_interval_ranks(values.len())?;
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
    (median > 0.0).then(|| (v[hi] - v[lo]) / 2.0 / median * 100.0)
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
    let Fed::Tensor { dtype, sizes, .. } = &input.fed else {
        unreachable!("generation is checked to have a token tensor")
    };
    let (mut tokens, mut latencies, mut total_ns) = (Vec::new(), Vec::new(), 0);
    for _ in 0..config.generate {
        let bytes = inputs::encode_ints(*dtype, &window.ids)
            .map_err(|m| ctx.fail(ErrorKind::InvalidInput, None, format!("generated token: {m}")))?;
        engine
            .set_input(0, *dtype, &bytes, sizes)
            .map_err(|e| ctx.runtime(ErrorKind::InvalidInput, e, "the runtime refused the input"))?;
        match engine.execute_timed(&config.method, 1, &mut latencies) {
            Ok(ns) => total_ns += ns,
            Err(e) => return Err(ctx.runtime(ErrorKind::Execute, e, "the method failed while generating")),
        }
        let outputs = engine.outputs();
        let Some(token) =
            outputs.first().and_then(|(spec, bytes)| output::argmax_row(spec, bytes, Some(window.real - 1)))
        else {
            return Err(ctx.fail(
                ErrorKind::Output,
                None,
                "output 0 has no finite logits to take the argmax of".into(),
            ));
        };
        tokens.push(token as i64);
        window.push(token as i64);
    }
    for (index, latency_ns) in latencies.iter().enumerate() {
        ctx.sample(PhaseKind::Generate, index as u32, *latency_ns, None);
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
    use etbench_protocol::Dtype;

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
    fn median_interval_narrows_with_more_samples_and_needs_six() {
        assert_eq!(median_ci_halfwidth_pct(&[1.0; 5]), None);
        let noisy = |n: usize| -> Vec<f64> { (0..n).map(|i| 100.0 + ((i * 37) % 11) as f64).collect() };
        let (few, many) = (median_ci_halfwidth_pct(&noisy(10)).unwrap(), median_ci_halfwidth_pct(&noisy(400)).unwrap());
        assert!(few > many, "{few} vs {many}");
        assert_eq!(median_ci_halfwidth_pct(&[5.0; 50]), Some(0.0));
    }

    #[test]
    fn a_paired_session_refuses_per_model_artifacts() {
        let mut inv = Invocation::new("a.pte", RunSpec { generate: 2, ..RunSpec::default() });
        inv.models.push("b.pte".into());
        assert!(check_paired(&inv).unwrap_err().contains("generate"));
        inv.spec.generate = 0;
        assert!(check_paired(&inv).is_ok());
    }

    #[test]
    fn logits_outputs_give_a_vocabulary_and_others_do_not() {
        use etbench_protocol::TensorSpec;
        assert_eq!(vocabulary(&[TensorSpec::tensor(Dtype::Float32, vec![1, 4, 100])]), Some(100));
        assert_eq!(vocabulary(&[TensorSpec::tensor(Dtype::Int64, vec![1, 4])]), None);
    }
}
