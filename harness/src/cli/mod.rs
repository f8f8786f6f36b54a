//! Command-line parsing and dispatch. Only this module knows clap; it turns arguments into a [`Plan`] and hands
//! off. Errors bubble up as `anyhow` with context and are printed once by `main`.


pub mod report;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use etbench_protocol::{InputSpec, LoadMode, RunSpec};

use crate::device::{locate_runner, LocalDevice};
use crate::export;
use crate::export::store::{print_stdout, OutputDir};
use crate::plan::prompt::{read_prompt_file, Tokenizer};
use crate::results::Document;
use crate::plan::{Plan, Prompt, Settings};
use crate::run::sweep;

#[derive(Parser, Debug)]
#[command(name = "etbench", version, about = "Benchmark ExecuTorch .pte models on phones, boards and this host")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Benchmark models on a device: fresh runner process per repeat, raw samples kept.
    Run(RunArgs),
    /// The main job: every bundled model on this host with default settings, report under reports/.
    Bench(BenchArgs),
    /// Quantization drift: the same prompts through a reference and candidates (logits and greedy output).
    Drift(DriftArgs),
    /// What is inside a .pte: methods, operators, delegates, constant bytes by dtype (no runtime needed).
    Inspect(InspectArgs),
    /// Per-operator profiles recorded with `run --profile`: show one, or diff two.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Render results as a model-card report (tables, charts, CSVs), update a model card, or export machine formats.
    Report(crate::cli::report::ReportArgs),
    /// Compare two results: per metric improved / regressed / no significant change, from bootstrap intervals.
    Compare(crate::cli::report::CompareArgs),
    /// Nightly history in SQLite: add runs, render trends, check the newest runs for regressions.
    History(crate::cli::report::HistoryArgs),
    /// Configured devices (devices/*.toml) and what `adb devices` sees, with reachability; `info NAME` probes one.
    Devices(DevicesArgs),
}

#[derive(Args, Debug)]
struct DevicesArgs {
    #[command(subcommand)]
    action: Option<DevicesAction>,
    /// Directory of device profiles (default: ETBENCH_DEVICES_DIR, then the home's devices/).
    #[arg(long, global = true)]
    devices_dir: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum DevicesAction {
    /// Probe one device: CPU, memory, cpufreq, thermal zones, battery, Android properties, the runner it gets.
    Info { name: String },
}

fn devices(args: DevicesArgs) -> anyhow::Result<ExitCode> {
    let dir = crate::device::config::devices_dir(args.devices_dir.as_deref());
    match args.action {
        None => print_stdout(&crate::device::catalog::listing(&dir)?)?,
        Some(DevicesAction::Info { name }) => {
            let profile = crate::device::catalog::find(&dir, &name)?;
            print_stdout(&crate::device::catalog::info(profile, locate_runner(None).ok())?)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Help text ending in the built-in default (one source: [`RunSpec::default`]).
fn dflt(text: &str, value: impl std::fmt::Display) -> String {
    format!("{text} [default: {value}, or the device profile's]")
}

/// Measurement flags shared by `run`, `bench` and `drift`. Each is an `Option`: given flags override the device
/// profile, which overrides [`RunSpec::default`].
#[derive(Args, Debug, Default)]
struct Measure {
    #[arg(long, help = dflt("Warm-up iterations after the first (cold) forward", RunSpec::default().warmup))]
    warmup: Option<u32>,
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..), help = dflt("Timed iterations per run", RunSpec::default().iterations))]
    iters: Option<u32>,
    /// CPU threads for ExecuTorch's threadpool; a list sweeps (e.g. 1,2,4). Default: the runtime's choice.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..))]
    threads: Vec<u32>,
    /// How the runner loads the program; a list sweeps (e.g. mmap,file) [default: mmap].
    #[arg(long, value_delimiter = ',', value_parser = parse_load_mode)]
    load_mode: Vec<LoadMode>,
    /// Fresh runner processes per model and setting.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
    /// Run variants round-robin (A B A B …) within each repeat instead of model by model, to cancel drift.
    #[arg(long)]
    interleave: bool,
    /// Seconds to pause between runs.
    #[arg(long, default_value_t = 0.0)]
    cooldown: f64,
    /// Before each run, wait until the device's hottest thermal zone is below this (°C).
    #[arg(long)]
    thermal_gate: Option<f64>,
    #[arg(long, help = dflt("Longest wait for --thermal-gate in seconds; a timeout is recorded as a warning, the run goes on", RunSpec::default().gate_timeout_s))]
    gate_timeout: Option<f64>,
    /// Pin the runner and its threads to these CPUs (hex mask, e.g. 0xf0).
    #[arg(long)]
    cpu_affinity: Option<String>,
    /// Pin to a kind of core, found per device from its CPU clusters (cpu_capacity, else cpuinfo_max_freq): big
    /// (big and prime clusters), prime (the fastest), little (the slowest), all, or a hex MASK. Threads default to
    /// the number of cores chosen. A device with one kind of core uses all of them (with a warning).
    #[arg(long, value_name = "KIND", conflicts_with = "cpu_affinity")]
    cores: Option<crate::device::cores::CoreSelection>,
    /// Record an ETDump per run and attach a per-operator profile (adds per-op overhead to the timings).
    #[arg(long)]
    profile: bool,
    /// Run each runner in a memory cgroup of this size (e.g. 6G), like a device with that much RAM; an OOM kill
    /// becomes an `oom` error row and the sweep goes on. Needs a writable cgroup tree (root).
    #[arg(long, value_parser = etbench_protocol::parse_bytes)]
    memory_limit: Option<u64>,
    /// Measure the device's streaming memory bandwidth before each run, for the roofline line in reports.
    #[arg(long)]
    bandwidth_probe: bool,
    /// Keep iterating until the 95% interval of the median (with --paired: of each model's ratio to the first) is
    /// within ± PCT percent; --iters is then the most iterations, --min-iters the fewest.
    #[arg(long, value_name = "PCT", value_parser = parse_positive)]
    until_ci: Option<f64>,
    /// Stop timing a run once SECS seconds of timed iterations have passed (after --min-iters).
    #[arg(long, value_name = "SECS", value_parser = parse_positive)]
    max_time: Option<f64>,
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..), help = dflt("Fewest timed iterations of an adaptive (--until-ci) or time-bounded (--max-time) run", RunSpec::default().min_iterations))]
    min_iters: Option<u32>,
    /// Order of the models within each round of a --paired session: abba (balanced), or random[:SEED] [default: abba].
    #[arg(long, value_parser = parse_order)]
    order: Option<etbench_protocol::Order>,
    /// The etbench-runner binary (default: ETBENCH_RUNNER, then next to etbench).
    #[arg(long)]
    runner: Option<PathBuf>,
}

