//! One run = one fresh runner process. Reads its protocol lines into a [`RunResult`]; a runner that dies, exits
//! non-zero or breaks the protocol becomes an error row that keeps every sample measured before.
//! The row it returns holds what the runner said and the judged exit; its summary and warnings are derived once, by
//! [`crate::run::sweep`]'s `finish_row`, after the sweep attached its own facts.

use crate::units::plural;
use std::ffi::OsString;

use chrono::Utc;
use etbench_protocol::{ErrorKind, InputSpec, Line, Message, PhaseKind, RunSpec, RunnerError};

use crate::device::{Device, Exit};
use crate::plan::manifest::Expectation;
use crate::results::{
    DeviceRef, GenerationRecord, ModelRef, OutputVerdict, Pairing, RunParams, RunResult, RunStatus, RunnerInfo, Samples,
};

/// Runner arguments: the run specification as one JSON value, then the model path after `--` (argv entries,
/// no shell quoting here; remote transports quote each one).
pub fn runner_args(model_path: &str, spec: &RunSpec) -> Vec<OsString> {
    session_args(&[model_path.to_owned()], spec)
}

/// [`runner_args`] for a paired session: every model path after `--`, the reference first.
fn session_args(model_paths: &[String], spec: &RunSpec) -> Vec<OsString> {
    let json = serde_json::to_string(spec).expect("a RunSpec always serialises");
    // `--` so a model path starting with `-` is never taken for a flag.
    let mut args: Vec<OsString> = vec!["--spec".into(), json.into(), "--".into()];
    args.extend(model_paths.iter().map(OsString::from));
    args
}

/// The spec as the device sees it: `file:` inputs point at their staged copies on the device.
fn device_spec(device: &dyn Device, spec: &RunSpec) -> Result<RunSpec, String> {
    let mut spec = spec.clone();
    for input in spec.inputs.iter_mut() {
        if let InputSpec::File { path } = input {
            let host = std::path::Path::new(path.as_str());
            let sha = crate::device::push::sha256_cached(host).map_err(|e| format!("input file:{path}: {e}"))?;
            *path = device.stage_model(host, &sha).map_err(|e| format!("input file:{path}: {e}"))?;
        }
    }
    Ok(spec)
}

/// A run that never reached a runner (bad model file on the host, runner missing).
pub fn error_row(device: DeviceRef, model: ModelRef, params: RunParams, kind: ErrorKind, message: String) -> RunResult {
    RunResult {
        id: run_id(&device.name, &model.name, &params),
        device,
        model,
        params,
        started_at: Utc::now(),
        status: RunStatus::Error,
        error: Some(RunnerError { model: 0, kind, phase: None, executorch_error: None, message }),
        runner: None,
        phases: Vec::new(),
        samples: Samples::default(),
        outputs: Vec::new(),
        output_verdict: OutputVerdict::Missing,
        summary: None,
        prompt: None,
        generation: None,
        llm: None,
        conditions: Vec::new(),
        energy: None,
        warnings: Vec::new(),
        profile: None,
        memory_fit: None,
        pairing: None,
        output_dump: None,
    }
}

fn run_id(device: &str, model: &str, params: &RunParams) -> String {
    crate::results::identity::RunIdentity::run_id(device, model, params)
}

/// ExecuTorch's info-level log lines ("I 00:00:00.012 executorch:…") say nothing about a failure.
fn is_runtime_info(line: &str) -> bool {
    line.strip_prefix("I ")
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()) && rest.contains("executorch:"))
}

