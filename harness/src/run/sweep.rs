//! A plan's execution: one fresh runner process per cell, results written after every run, failures turned into
//! error rows while the sweep goes on.

use std::path::PathBuf;

use etbench_protocol::{ErrorKind, InputSpec};

use crate::export::store::OutputDir;
use crate::plan::manifest;
use crate::plan::model;
use crate::plan::prompt::{FittedPrompt, ModelWindow};
use crate::plan::{Cell, Plan, Prompt};
use crate::results::provenance;
use crate::results::{DeviceRef, Document, RunParams, RunResult};
use crate::run::process;

/// Fits the plan's prompt to `model`'s token window (the runner describes the method: program load only).
fn prepare_prompt(
    plan: &Plan,
    index: usize,
    prompt: &Prompt,
    model: &crate::results::ModelRef,
) -> Result<FittedPrompt, String> {
    let method = &plan.settings.spec.method;
    let meta = process::describe(plan.device_for(index), model, method)?;
    let window = ModelWindow::from_meta(&meta, &model.path, method, &prompt.tokenizer)?;
    FittedPrompt::new(&prompt.tokenizer, &prompt.text, window, &model.path).map_err(|e| e.to_string())
}

/// What is known about a model before any run: its file check, expected output, fitted prompt, planned memory.
struct Prepared {
    checked: Result<crate::results::ModelRef, model::ModelProblem>,
    expectation: Option<crate::plan::manifest::Expectation>,
    prompt: Option<Result<FittedPrompt, String>>,
    /// The method's memory-planned bytes, read from the program on the host (no runtime needed), plus any mutable
    /// buffer (KV cache) the planner left out.
    planned_bytes: Option<u64>,
    /// What the program's flatbuffer says (delegates, KV cache), read on the host.
    inspection: Option<crate::inspect::Inspection>,
}

fn prepare(plan: &Plan, index: usize) -> Prepared {
    let program = &plan.models[index];
    let path = &program.path;
    let checked = program.checked().clone();
    let expectation = checked.as_ref().ok().and_then(|m| manifest::expectation_for(path, &m.sha256));
    let prompt = match (&checked, &plan.prompt) {
        (Ok(m), Some(p)) => Some(prepare_prompt(plan, index, p, m)),
        _ => None,
    };
    let method = &plan.settings.spec.method;
    let inspection = checked.as_ref().ok().and_then(|_| program.inspection().cloned());
    // A program with separate prefill and decode methods has no `forward`: its methods share one arena in a
    // generation run, so it needs the largest of them.
    let planned_bytes = inspection.as_ref().and_then(|i| {
        i.methods
            .iter()
            .find(|m| &m.name == method)
            .or_else(|| i.methods.iter().max_by_key(|m| m.memory_bytes()))
            .map(|m| m.memory_bytes())
    });
    Prepared { checked, expectation, prompt, planned_bytes, inspection }
}

/// The one place a row gets the sweep's facts, after [`process`] absorbed the runner's lines and judged its exit:
/// the fitted prompt and the generated text, the model's label, will-it-fit, and what the host knows of a
/// generation run's program from its flatbuffer (delegate, KV cache, the bytes a decode step reads). Then the
/// summary is derived once, from every fact it reads (decode bytes/s needs the decode step's bytes), and the
/// warnings are assessed once, from the finished row. Nothing edits a row after this.
fn finish_row(plan: &Plan, model: usize, prepared: &Prepared, available: Option<u64>, mut row: RunResult) -> RunResult {
    if let (Some(Ok(input)), Some(p)) = (&prepared.prompt, &plan.prompt) {
        row.prompt = Some(input.record.clone());
        if let Some(generation) = row.generation.as_mut() {
            generation.text = Some(p.tokenizer.decode(&generation.token_ids));
        }
    }
    if let Some(llm) = row.llm.as_mut() {
        if let Some(p) = &plan.text_run {
            // Text runs of LLM programs: the prompt and the generated ids as text, beside the ids.
            llm.prompt_text = Some(p.text.clone());
            llm.generated_text = Some(p.tokenizer.decode(llm.generated()));
        }
        if let Some(ins) = prepared.inspection.as_ref() {
            let backends: Vec<&str> = ins.delegates.iter().map(|d| d.backend.as_str()).collect();
            llm.backend = (!backends.is_empty()).then(|| backends.join(", "));
            llm_facts(ins, llm);
        }
    }
    row.model.name = plan.model_label(model, &row.model.name);
    row.model.program = prepared.inspection.as_ref().map(crate::results::ProgramFacts::of);
    row.memory_fit = memory_fit(prepared, available, row.params.spec.memory_limit_bytes);
    row.summarise();
    row.warnings = crate::results::warnings::assess(&row);
    row
}