fn parse_positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("`{s}` must be a number above 0")),
    }
}

fn parse_order(s: &str) -> Result<etbench_protocol::Order, String> {
    match s.split_once(':') {
        None if s == "abba" => Ok(etbench_protocol::Order::Abba),
        None if s == "random" => Ok(etbench_protocol::Order::Random { seed: 0 }),
        Some(("random", seed)) => seed.parse().map(|seed| etbench_protocol::Order::Random { seed }).map_err(|_| format!("`{seed}` is not a seed")),
        _ => Err(format!("`{s}`: use abba or random[:SEED]")),
    }
}

impl Measure {
    /// `base` (defaults, completed by a device profile) with every flag the user gave.
    fn complete(&self, mut spec: RunSpec) -> RunSpec {
        if let Some(v) = self.warmup {
            spec.warmup = v;
        }
        if let Some(v) = self.iters {
            spec.iterations = v;
        }
        if let [one] = self.threads[..] {
            spec.threads = Some(one);
        }
        if let [one] = self.load_mode[..] {
            spec.load_mode = one;
        }
        spec.thermal_gate_c = self.thermal_gate.or(spec.thermal_gate_c);
        if let Some(v) = self.gate_timeout {
            spec.gate_timeout_s = v.max(0.0);
        }
        spec.cpu_affinity = self.cpu_affinity.clone().or(spec.cpu_affinity);
        spec.profile |= self.profile;
        spec.memory_limit_bytes = self.memory_limit.or(spec.memory_limit_bytes);
        spec.bandwidth_probe |= self.bandwidth_probe;
        spec.until_ci_pct = self.until_ci.or(spec.until_ci_pct);
        spec.max_time_s = self.max_time.or(spec.max_time_s);
        if let Some(v) = self.min_iters {
            spec.min_iterations = v;
        }
        spec.order = self.order.unwrap_or(spec.order);
        spec
    }