/// The operators the runtime logged as missing (`Missing operator: [16] llama::update_cache.out`), in order, once each.
fn missing_operators(stderr: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in stderr.lines() {
        let Some(rest) = line.split("Missing operator: ").nth(1) else { continue };
        let name = rest.split_whitespace().last().unwrap_or_default().to_owned();
        if !name.is_empty() && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// The last few distinct lines of the runner's stderr, without the runtime's info lines; a line the runtime repeats
/// (one per output, per step: "Tag: 4 output: 0 is not Tensor") is kept once, with its count.
fn stderr_tail(stderr: &str) -> String {
    // (the message without its time stamp, the first line that said it, how often)
    let mut lines: Vec<(&str, &str, usize)> = Vec::new();
    for line in stderr.lines().filter(|l| !l.trim().is_empty() && !is_runtime_info(l)) {
        let message = line.split_once(" executorch:").map_or(line, |(_, m)| m);
        match lines.iter_mut().find(|(m, _, _)| *m == message) {
            Some((_, _, n)) => *n += 1,
            None => lines.push((message, line, 1)),
        }
    }
    let shown: Vec<String> = lines[lines.len().saturating_sub(5)..]
        .iter()
        .map(|(_, line, n)| if *n > 1 { format!("{line} (×{n})") } else { line.to_string() })
        .collect();
    shown.join("\n")
}

/// Runs one fresh runner process on `device` and turns what it said into a row; `extra` runner flags go before the
/// model path (e.g. `--dump-output FILE`).
pub fn run_once_with(
    device: &dyn Device,
    device_ref: DeviceRef,
    model: ModelRef,
    params: RunParams,
    expectation: Option<&Expectation>,
    extra: &[OsString],
) -> RunResult {
    let mut rows = run_session(device, device_ref, vec![(model, expectation.cloned())], params, extra);
    rows.pop().expect("one row per model")
}

/// One runner process timing every model of `models` (a paired session when there are several: loaded together,
/// timed iterations alternating round by round): one row per model, in order. A failure of one model ends the
/// session; the others keep what they measured and say why they stopped.
// Over 80 lines on purpose: one runner process read line by line, with its rows kept apart per model; split, the parts
// would share every local.
pub fn run_session(
    device: &dyn Device,
    device_ref: DeviceRef,
    models: Vec<(ModelRef, Option<Expectation>)>,
    params: RunParams,
    extra: &[OsString],
) -> Vec<RunResult> {
    let timeout = params.run_timeout_s.map(std::time::Duration::from_secs_f64);
    let paired = models.len() > 1;
    let names: Vec<String> = models.iter().map(|(m, _)| m.name.clone()).collect();
    let mut rows: Vec<RunResult> = models
        .iter()
        .enumerate()
        .map(|(i, (model, _))| {
            let mut row =
                error_row(device_ref.clone(), model.clone(), params.clone(), ErrorKind::RunnerCrashed, String::new());
            row.error = None;
            if paired {
                row.id = format!("{}/p{i}", row.id);
                row.pairing = Some(Pairing {
                    session: rows_session_id(&device_ref.name, &params, &names),
                    position: i as u32,
                    models: names.clone(),
                    pair: None,
                });
            }
            row
        })
        .collect();
    let fail_all = |rows: Vec<RunResult>, kind, message: String| -> Vec<RunResult> {
        rows.into_iter().map(|r| fail(r, kind, None, message.clone())).collect()
    };
    let mut staged = Vec::new();
    for row in &rows {
        match device.stage_model(std::path::Path::new(&row.model.path), &row.model.sha256) {
            Ok(path) => staged.push(path),
            // A push stopped by Ctrl-C is an interrupted run (redone by --resume), not an I/O failure.
            Err(e) if crate::progress::interrupted() => return fail_all(rows, ErrorKind::Interrupted, e.to_string()),
            Err(e) => return fail_all(rows, ErrorKind::Io, e.to_string()),
        }
    }
    let spec = match device_spec(device, &params.spec) {
        Ok(spec) => spec,
        Err(e) => return fail_all(rows, ErrorKind::Io, e),
    };
    let mut args = session_args(&staged, &spec);
    let at = args.iter().position(|a| a == "--").expect("session_args puts `--` before the models");
    args.splice(at..at, extra.iter().cloned());
    let mut process = match device.spawn_runner(&args) {
        Ok(p) => p,
        Err(e) => return fail_all(rows, ErrorKind::RunnerMissing, e.to_string()),
    };
    let mut pending: Vec<Pending> = rows.iter().map(|_| Pending::default()).collect();
    let mut protocol_error = None;
    let lines = process.lines();
    let mut progress = Progress::new(&params);
    // Why etbench killed the runner, if it did: the kind and what to say before (and after) the kept samples.
    let mut stopped: Option<(ErrorKind, String, &str)> = None;
    let mut last_line = std::time::Instant::now();
    loop {
        if crate::progress::interrupted() {
            let head = "interrupted: etbench was stopped (Ctrl-C or SIGTERM) and killed the runner".to_owned();
            stopped = Some((ErrorKind::Interrupted, head, "; `etbench run --resume` redoes this run"));
            process.kill();
            break;
        }
        // Short waits, so an interrupt or the run timeout is noticed while the runner is quiet.
        let line = match lines.recv_timeout(std::time::Duration::from_millis(100)) {
            Ok(Some(line)) => line,
            Ok(None) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if let Some(limit) = timeout.filter(|limit| last_line.elapsed() >= *limit) {
                    let head = format!(
                        "timeout: the runner said nothing for {:.0} s (--run-timeout) and was killed; the device may be hung, or one forward takes longer: raise --run-timeout",
                        limit.as_secs_f64()
                    );
                    stopped = Some((ErrorKind::Timeout, head, ""));
                    process.kill();
                    break;
                }
                continue;
            }
        };
        last_line = std::time::Instant::now();
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        match Line::parse(text) {
            Ok(parsed) => match parsed.msg {
                Message::Conditions(c) => rows.iter_mut().for_each(|r| r.conditions.push(c.clone())),
                Message::Energy(e) => {
                    for (i, row) in rows.iter_mut().enumerate() {
                        row.energy = Some(crate::results::energy::EnergyResult::of_model(&e, i as u32));
                    }
                }
                msg => {
                    progress.saw(&msg);
                    let i = (message_model(&msg) as usize).min(rows.len() - 1);
                    absorb(&mut rows[i], msg, &mut pending[i]);
                }
            },
            Err(e) => {
                protocol_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    let (exit, stderr) = process.finish();
    let cgroup = rows.first().and_then(memory_limit).map(|l| l.cgroup.clone());
    let out = judge(rows, pending, models, paired, exit, &stderr, protocol_error, stopped);
    // After judging (an OOM verdict reads the cgroup's counters), whatever ended the run (a remote
    // runner's cgroup is not on this host: it stays behind as an empty directory).
    if let Some(dir) = cgroup {
        let _ = std::fs::remove_dir(dir);
    }
    out
}

/// The rows once the runner has exited: a run etbench stopped keeps its samples and says why; otherwise each row
/// is judged by the exit, the protocol and (paired) whether another model ended the session.
#[allow(clippy::too_many_arguments)]
fn judge(
    rows: Vec<RunResult>,
    pending: Vec<Pending>,
    models: Vec<(ModelRef, Option<Expectation>)>,
    paired: bool,
    exit: Exit,
    stderr: &str,
    protocol_error: Option<String>,
    stopped: Option<(ErrorKind, String, &str)>,
) -> Vec<RunResult> {
    if let Some((kind, head, tail)) = stopped {
        return rows
            .into_iter()
            .zip(pending)
            .map(|(row, p)| {
                let kept = row.samples.timed_ns.len();
                fail(row, kind, p.last_phase, format!("{head}; {} kept{tail}", plural(kept, "sample", "samples")))
            })
            .collect();
    }
    let failed = rows.iter().find_map(|r| r.error.as_ref().map(|e| format!("{}: {}", r.model.name, e.message)));
    rows.into_iter()
        .zip(pending)
        .zip(models)
        .map(|((mut row, pending), (_, expectation))| {
            let last_phase = pending.last_phase;
            if row.params.spec.generate > 0 && !row.samples.generate_ns.is_empty() {
                row.generation = Some(GenerationRecord {
                    requested: row.params.spec.generate,
                    token_ids: pending.generated,
                    text: None,
                    step_latency_ns: row.samples.generate_ns.clone(),
                });
            }
            match (&failed, row.error.is_none() && paired && exit != Exit::Code(0)) {
                (Some(other), true) => {
                    let kept = row.samples.timed_ns.len();
                    fail(
                        row,
                        ErrorKind::RunnerCrashed,
                        last_phase,
                        format!(
                            "the paired session ended early because {other}; {} kept",
                            plural(kept, "sample", "samples")
                        ),
                    )
                }
                _ => classify_exit(row, exit, stderr, last_phase, protocol_error.clone(), expectation.as_ref()),
            }
        })
        .collect()
}

/// The session a paired row belongs to: device, settings and repeat (the rows of one process share it).
pub fn rows_session_id(device: &str, params: &RunParams, names: &[String]) -> String {
    crate::results::identity::RunIdentity::run_id(device, &names.join("+"), params)
}

/// Per-iteration progress on stderr when forwards are slow (a multi-minute bf16 forward on a phone): k/N, the
/// last latency and an estimate of what is left, from the sample lines as they arrive.
struct Progress {
    total: u32,
    warmup: u32,
    seen: u32,
}

impl Progress {
    /// Forwards slower than this get a progress line each.
    const SLOW_NS: u64 = 1_000_000_000;

    fn new(params: &RunParams) -> Self {
        Self { total: params.spec.iterations, warmup: params.spec.warmup, seen: 0 }
    }

    fn saw(&mut self, msg: &Message) {
        if let Message::Generation(g) = msg {
            // A generation of a big model takes seconds to minutes: each slow one gets a line.
            let total_ns = g.prefill_ns + g.decode_ns.iter().sum::<u64>();
            if total_ns >= Self::SLOW_NS {
                let decode = Some(crate::results::llm::decode_tokens_per_s(g)).filter(|v| v.is_finite()).unwrap_or(0.0);
                let (what, n, of) = if g.warmup {
                    ("warm-up generation", g.index + 1, self.warmup)
                } else {
                    ("generation", g.index + 1, self.total)
                };
                crate::say!(
                    "      {what} {n}/{of}: TTFT {} ms, decode {} tok/s ({:.1} s)",
                    crate::units::ms(g.ttft_ns as f64),
                    crate::units::rate(decode),
                    total_ns as f64 / 1e9
                );
            }
            return;
        }
        let Message::Sample(s) = msg else { return };
        if !matches!(s.phase, PhaseKind::Warmup | PhaseKind::Timed) {
            return;
        }
        self.seen += 1;
        if s.latency_ns < Self::SLOW_NS {
            return;
        }
        let all = self.total + self.warmup;
        let left = all.saturating_sub(self.seen) as f64 * s.latency_ns as f64 / 1e9;
        crate::say!(
            "      {} {}/{}: last {:.1} s, about {:.0} s left at this pace",
            s.phase.as_str(),
            if s.phase == PhaseKind::Timed { self.seen.saturating_sub(self.warmup) } else { self.seen },
            if s.phase == PhaseKind::Timed { self.total } else { self.warmup },
            s.latency_ns as f64 / 1e9,
            left
        );
    }
}

/// Which model of the session a line is about.
fn message_model(msg: &Message) -> u32 {
    match msg {
        Message::Meta(m) => m.model,
        Message::Phase(p) => p.model,
        Message::Sample(s) => s.model,
        Message::Summary(s) => s.model,
        Message::Error(e) => e.model,
        Message::Generation(g) => g.model,
        Message::Conditions(_) | Message::Heartbeat(_) | Message::Energy(_) => 0,
    }
}

fn classify_exit(
    mut row: RunResult,
    exit: Exit,
    stderr: &str,
    last_phase: Option<PhaseKind>,
    protocol_error: Option<String>,
    expectation: Option<&Expectation>,
) -> RunResult {
    if let Some(e) = protocol_error.filter(|_| row.error.is_none() && !matches!(exit, Exit::Signal(_))) {
        return fail(row, ErrorKind::RunnerCrashed, last_phase, e);
    }
    match (exit, row.error.is_some()) {
        (Exit::Code(0), false) if row.runner.is_some() && !row.samples.timed_ns.is_empty() => {
            row.status = RunStatus::Ok;
            if let Some(llm) = &mut row.llm {
                llm.expected = expectation.and_then(|e| e.generation_after(&llm.prompt_ids)).map(<[i64]>::to_vec);
            }
            row.output_verdict = verdict(&row, expectation);
            row
        }
        (_, true) => {
            // The runtime names a missing kernel only in its log: the error row names it too.
            let missing = missing_operators(stderr);
            if let (false, Some(e)) = (missing.is_empty(), row.error.as_mut()) {
                e.message = format!(
                    "{}; missing operator{}: {}",
                    e.message,
                    if missing.len() == 1 { "" } else { "s" },
                    missing.join(", ")
                );
            }
            row
        }
        (exit, false) => {
            let tail = stderr_tail(stderr);
            let during = last_phase.map(|p| format!(" after phase {}", p.as_str())).unwrap_or_default();
            let kept = row.samples.timed_ns.len() + row.samples.warmup_ns.len();
            let oom = oom_killed(&row, exit);
            let kind = if oom.is_some() { ErrorKind::Oom } else { ErrorKind::RunnerCrashed };
            let mut message = match oom {
                Some(limit) => {
                    format!("out of memory: the runner exceeded its {limit} memory limit and was OOM-killed{during}")
                }
                None => format!("runner {exit}{during}"),
            };
            message.push_str(&format!(
                "; {} measured before {} kept",
                plural(kept, "sample", "samples"),
                if kept == 1 { "was" } else { "were" }
            ));
            if !tail.is_empty() {
                message.push_str(&format!("; runner stderr:\n{tail}"));
            }
            fail(row, kind, last_phase, message)
        }
    }
}

/// The runner's memory cgroup, if it made one (`--memory-limit`).
fn memory_limit(row: &RunResult) -> Option<&etbench_protocol::MemoryLimit> {
    row.conditions.iter().find_map(|c| c.memory_limit.as_ref())
}

/// A SIGKILL under a memory limit whose cgroup counted an OOM kill (or whose counter is unreadable): the limit as text.
fn oom_killed(row: &RunResult, exit: Exit) -> Option<String> {
    let limit = memory_limit(row)?;
    if exit != Exit::Signal(libc::SIGKILL) {
        return None;
    }
    let dir = std::path::Path::new(&limit.cgroup);
    let counter = ["memory.oom_control", "memory.events"].iter().find_map(|f| {
        let text = std::fs::read_to_string(dir.join(f)).ok()?;
        text.lines().find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse::<u64>().ok())
    });
    (counter != Some(0)).then(|| format!("{:.1} MiB", limit.bytes as f64 / 1048576.0))
}

/// Asks the runner for a model's method metadata (`--describe`: program load only, no method load).
pub fn describe(device: &dyn Device, model: &ModelRef, method: &str) -> Result<etbench_protocol::RunnerMeta, String> {
    let model_path = &model.path;
    let staged = device.stage_model(std::path::Path::new(model_path), &model.sha256).map_err(|e| e.to_string())?;
    let spec = RunSpec { method: method.to_owned(), ..RunSpec::default() };
    let mut args = runner_args(&staged, &spec);
    args.insert(0, "--describe".into());
    let mut process = device.spawn_runner(&args).map_err(|e| e.to_string())?;
    let mut text = String::new();
    let _ = std::io::Read::read_to_string(&mut process.stdout, &mut text);
    let (exit, stderr) = process.finish();
    let mut meta = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match Line::parse(line).map_err(|e| e.to_string())?.msg {
            Message::Meta(m) => meta = Some(m),
            Message::Error(e) => return Err(e.message),
            _ => {}
        }
    }
    meta.ok_or_else(|| format!("runner gave no description of {model_path} ({exit}): {}", stderr_tail(&stderr)))
}

fn fail(mut row: RunResult, kind: ErrorKind, phase: Option<PhaseKind>, message: String) -> RunResult {
    row.status = RunStatus::Error;
    row.error = Some(RunnerError { model: 0, kind, phase, executorch_error: None, message });
    row
}

/// What the protocol told us that has no place in the row until the end.
#[derive(Default)]
struct Pending {
    last_phase: Option<PhaseKind>,
    generated: Vec<i64>,
}

fn absorb(row: &mut RunResult, msg: Message, pending: &mut Pending) {
    match msg {
        Message::Heartbeat(_) => {}
        Message::Generation(g) => {
            if let Some(llm) = &mut row.llm {
                llm.generations.push(g);
            }
        }
        Message::Conditions(c) => row.conditions.push(c),
        Message::Energy(e) => row.energy = Some(crate::results::energy::EnergyResult::of_model(&e, 0)),
        Message::Meta(meta) => {
            row.model.size_bytes = meta.model_size_bytes.unwrap_or(row.model.size_bytes);
            row.runner = Some(RunnerInfo {
                debug_build: meta.debug_build,
                runner_version: meta.runner_version,
                executorch_version: meta.executorch_version,
                target_triple: meta.target_triple,
                threads_effective: meta.threads_effective,
                inputs: meta.inputs,
                outputs: meta.outputs,
                inputs_used: meta.inputs_used,
                input_ids: meta.input_ids,
            });
            if let (Some(program), Some(_)) = (meta.llm, &row.params.spec.llm) {
                row.llm = Some(crate::results::llm::LlmResult::new(program, meta.metadata, meta.prompt_ids));
            }
        }
        Message::Phase(phase) => {
            pending.last_phase = Some(phase.phase);
            row.phases.push(phase);
        }
        Message::Sample(s) => match s.phase {
            PhaseKind::FirstForward => row.samples.first_forward_ns = Some(s.latency_ns),
            PhaseKind::Warmup => row.samples.warmup_ns.push(s.latency_ns),
            PhaseKind::Generate => row.samples.generate_ns.push(s.latency_ns),
            _ => {
                row.samples.timed_ns.push(s.latency_ns);
                if let Some(round) = s.round {
                    row.samples.timed_rounds.push(round);
                }
            }
        },
        Message::Summary(summary) => {
            row.outputs = summary.outputs;
            pending.generated = summary.generated;
        }
        Message::Error(error) => {
            row.status = RunStatus::Error;
            row.error = Some(error);
        }
    }
}

fn verdict(row: &RunResult, expectation: Option<&Expectation>) -> OutputVerdict {
    if let Some(llm) = &row.llm {
        return generation_verdict(llm);
    }
    let Some(first) = row.outputs.first() else { return OutputVerdict::Missing };
    if let Some(bad) = row.outputs.iter().find(|o| !o.is_finite()) {
        return OutputVerdict::NonFinite { nan_count: bad.nan_count, inf_count: bad.inf_count };
    }
    let Some(exp) = expectation.filter(|_| row.params.default_inputs()) else { return OutputVerdict::Finite };
    if Some(exp.argmax_last) != first.argmax_last && first.argmax_last.is_some() {
        return OutputVerdict::Mismatch { expected_argmax_last: exp.argmax_last, got_argmax_last: first.argmax_last };
    }
    match exp.outputs.iter().zip(&row.outputs).find(|(e, got)| !e.matches(got)) {
        Some((e, got)) => {
            OutputVerdict::OutputDiffers { index: got.index, expected: e.describe(), got: describe_check(got) }
        }
        None => OutputVerdict::MatchesManifest,
    }
}

/// A generation run is judged by its generated ids: every step's logits finite, the same ids in every generation,
/// and the ids the export recorded for the same prompt.
fn generation_verdict(llm: &crate::results::llm::LlmResult) -> OutputVerdict {
    let nonfinite: u32 = llm.timed().map(|g| g.nonfinite_steps).sum();
    if nonfinite > 0 {
        return OutputVerdict::NonFinite { nan_count: nonfinite as u64, inf_count: 0 };
    }
    let inconsistent = llm.inconsistent();
    if inconsistent > 0 {
        return OutputVerdict::OutputDiffers {
            index: 0,
            expected: format!("the ids of the first generation {:?}", llm.generated()),
            got: format!(
                "different ids in {inconsistent} other generation{}",
                if inconsistent == 1 { "" } else { "s" }
            ),
        };
    }
    match llm.check_expected() {
        None => OutputVerdict::Finite,
        Some(Ok(_)) => OutputVerdict::MatchesManifest,
        Some(Err((i, expected, got))) => OutputVerdict::OutputDiffers {
            index: 0,
            expected: format!("generated id {expected} at token {i} (export manifest)"),
            got: format!("{got}"),
        },
    }
}

fn describe_check(c: &etbench_protocol::OutputCheck) -> String {
    let argmax = c.argmax_last.map(|a| format!(", argmax {a}")).unwrap_or_default();
    format!(
        "{}{:?}, sum {}{argmax}",
        c.dtype.name(),
        c.sizes,
        c.sum.map(|s| format!("{s:.6}")).unwrap_or_else(|| "-".into())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use etbench_protocol::LoadMode;

    #[test]
    fn missing_operators_are_named_once_each() {
        let stderr = "E 00:00:00.003021 executorch:method.cpp:822] Missing operator: [16] llama::update_cache.out\nE 0 x] kernel 'llama::update_cache.out' not found.\nE 00:00:00.1 executorch:method.cpp:822] Missing operator: [17] llama::custom_sdpa.out\nE 0 executorch:method.cpp:822] Missing operator: [18] llama::update_cache.out\n";
        assert_eq!(missing_operators(stderr), ["llama::update_cache.out", "llama::custom_sdpa.out"]);
        assert!(missing_operators("I 0 nothing here").is_empty());
    }

    #[test]
    fn runtime_info_lines_are_left_out_of_error_messages() {
        let stderr = "I 00:00:00.012 executorch:threadpool.cpp:66] Resetting threadpool to 2 threads.\nE 00:00:01 executorch:method.cpp:1] Missing operator: foo\n";
        assert_eq!(stderr_tail(stderr), "E 00:00:01 executorch:method.cpp:1] Missing operator: foo");
        let noisy = "E 00:00:01 executorch:method.cpp:9] Tag: 4 output: 0 is not Tensor\n".repeat(3)
            + "E 00:00:02 executorch:method.cpp:9] Tag: 4 output: 0 is not Tensor\nkilled\n";
        assert_eq!(
            stderr_tail(&noisy),
            "E 00:00:01 executorch:method.cpp:9] Tag: 4 output: 0 is not Tensor (×4)\nkilled"
        );
    }

    #[test]
    fn model_path_goes_after_double_dash_and_the_spec_is_one_json_argument() {
        let spec = RunSpec {
            warmup: 1,
            iterations: 2,
            threads: Some(2),
            load_mode: LoadMode::File,
            thermal_gate_c: Some(45.0),
            ..RunSpec::default()
        };
        let args = runner_args("-evil; $(rm -rf x).pte", &spec);
        assert_eq!(args.len(), 4);
        assert_eq!(args[2], "--");
        assert_eq!(args[3], "-evil; $(rm -rf x).pte");
        let sent: RunSpec = serde_json::from_str(args[1].to_str().unwrap()).unwrap();
        assert_eq!(sent, spec);
    }
}