/// The KV cache and the bytes a decode step reads, from the flatbuffer; the step is taken halfway through the decode
/// (depth + prompt + half the steps in the cache), so bytes × decode tokens/s is the run's average read rate.
fn llm_facts(ins: &crate::inspect::Inspection, llm: &mut crate::results::llm::LlmResult) {
    llm.kv_cache_bytes = ins.kv_cache.as_ref().map(|kv| kv.bytes);
    let Some(g) = llm.timed().next() else { return };
    let positions = g.depth as u64 + g.prefill_tokens as u64 + g.decode_ns.len() as u64 / 2;
    llm.decode_step_bytes = Some(crate::inspect::llm::decode_step_bytes(ins, positions).total);
}

/// Memory the device had available: `MemAvailable` from a remote device's probe, sysinfo here.
fn available_memory(plan: &Plan) -> Option<u64> {
    match plan.device.probed() {
        Some(p) => p.memory_available_bytes,
        None if plan.device.transport() == crate::device::config::TransportKind::Local => {
            let mut sys = sysinfo::System::new().ok()?;
            sys.refresh_memory();
            Some(sys.available_memory()).filter(|b| *b > 0)
        }
        None => None,
    }
}

/// Will it fit: planned memory plus the file against the available memory (the file counts fully: in file mode it
/// is copied to the heap, with mmap its pages compete for the same RAM, only reclaimably).
/// Under a `--memory-limit` lower than the device's available memory, the limit is what the run has.
fn memory_fit(prepared: &Prepared, available: Option<u64>, limit: Option<u64>) -> Option<crate::results::MemoryFit> {
    let model = prepared.checked.as_ref().ok()?;
    let limited = limit.is_some_and(|l| available.is_none_or(|a| l < a));
    let available = if limited { limit } else { available };
    let (planned_bytes, available_bytes) = (prepared.planned_bytes?, available?);
    let fits = planned_bytes + model.size_bytes <= available_bytes;
    Some(crate::results::MemoryFit { planned_bytes, file_bytes: model.size_bytes, available_bytes, fits, limited })
}

/// Host path of a run's ETDump: `<dir>/<model>-<load mode>-t<threads>[-cpus0x2-mem512MiB-pp32-tg32]-r<repeat>.etdump`
/// (the run's identity qualifiers, so runs on other cores or workloads never overwrite each other's profile).
fn etdump_path(dir: &std::path::Path, model: &str, cell: &Cell, params: &RunParams) -> PathBuf {
    let threads = cell.threads.map(|t| t.to_string()).unwrap_or_else(|| "auto".into());
    let extra = crate::results::identity::RunIdentity::planned("", model, "", params).qualifiers("-");
    dir.join(file_safe(&format!("{model}-{}-t{threads}{extra}-r{}.etdump", cell.load_mode, cell.repeat)))
}

fn attach_profile(
    device: &dyn crate::device::Device,
    row: &mut RunResult,
    device_path: &str,
    host_path: &std::path::Path,
) {
    if !row.is_ok() {
        return;
    }
    let parsed = device.fetch_artifact(device_path, host_path).map_err(|e| e.to_string()).and_then(|_| {
        crate::inspect::etdump::parse(host_path, 1 + row.params.spec.warmup as usize).map_err(|e| e.to_string())
    });
    match parsed {
        Ok(profile) => row.profile = Some(profile),
        Err(e) => crate::say!("      warning: no profile for {}: {e}", row.id),
    }
}