    /// `--cores` on `device`: its CPUs of that kind become the spec's `cpu_affinity`, and as many threads when
    /// neither the profile nor `--threads` set them.
    fn pin_cores(&self, device: &dyn crate::device::Device, spec: &mut RunSpec) -> anyhow::Result<()> {
        let Some(selection) = &self.cores else { return Ok(()) };
        let clusters = device.clusters()?;
        let choice = crate::device::cores::choose(selection, &clusters, device.name()).map_err(anyhow::Error::msg)?;
        if let Some(warning) = &choice.warning {
            eprintln!("etbench: {}: warning: {warning}", device.name());
        }
        eprintln!(
            "etbench: {}: --cores {selection}: {} ({}, mask {})",
            device.name(),
            crate::device::cores::cpu_list(&choice.cpus),
            choice.clusters.join("+"),
            choice.mask
        );
        spec.cpu_affinity = Some(choice.mask);
        if spec.threads.is_none() && self.threads.is_empty() {
            spec.threads = Some(choice.cpus.len() as u32);
        }
        Ok(())
    }

    /// The sweep around a completed spec.
    fn settings(&self, spec: RunSpec) -> Settings {
        Settings {
            spec,
            threads: if self.threads.len() > 1 { self.threads.clone() } else { Vec::new() },
            load_modes: if self.load_mode.len() > 1 { self.load_mode.clone() } else { Vec::new() },
            repeats: self.repeat,
            interleave: self.interleave,
            cooldown: std::time::Duration::from_secs_f64(self.cooldown.max(0.0)),
            paired: false,
        }
    }
}

/// What to feed the method's inputs.
#[derive(Args, Debug, Default)]
struct InputArgs {
    /// What to feed an input, in index order (repeat the flag), or `INDEX=SPEC`: ids, ids:1,2,3, zeros, ones,
    /// random[:SEED], file:PATH (raw little-endian bytes or .npy), int:N, double:X, bool:B. Default: ids for
    /// integer tensors, random:0 for float tensors, zeros otherwise.
    #[arg(long = "input", value_name = "SPEC")]
    inputs: Vec<String>,
    /// Token ids for input 0, comma separated (same as --input ids:1,2,3).
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["prompt", "prompt_file"])]
    input_ids: Option<Vec<i64>>,
}

impl InputArgs {
    /// The per-index input specs (`default` where an index was skipped).
    fn specs(&self) -> anyhow::Result<Vec<InputSpec>> {
        let mut specs: Vec<InputSpec> = Vec::new();
        let mut next = 0usize;
        let mut set = |index: usize, spec: InputSpec| {
            if specs.len() <= index {
                specs.resize(index + 1, InputSpec::Default);
            }
            specs[index] = spec;
        };
        if let Some(ids) = &self.input_ids {
            set(0, InputSpec::Values(ids.clone()));
            next = 1;
        }
        for text in &self.inputs {
            let (index, spec) = match text.split_once('=') {
                Some((i, spec)) if i.chars().all(|c| c.is_ascii_digit()) && !i.is_empty() => (i.parse::<usize>()?, spec),
                _ => (next, text.as_str()),
            };
            let spec: InputSpec = spec.parse().map_err(|e: String| anyhow::anyhow!("--input {text}: {e}"))?;
            if let Some(path) = spec.file() {
                check_input_file(text, path)?;
            }
            set(index, spec);
            next = index + 1;
        }
        Ok(specs)
    }
}

fn check_input_file(flag: &str, path: &str) -> anyhow::Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => bail!("--input {flag}: {path} is a directory; give a file"),
        Err(e) => bail!("--input {flag}: {path}: {e}"),
    }
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Device to run on: `local` (this host) or a profile name from the devices directory; repeat the flag to run
    /// several devices concurrently (results merged).
    #[arg(long = "device", default_value = "local")]
    devices: Vec<String>,
    /// Directory of device profiles (default: ETBENCH_DEVICES_DIR, then the home's devices/).
    #[arg(long)]
    devices_dir: Option<PathBuf>,
    /// A .pte file; repeat the flag for several models.
    #[arg(long = "model", required = true)]
    models: Vec<PathBuf>,
    /// Time all models in one runner process per repeat, alternating their timed iterations (ABBA…) after each one's
    /// own load and warm-up: the design that sees small differences on a noisy device. The first model is the
    /// reference; results carry each model's paired ratio to it. Peak memory then covers all loaded models.
    #[arg(long)]
    paired: bool,
    /// Method to run [default: forward].
    #[arg(long)]
    method: Option<String>,
    #[command(flatten)]
    inputs: InputArgs,
    #[command(flatten)]
    text: TextArgs,
    #[command(flatten)]
    measure: Measure,
    /// Directory for results.json and results.csv (default: etbench-results/<timestamp>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// What to print on stdout.
    #[arg(long, default_value = "table", value_parser = ["table", "json", "csv", "none"])]
    format: String,
}