#[allow(clippy::too_many_arguments)]
fn run_cell(
    plan: &Plan,
    device: &dyn crate::device::Device,
    device_ref: &DeviceRef,
    prepared: &Prepared,
    cell: &Cell,
    mut params: RunParams,
    profiles: Option<&std::path::Path>,
    available: Option<u64>,
) -> RunResult {
    let path = &plan.models[cell.model].path;
    if let Some(Ok(input)) = &prepared.prompt {
        let mut inputs = params.spec.inputs.clone();
        if inputs.is_empty() {
            inputs.push(InputSpec::Default);
        }
        inputs[0] = InputSpec::Values(input.window_ids.clone());
        params.spec.inputs = inputs;
        params.spec.real_tokens = Some(input.record.real_tokens as u32);
    }
    let row = match (&prepared.checked, &prepared.prompt) {
        (Err(p), _) => {
            process::error_row(device_ref.clone(), model::unreadable(path), params, p.kind, p.message.clone())
        }
        (Ok(model), Some(Err(message))) => {
            process::error_row(device_ref.clone(), model.clone(), params, ErrorKind::InvalidInput, message.clone())
        }
        (Ok(model), _) => {
            let etdump = profiles.filter(|_| plan.settings.spec.profile).map(|dir| {
                let host = etdump_path(dir, &model.name, cell, &params);
                (device.artifact_path(&host), host)
            });
            let dump = plan.dump_outputs.as_ref().map(|dir| {
                let host = dir.join(format!(
                    "{}.bin",
                    file_safe(&format!("{}-{}-{}", model.name, model.sha256, dump_key(&params)))
                ));
                (device.artifact_path(&host), host)
            });
            let mut extra: Vec<std::ffi::OsString> =
                etdump.iter().flat_map(|(device, _)| ["--etdump".into(), device.into()]).collect();
            extra.extend(dump.iter().flat_map(|(device, _)| ["--dump-output".into(), device.into()]));
            let mut row = process::run_once_with(
                device,
                device_ref.clone(),
                model.clone(),
                params,
                prepared.expectation.as_ref(),
                &extra,
            );
            if let Some((device_path, host_path)) = &etdump {
                attach_profile(device, &mut row, device_path, host_path);
            }
            if let Some((device_path, host_path)) = dump.filter(|_| row.is_ok()) {
                match device.fetch_artifact(&device_path, &host_path) {
                    Ok(()) => row.output_dump = Some(host_path),
                    Err(e) => crate::say!("      warning: output of {} not fetched: {e}", row.id),
                }
            }
            row
        }
    };
    finish_row(plan, cell.model, prepared, available, row)
}

/// One paired session: every model in one runner process. A model whose file check failed makes every row an
/// error row (the session cannot run without it).
fn run_session_cell(
    plan: &Plan,
    device_ref: &DeviceRef,
    prepared: &[&Prepared],
    cell: &Cell,
    available: Option<u64>,
) -> Vec<RunResult> {
    let params = plan.params(cell);
    let bad = prepared.iter().zip(&plan.models).find_map(|(p, path)| p.checked.as_ref().err().map(|e| (path, e)));
    let rows = match bad {
        Some((bad_path, problem)) => prepared
            .iter()
            .zip(&plan.models)
            .map(|(p, path)| {
                let model = p.checked.clone().unwrap_or_else(|_| model::unreadable(&path.path));
                let message = format!("paired session not started: {}: {}", bad_path.display(), problem.message);
                process::error_row(device_ref.clone(), model, params.clone(), problem.kind, message)
            })
            .collect(),
        None => {
            if let Some(w) = together_fit(prepared, available) {
                crate::say!("      warning: {w}");
            }
            let models =
                prepared.iter().map(|p| (p.checked.clone().expect("checked above"), p.expectation.clone())).collect();
            process::run_session(plan.device.as_ref(), device_ref.clone(), models, params, &[])
        }
    };
    rows.into_iter().zip(prepared).enumerate().map(|(m, (row, p))| finish_row(plan, m, p, available, row)).collect()
}

/// A paired in-process session loads every model at once: said before loading when their planned memory (KV caches
/// included) and files together exceed what the device has available.
fn together_fit(prepared: &[&Prepared], available: Option<u64>) -> Option<String> {
    let available = available?;
    let need: u64 = prepared
        .iter()
        .map(|p| p.planned_bytes.unwrap_or(0) + p.checked.as_ref().map(|m| m.size_bytes).unwrap_or(0))
        .sum();
    (need > available).then(|| {
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        format!(
            "the {} models of this paired session need ≈ {:.2} GiB together (planned memory + files) and the device has {:.2} GiB available: they may not fit in one process; use --paired processes (one model per process) instead",
            prepared.len(),
            gib(need),
            gib(available)
        )
    })
}

use crate::plan::defaults::{PROCESS_PAIRS_CI_PCT, PROCESS_PAIRS_MAX, PROCESS_PAIRS_MIN};

/// One session of paired processes: a fresh process per model, in A B … order for even pairs and … B A for odd ones
/// (so drift hits both sides alike), each process with its own load, warm-up and timed iterations. Pairs go on until
/// every candidate's ratio to the reference is within ± the target or the session's time is spent. A failed
/// process ends the session (what was measured is kept); an interrupt too.
// Over 80 lines on purpose: the pair loop with its stopping rule, progress line and failure handling side by side, as
// a user reads them in order.
fn run_process_pairs(
    plan: &Plan,
    device_ref: &DeviceRef,
    prepared: &[&Prepared],
    cell: &Cell,
    available: Option<u64>,
) -> Vec<RunResult> {
    let session_params = plan.params(cell);
    let target = session_params.spec.until_ci_pct.unwrap_or(PROCESS_PAIRS_CI_PCT) / 100.0;
    let budget = session_params.spec.max_time_s.map(std::time::Duration::from_secs_f64);
    // The adaptive and time bounds are the session's; each process runs its fixed iterations.
    let process_params = |model_cell: &Cell| {
        let mut params = plan.params(model_cell);
        params.spec.until_ci_pct = None;
        params.spec.max_time_s = None;
        params
    };
    let names: Vec<String> = prepared
        .iter()
        .zip(&plan.models)
        .enumerate()
        .map(|(i, (p, path))| {
            plan.model_label(
                i,
                &p.checked.as_ref().map(|m| m.name.clone()).unwrap_or_else(|_| model::unreadable(&path.path).name),
            )
        })
        .collect();
    let session = process::rows_session_id(&device_ref.name, &session_params, &names);
    let opts = crate::analysis::compare::Options::default();
    let started = std::time::Instant::now();
    let mut rows: Vec<RunResult> = Vec::new();
    let mut warned: Vec<(usize, std::mem::Discriminant<crate::results::warnings::Warning>)> = Vec::new();
    for pair in 0..PROCESS_PAIRS_MAX {
        let order: Vec<usize> =
            if pair % 2 == 0 { (0..names.len()).collect() } else { (0..names.len()).rev().collect() };
        for m in order {
            if crate::progress::interrupted() {
                return rows;
            }
            let model_cell = Cell { model: m, ..*cell };
            let mut row = run_cell(
                plan,
                plan.device_for(m),
                device_ref,
                prepared[m],
                &model_cell,
                process_params(&model_cell),
                None,
                available,
            );
            row.id = format!("{}/p{m}/k{pair}", row.id);
            row.pairing = Some(crate::results::Pairing {
                session: session.clone(),
                position: m as u32,
                models: names.clone(),
                pair: Some(pair),
            });
            // Each kind of warning once per model and session, not once per process.
            for w in &row.warnings {
                let key = (m, std::mem::discriminant(w));
                if !warned.contains(&key) {
                    crate::say!("      warning: {}: {w} (said once per session)", names[m]);
                    warned.push(key);
                }
            }
            let failed = row.error.as_ref().map(|e| e.message.clone());
            rows.push(row);
            if let Some(message) = failed {
                crate::say!("      error: {} (pair {}): {message}", names[m], pair + 1);
                crate::say!(
                    "      the session of paired processes ends here; the {} processes before are kept",
                    rows.len() - 1
                );
                return rows;
            }
        }
        let done = pair + 1;
        let refs: Vec<&RunResult> = rows.iter().collect();
        let intervals: Vec<Option<(f64, f64, f64)>> = (1..names.len() as u32)
            .map(|position| {
                crate::analysis::paired::session_interval(
                    &crate::analysis::paired::session_ratios(&refs, position),
                    &opts,
                )
            })
            .collect();
        let shown: Vec<String> = intervals
            .iter()
            .zip(&names[1..])
            .map(|(ci, name)| match ci {
                Some((r, lo, hi)) => format!("{name} {r:.3} [{lo:.3}, {hi:.3}]"),
                None => format!("{name}: interval after {PROCESS_PAIRS_MIN} pairs"),
            })
            .collect();
        let mut last: Vec<&RunResult> = rows[rows.len() - names.len()..].iter().collect();
        last.sort_by_key(|r| r.pairing.as_ref().map(|p| p.position));
        let medians: Vec<String> =
            last.iter().filter_map(|r| Some(crate::units::ms(r.summary.as_ref()?.latency_ns.median))).collect();
        let order = if pair % 2 == 0 { "→" } else { "←" };
        crate::say!(
            "      pair {done} ({order}): medians {} ms; ratio to {}: {}",
            medians.join(" / "),
            names[0],
            shown.join("; ")
        );
        let tight = done >= PROCESS_PAIRS_MIN
            && intervals.iter().all(|ci| ci.is_some_and(|(r, lo, hi)| (hi - lo) / 2.0 <= target * r));
        if tight || budget.is_some_and(|b| started.elapsed() >= b) {
            break;
        }
    }
    rows
}