/// Prompt-driven input and generation.
#[derive(Args, Debug)]
struct TextArgs {
    /// Text to feed: tokenized, then right-padded or cut (keeping its end) to the method's input length.
    #[arg(long, conflicts_with = "prompt_file")]
    prompt: Option<String>,
    /// File whose whole UTF-8 content is the prompt.
    #[arg(long)]
    prompt_file: Option<PathBuf>,
    /// tokenizer.json for --prompt (default: the bundled models/tokenizer.json).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Greedily generate N tokens after the timed loop: one full forward per token (no KV cache).
    #[arg(long, default_value_t = 0)]
    generate: u32,
}

impl TextArgs {
    fn prompt(&self) -> anyhow::Result<Option<Prompt>> {
        let text = match (&self.prompt, &self.prompt_file) {
            (Some(text), _) => text.clone(),
            (None, Some(file)) => read_prompt_file(file)?,
            (None, None) if self.tokenizer.is_some() => bail!("--tokenizer needs --prompt or --prompt-file"),
            (None, None) => return Ok(None),
        };
        Ok(Some(Prompt { text, tokenizer: Tokenizer::load(&tokenizer_path(self.tokenizer.as_deref())?)? }))
    }
}

/// `--tokenizer`, else the home's `models/tokenizer.json`.
fn tokenizer_path(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    match explicit {
        Some(path) => Ok(path.to_owned()),
        None => {
            let home = crate::home::find().context("finding the bundled tokenizer (or pass --tokenizer path/to/tokenizer.json)")?;
            Ok(home.tokenizer())
        }
    }
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Directory of bundled models (default: the home's models/: ETBENCH_HOME, the current directory, or the checkout).
    #[arg(long)]
    models: Option<PathBuf>,
    #[command(flatten)]
    measure: Measure,
    /// Output directory (default: reports/<timestamp>-local in the repository).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct DriftArgs {
    /// Device to run on: `local` or a profile name from the devices directory.
    #[arg(long, default_value = "local")]
    device: String,
    /// Directory of device profiles (default: ETBENCH_DEVICES_DIR, then the home's devices/).
    #[arg(long)]
    devices_dir: Option<PathBuf>,
    /// The variant everything is compared against (e.g. the bf16 export).
    #[arg(long)]
    reference: PathBuf,
    /// Candidate variants (e.g. int8, XNNPACK).
    #[arg(required = true)]
    candidates: Vec<PathBuf>,
    /// Extra prompt (repeatable); added to the built-in prompt set.
    #[arg(long = "prompt")]
    prompts: Vec<String>,
    /// File with one extra prompt per non-empty line.
    #[arg(long)]
    prompt_file: Option<PathBuf>,
    /// tokenizer.json (default: the bundled models/tokenizer.json).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Greedy tokens generated per prompt to compare continuations.
    #[arg(long, default_value_t = 8)]
    generate: u32,
    #[command(flatten)]
    measure: Measure,
    /// Directory for results.json, results.csv and drift.md (default: etbench-results/<timestamp>-drift).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn drift(args: DriftArgs) -> anyhow::Result<ExitCode> {
    let tokenizer = Tokenizer::load(&tokenizer_path(args.tokenizer.as_deref())?)?;
    if let Some(empty) = args.prompts.iter().find(|p| p.trim().is_empty()) {
        bail!("drift --prompt {empty:?} is empty; give some text");
    }
    let mut prompts: Vec<String> = crate::run::drift::BUILTIN_PROMPTS.iter().map(|p| p.to_string()).collect();
    prompts.extend(args.prompts.iter().cloned());
    if let Some(file) = &args.prompt_file {
        prompts.extend(read_prompt_file(file)?.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned));
    }
    let (device, base) = open_device(&args.device, args.devices_dir.as_deref(), args.measure.runner.clone())?;
    let mut spec = RunSpec { generate: args.generate, ..args.measure.complete(base) };
    args.measure.pin_cores(device.as_ref(), &mut spec)?;
    let out_path = args.out.unwrap_or_else(|| PathBuf::from("etbench-results").join(format!("{}-drift", timestamp())));
    let out = OutputDir::prepare(&out_path)?;
    let models: Vec<PathBuf> = std::iter::once(args.reference).chain(args.candidates).collect();
    let mut plan = Plan { device, models, settings: args.measure.settings(spec), prompt: None, dump_outputs: None };
    let _lock = crate::device::lock::lock_device(plan.device.name())?;
    let mut doc = Document::new(crate::results::provenance::provenance(command_line()));
    crate::run::drift::measure(&mut plan, &prompts, &tokenizer, &out, &mut doc)?;
    out.write_results(&doc)?;
    out.write("drift.md", export::drift::markdown(&doc).as_bytes())?;
    print_stdout(&export::drift::table(&doc))?;
    eprintln!("etbench: results in {}", out.path().display());
    Ok(finish(&doc))
}