/// Distinguishes the dumps of one model's runs: settings, repeat and (for prompt runs) the fed ids.
fn dump_key(params: &RunParams) -> String {
    let spec = serde_json::to_string(&params.spec).unwrap_or_default();
    let digest = sha2::Digest::finalize(sha2::Digest::chain_update(sha2::Sha256::default(), spec.as_bytes()));
    format!("r{}-{:x}", params.repeat_index, digest)[..20].to_owned()
}

fn file_safe(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect()
}

/// Runs the plan cell by cell, writing results after every run; a failed run is an error row and the sweep goes on.
/// With `prior` (an interrupted sweep's document, `run --resume`), its completed runs are kept and their cells
/// skipped; its interrupted rows are dropped and run again.
pub fn execute(
    plan: &Plan,
    out: Option<&OutputDir>,
    command: Vec<String>,
    prior: Option<Document>,
) -> anyhow::Result<Document> {
    let resuming = prior.is_some();
    let mut doc = match prior {
        Some(mut doc) => {
            // A paired session is one unit: a session with an interrupted run is run again whole.
            let broken: std::collections::BTreeSet<String> = doc
                .runs
                .iter()
                .filter(|r| r.is_interrupted())
                .filter_map(|r| r.pairing.as_ref().map(|p| p.session.clone()))
                .collect();
            doc.runs
                .retain(|r| !r.is_interrupted() && !r.pairing.as_ref().is_some_and(|p| broken.contains(&p.session)));
            doc
        }
        None => Document::new(provenance::provenance(command)),
    };
    run_cells(plan, out, &mut doc, resuming)?;
    Ok(doc)
}

/// Whether `doc` already holds the run of `cell`: a row of the same model file and repeat whose planned identity
/// (device, method, threads, CPU affinity, memory limit, load mode, inputs or workload, runner, energy) is the
/// cell's, so changing any of them re-runs.
fn done(plan: &Plan, cell: &Cell, doc: &Document) -> bool {
    use crate::results::identity::RunIdentity;
    let path = plan.models[cell.model].display().to_string();
    let params = plan.params(cell);
    let wanted = RunIdentity::planned(plan.device.name(), "", "", &params);
    doc.runs.iter().any(|r| {
        r.model.path == path && r.pairing.is_some() == plan.settings.paired && r.params.repeat_index == cell.repeat && {
            let mut got = RunIdentity::planned(&r.device.name, "", "", &r.params);
            if plan.prompt.is_some() {
                // A prompt run's token input is the fitted prompt, filled in after planning.
                got.input.clone_from(&wanted.input);
            }
            got == wanted
        }
    })
}

/// [`execute`] appending to `doc` (several plans, one document: drift's prompts). Stops starting runs once
/// interrupted ([`crate::progress::interrupted`]); the run that was going is an `interrupted` row.
pub fn execute_into(plan: &Plan, out: Option<&OutputDir>, doc: &mut Document) -> anyhow::Result<()> {
    run_cells(plan, out, doc, false)
}