#[derive(Args, Debug)]
struct InspectArgs {
    /// .pte files to inspect.
    #[arg(required = true)]
    models: Vec<PathBuf>,
    /// Output format on stdout.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

fn inspect(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let mut all = Vec::new();
    for model in &args.models {
        all.push(crate::inspect::inspect(model)?);
    }
    match args.format.as_str() {
        "json" => print_stdout(&format!("{}\n", serde_json::to_string_pretty(&all)?))?,
        _ => print_stdout(&all.iter().map(crate::inspect::render).collect::<Vec<_>>().join("\n"))?,
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand, Debug)]
enum ProfileCommand {
    /// The top operators of every profiled run in a results.json (markdown on stdout).
    Show {
        results: PathBuf,
        #[arg(long, default_value_t = 15)]
        top: usize,
    },
    /// Operator-by-operator comparison of the first profiled run of A and of B (results.json files).
    Diff {
        a: PathBuf,
        b: PathBuf,
        #[arg(long, default_value_t = 20)]
        top: usize,
    },
}

fn first_profile(path: &Path) -> anyhow::Result<(String, crate::inspect::etdump::OpProfile)> {
    let doc = Document::read(path)?;
    doc.runs
        .into_iter()
        .find_map(|r| Some((r.model.name.clone(), r.profile?)))
        .with_context(|| format!("{} has no profiled run; record one with `etbench run --profile`", path.display()))
}

fn profile(cmd: ProfileCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ProfileCommand::Show { results, top } => {
            let doc = Document::read(&results)?;
            let mut text = String::new();
            for run in doc.runs.iter().filter(|r| r.profile.is_some()) {
                text.push_str(&format!("## {} ({})\n\n", run.model.name, run.id));
                text.push_str(&crate::inspect::etdump::markdown(run.profile.as_ref().expect("filtered"), top));
                text.push('\n');
            }
            if text.is_empty() {
                bail!("{} has no profiled run; record one with `etbench run --profile`", results.display());
            }
            print_stdout(&text)?;
        }
        ProfileCommand::Diff { a, b, top } => {
            let (name_a, pa) = first_profile(&a)?;
            let (name_b, pb) = first_profile(&b)?;
            let (name_a, name_b) = if name_a == name_b { (format!("A:{name_a}"), format!("B:{name_b}")) } else { (name_a, name_b) };
            print_stdout(&crate::inspect::etdump::diff_markdown(&name_a, &pa, &name_b, &pb, top))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_load_mode(s: &str) -> Result<LoadMode, String> {
    s.parse()
}

fn timestamp() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string()
}

fn device(name: &str, runner: Option<PathBuf>) -> anyhow::Result<LocalDevice> {
    if name != "local" {
        bail!("--device {name}: unknown device; this build knows `local` (this host)");
    }
    let runner = locate_runner(runner).map_err(anyhow::Error::msg)?;
    Ok(LocalDevice { runner })
}

/// Exit status for a finished sweep: 1 when any run failed.
fn finish(doc: &Document) -> ExitCode {
    let failed = doc.failed_runs();
    if failed > 0 {
        eprintln!("etbench: {failed} of {} runs failed; their error rows are in the results", doc.runs.len());
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn command_line() -> Vec<String> {
    std::env::args().collect()
}

/// `local`, or a device profile, with the run specification completed by the profile's defaults.
fn open_device(name: &str, devices_dir: Option<&Path>, runner: Option<PathBuf>) -> anyhow::Result<(Box<dyn crate::device::Device>, RunSpec)> {
    if name == "local" {
        return Ok((Box::new(device(name, runner)?), RunSpec::default()));
    }
    let dir = crate::device::config::devices_dir(devices_dir);
    let profile = crate::device::catalog::find(&dir, name)?;
    let spec = profile.run_spec(&RunSpec::default()).map_err(|e| anyhow::anyhow!("device profile {name}: {e}"))?;
    let host_runner = locate_runner(runner).ok();
    Ok((crate::device::catalog::open(profile, host_runner), spec))
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut names = args.devices.clone();
    names.dedup();
    if let Some(dup) = names.iter().enumerate().find(|(i, n)| names[..*i].contains(n)).map(|(_, n)| n) {
        bail!("--device {dup} is given twice; a device runs one benchmark at a time");
    }
    if args.paired && args.models.len() < 2 {
        bail!("--paired needs at least two --model files (the first is the reference); got {}", args.models.len());
    }
    if args.paired && (args.text.generate > 0 || args.measure.profile) {
        bail!("--paired cannot be combined with --generate or --profile: run those models one by one");
    }
    let inputs = args.inputs.specs()?;
    let prompt = args.text.prompt()?;
    let out_path = args.out.clone().unwrap_or_else(|| PathBuf::from("etbench-results").join(timestamp()));
    let out = OutputDir::prepare(&out_path)?;
    let mut plans = Vec::new();
    for name in &names {
        let (device, base) = open_device(name, args.devices_dir.as_deref(), args.measure.runner.clone())?;
        let mut spec = args.measure.complete(base);
        args.measure.pin_cores(device.as_ref(), &mut spec)?;
        spec.method = args.method.clone().unwrap_or(spec.method);
        spec.generate = args.text.generate;
        if !inputs.is_empty() {
            spec.inputs = inputs.clone();
        }
        let settings = Settings { paired: args.paired, ..args.measure.settings(spec) };
        plans.push(Plan { device, models: args.models.clone(), settings, prompt: prompt.clone(), dump_outputs: None });
    }
    let doc = crate::run::fleet::execute(&plans, &out, command_line())?;
    match args.format.as_str() {
        "json" => print_stdout(&String::from_utf8_lossy(&export::json(&doc)))?,
        "csv" => print_stdout(&String::from_utf8_lossy(&export::csv::render(&doc)))?,
        "table" => print_stdout(&export::table::render(&doc))?,
        _ => {}
    }
    if !doc.paired.is_empty() && args.format == "table" {
        print_stdout(&format!("\n{}", export::paired::render(&doc.paired, false)))?;
    }
    eprintln!("etbench: results in {}", out.path().display());
    Ok(finish(&doc))
}

fn bundled_models(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut models: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading models directory {}; pass --models DIR", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pte"))
        .collect();
    models.sort();
    if models.is_empty() {
        bail!("no .pte files in {}; pass --models DIR or export some with scripts/export_gemma3n.py", dir.display());
    }
    Ok(models)
}

fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let home = match &args.models {
        Some(_) => crate::home::find().ok(),
        None => Some(crate::home::find().context("finding the bundled models (or pass --models DIR)")?),
    };
    let models_dir = args.models.clone().or_else(|| home.as_ref().map(|h| h.models())).expect("one of the two is set");
    let models = bundled_models(&models_dir)?;
    let reports = home.map(|h| h.reports()).unwrap_or_else(|| PathBuf::from("reports"));
    let out_path = args.out.unwrap_or_else(|| reports.join(format!("{}-local", timestamp())));
    let out = OutputDir::prepare(&out_path)?;
    eprintln!("etbench: {} models from {}", models.len(), models_dir.display());
    let local = device("local", args.measure.runner.clone())?;
    let mut spec = args.measure.complete(RunSpec::default());
    args.measure.pin_cores(&local, &mut spec)?;
    let plan = Plan {
        device: Box::new(local),
        models,
        settings: args.measure.settings(spec),
        prompt: None,
        dump_outputs: None,
    };
    let doc = sweep::execute(&plan, Some(&out), command_line())?;
    out.write("report.md", export::markdown::render(&doc).as_bytes())?;
    print_stdout(&export::table::render(&doc))?;
    print_stdout(&format!("\nReport: {}\n", out.path().join("report.md").display()))?;
    Ok(finish(&doc))
}

pub fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run(args),
        Command::Bench(args) => bench(args),
        Command::Drift(args) => drift(args),
        Command::Inspect(args) => inspect(args),
        Command::Profile(cmd) => profile(cmd),
        Command::Report(args) => crate::cli::report::report(args),
        Command::Compare(args) => crate::cli::report::compare(args),
        Command::History(args) => crate::cli::report::history(args),
        Command::Devices(args) => devices(args),
    }
}