/// The sweep; with `resuming`, cells whose run `doc` holds already are skipped.
// Over 80 lines on purpose: the sweep loop: cool-down, progress, preparation, the run and its row in the order they
// happen for every cell.
fn run_cells(plan: &Plan, out: Option<&OutputDir>, doc: &mut Document, resuming: bool) -> anyhow::Result<()> {
    let device_ref = DeviceRef {
        name: plan.device.name().to_owned(),
        transport: plan.device.transport().as_str().to_owned(),
        info: plan.device.info(),
        probed: plan.device.probed(),
    };
    let cells = plan.cells();
    let todo: Vec<usize> = (0..cells.len()).filter(|&i| !(resuming && done(plan, &cells[i], doc))).collect();
    if todo.len() < cells.len() {
        crate::say!(
            "{}: {} of {} are already in the results; running the other {}",
            device_ref.name,
            cells.len() - todo.len(),
            crate::units::plural(cells.len(), "run", "runs"),
            todo.len()
        );
    }
    let scratch = tempfile::tempdir()?;
    let profiles = match out {
        Some(out) => out.path().join("profiles"),
        None => scratch.path().to_owned(),
    };
    if plan.settings.spec.profile {
        std::fs::create_dir_all(&profiles)?;
    }
    let mut prepared: Vec<Option<Prepared>> = plan.models.iter().map(|_| None).collect();
    let available = available_memory(plan);
    let bar = crate::progress::runs(cells.len() as u64, &device_ref.name);
    bar.set_position((cells.len() - todo.len()) as u64);
    bar.reset_eta();
    for (k, &i) in todo.iter().enumerate() {
        let cell = &cells[i];
        if k > 0 && !plan.settings.cooldown.is_zero() {
            cool_down(plan.settings.cooldown);
        }
        if crate::progress::interrupted() {
            break;
        }
        let threads = match cell.threads {
            None => "auto threads".to_owned(),
            t => crate::results::metric::threads_phrase(t),
        };
        let what = if plan.settings.paired {
            // With a runner per model, one .pte twice reads `M.pte @et-a ⇄ M.pte @et-b`.
            let names: Vec<String> =
                plan.models.iter().enumerate().map(|(i, p)| plan.model_label(i, &p.display().to_string())).collect();
            let design = if plan.settings.processes { "paired processes" } else { "paired session" };
            format!("{design} {}", names.join(" ⇄ "))
        } else {
            plan.models[cell.model].display().to_string()
        };
        crate::say!(
            "[{}/{}] {}: {what} ({}, {threads}, repeat {}/{})",
            i + 1,
            cells.len(),
            device_ref.name,
            cell.load_mode,
            cell.repeat + 1,
            plan.settings.repeats
        );
        let rows = if plan.settings.paired {
            for (m, slot) in prepared.iter_mut().enumerate() {
                slot.get_or_insert_with(|| prepare(plan, m));
            }
            let all: Vec<&Prepared> = prepared.iter().map(|p| p.as_ref().expect("prepared above")).collect();
            if plan.settings.processes {
                run_process_pairs(plan, &device_ref, &all, cell, available)
            } else {
                run_session_cell(plan, &device_ref, &all, cell, available)
            }
        } else {
            let model = prepared[cell.model].get_or_insert_with(|| prepare(plan, cell.model));
            // Said before loading too: a GB-scale model that will not fit may take minutes to fail.
            let warning = memory_fit(model, available, plan.settings.spec.memory_limit_bytes)
                .and_then(|f| crate::results::warnings::may_not_fit(&f, cell.load_mode));
            if let Some(w) = warning {
                crate::say!("      warning: {w}");
            }
            vec![run_cell(
                plan,
                plan.device_for(cell.model),
                &device_ref,
                model,
                cell,
                plan.params(cell),
                Some(&profiles),
                available,
            )]
        };
        for mut row in rows {
            if crate::progress::interrupted() && !row.is_ok() && !row.is_interrupted() {
                // A push or probe cut short by the signal fails with its own words: it is the interrupted run.
                mark_interrupted(&mut row);
            }
            if !plan.settings.processes {
                report_progress(&row);
            }
            doc.runs.push(row);
        }
        if plan.settings.paired {
            doc.paired = crate::analysis::paired::ratios(doc, &crate::analysis::compare::Options::default());
        }
        if let Some(out) = out {
            out.write_results(doc)?;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

/// The pause between runs, cut short by an interrupt.
fn cool_down(pause: std::time::Duration) {
    let until = std::time::Instant::now() + pause;
    while !crate::progress::interrupted() && std::time::Instant::now() < until {
        std::thread::sleep((until - std::time::Instant::now()).min(std::time::Duration::from_millis(100)));
    }
}

fn mark_interrupted(row: &mut RunResult) {
    if let Some(error) = row.error.as_mut() {
        error.message =
            format!("interrupted (Ctrl-C or SIGTERM): {}; `etbench run --resume` redoes this run", error.message);
        error.kind = ErrorKind::Interrupted;
    }
}

fn report_progress(row: &RunResult) {
    for warning in &row.warnings {
        crate::say!("      warning: {warning}");
    }
    let llm = row.llm.as_ref().and_then(|l| l.summary.as_ref());
    match (&row.error, &row.summary) {
        (Some(e), _) => crate::say!("      error: {}", e.message),
        (None, Some(_)) if llm.is_some() => {
            let s = llm.expect("checked");
            crate::say!(
                "      decode {} tok/s ({}–{}), prefill {} tok/s, TTFT {} ms; {}",
                crate::units::rate(s.decode_tokens_per_s.median),
                crate::units::rate(s.decode_tokens_per_s.lower),
                crate::units::rate(s.decode_tokens_per_s.upper),
                crate::units::rate(s.prefill_tokens_per_s.median),
                crate::units::adaptive(s.ttft_ms.median),
                crate::units::plural(s.generations, "generation", "generations")
            )
        }
        (None, Some(s)) => crate::say!(
            "      median {} ms (p10–p90 {}–{} ms), {}",
            crate::units::ms(s.latency_ns.median),
            crate::units::ms(s.latency_ns.p10),
            crate::units::ms(s.latency_ns.p90),
            crate::units::plural(s.latency_ns.n, "timed iteration", "timed iterations")
        ),
        (None, None) => {}
    }
    if let Some(s) = row.energy.as_ref().and_then(|e| e.summary.as_ref()) {
        let per = match (s.joules_per_forward, s.decode_joules_per_token) {
            (Some(j), _) => format!(", {}/forward", crate::units::joules(j)),
            (None, Some(j)) => format!(", {}/decode token", crate::units::joules(j)),
            _ => String::new(),
        };
        let idle = s.idle_watts.map(|w| format!(" (idle {})", crate::units::watts(w))).unwrap_or_default();
        crate::say!(
            "      energy: {}{idle}{per} from {}",
            crate::units::watts(s.watts),
            row.energy.as_ref().map(|e| e.source()).unwrap_or_default()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(size_bytes: u64, planned: u64) -> Prepared {
        let model = crate::results::ModelRef {
            path: "m.pte".into(),
            name: "m".into(),
            size_bytes,
            program: None,
            sha256: "ab".into(),
        };
        Prepared { checked: Ok(model), expectation: None, prompt: None, planned_bytes: Some(planned), inspection: None }
    }

    #[test]
    fn paired_models_that_do_not_fit_together_point_to_paired_processes() {
        let gib = 1u64 << 30;
        let (a, b) = (prepared(3 * gib, gib), prepared(3 * gib, gib));
        let w = together_fit(&[&a, &b], Some(6 * gib)).unwrap();
        assert!(w.contains("8.00 GiB") && w.contains("--paired processes"), "{w}");
        assert_eq!(together_fit(&[&a, &b], Some(9 * gib)), None);
    }

    #[test]
    fn a_model_bigger_than_available_memory_does_not_fit_and_says_so() {
        let gib = 1u64 << 30;
        let fit = memory_fit(&prepared(9 * gib + gib / 2, gib), Some(8 * gib), None).unwrap();
        assert!(!fit.fits);
        assert!(memory_fit(&prepared(gib, gib), Some(8 * gib), None).unwrap().fits);
        assert_eq!(memory_fit(&prepared(gib, gib), None, None), None, "unknown memory: nothing claimed");
        // A --memory-limit below the device's memory is what the run has; one above it changes nothing.
        let limited = memory_fit(&prepared(gib, gib), Some(8 * gib), Some(gib)).unwrap();
        assert!(limited.limited && !limited.fits && limited.available_bytes == gib, "{limited:?}");
        assert!(!memory_fit(&prepared(gib, gib), Some(8 * gib), Some(16 * gib)).unwrap().limited);
        assert!(memory_fit(&prepared(gib, gib), None, Some(gib)).unwrap().limited);
        let w = crate::results::warnings::Warning::MayNotFit {
            needs_bytes: fit.planned_bytes + fit.file_bytes,
            planned_bytes: fit.planned_bytes,
            available_bytes: fit.available_bytes,
            mmap: true,
            limited: false,
        };
        let text = w.to_string();
        assert!(
            text.contains("needs ≈ 10.50 GiB")
                && text.contains("8.00 GiB available")
                && text.contains("mmap keeps the weights file-backed"),
            "{text}"
        );
    }

    #[test]
    fn a_generation_run_gets_the_kv_cache_and_the_bytes_of_its_middle_decode_step() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/data/llm-metadata.pte");
        let ins = crate::inspect::inspect(&path).unwrap();
        let memory = serde_json::json!({"vm_hwm_bytes": null, "ru_maxrss_bytes": null, "rss_bytes": null, "rss_anon_bytes": null, "rss_file_bytes": null, "minor_faults": null, "major_faults": null, "peak_reset": false});
        let generation = serde_json::json!({
            "index": 0, "depth": 2, "prefill_tokens": 4, "prefill_mode": "one_call", "prefill_calls": 1, "prefill_ns": 1000,
            "ttft_ns": 1000, "decode_ns": [10, 10, 10, 10], "generated": [1, 2, 3, 4, 5], "end_uptime_ms": 1,
            "memory_after_prefill": memory, "memory_after_decode": memory,
        });
        let mut llm = crate::results::llm::LlmResult::new(ins.llm.clone().unwrap(), ins.metadata.clone(), Vec::new());
        llm.generations = vec![serde_json::from_value(generation).unwrap()];
        llm_facts(&ins, &mut llm);
        assert_eq!(llm.kv_cache_bytes, Some(512));
        // 2 + 4 + 4/2 = 8 of the 16 positions: half the cache.
        assert_eq!(llm.decode_step_bytes, Some(crate::inspect::llm::decode_step_bytes(&ins, 8).total));
        assert_eq!(crate::inspect::llm::decode_step_bytes(&ins, 8).kv_cache, 256);
    }
}
