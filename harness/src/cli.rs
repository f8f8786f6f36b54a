//! Command-line parsing and dispatch. Only this module knows clap; it turns arguments into a [`Plan`] and hands
//! off. Errors bubble up as `anyhow` with context and are printed once by `main`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use etbench_protocol::LoadMode;

use crate::device::{locate_runner, LocalDevice};
use crate::export;
use crate::output::{print_stdout, OutputDir};
use crate::prompt::{read_prompt_file, Tokenizer};
use crate::results::Document;
use crate::sweep::{self, Plan, Prompt, Settings};

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
    Report(crate::cli_report::ReportArgs),
    /// Compare two results: per metric improved / regressed / no significant change, from bootstrap intervals.
    Compare(crate::cli_report::CompareArgs),
    /// Nightly history in SQLite: add runs, render trends, check the newest runs for regressions.
    History(crate::cli_report::HistoryArgs),
    /// Configured devices (devices/*.toml) and what `adb devices` sees, with reachability; `info NAME` probes one.
    Devices(DevicesArgs),
}

#[derive(Args, Debug)]
struct DevicesArgs {
    #[command(subcommand)]
    action: Option<DevicesAction>,
    /// Directory of device profiles (default: ETBENCH_DEVICES_DIR, then the repository's devices/).
    #[arg(long, global = true)]
    devices_dir: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum DevicesAction {
    /// Probe one device: CPU, memory, cpufreq, thermal zones, battery, Android properties, the runner it gets.
    Info { name: String },
}

fn devices(args: DevicesArgs) -> anyhow::Result<ExitCode> {
    let dir = crate::profiles::devices_dir(args.devices_dir.as_deref());
    match args.action {
        None => print_stdout(&crate::transport::catalog::listing(&dir)?)?,
        Some(DevicesAction::Info { name }) => {
            let profile = crate::transport::catalog::find(&dir, &name)?;
            print_stdout(&crate::transport::catalog::info(profile, locate_runner(None).ok())?)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args, Debug)]
struct Measure {
    /// Warm-up iterations after the first (cold) forward.
    #[arg(long, default_value_t = Settings::default().warmup)]
    warmup: u32,
    /// Timed iterations per run (at least 1).
    #[arg(long, default_value_t = Settings::default().iterations, value_parser = clap::value_parser!(u32).range(1..))]
    iters: u32,
    /// CPU threads for ExecuTorch's threadpool; a list sweeps (e.g. 1,2,4). Default: the runtime's choice.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..))]
    threads: Vec<u32>,
    /// How the runner loads the program; a list sweeps (e.g. mmap,file).
    #[arg(long, value_delimiter = ',', default_value = "mmap", value_parser = parse_load_mode)]
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
    /// Longest wait for --thermal-gate in seconds; a timeout is recorded as a warning, the run goes on.
    #[arg(long, default_value_t = 300.0)]
    gate_timeout: f64,
    /// Pin the runner and its threads to these CPUs (hex mask, e.g. 0xf0).
    #[arg(long)]
    cpu_affinity: Option<String>,
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
    /// The etbench-runner binary (default: ETBENCH_RUNNER, then next to etbench).
    #[arg(long)]
    runner: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Device to run on: `local` (this host) or a profile name from the devices directory; repeat the flag to run
    /// several devices concurrently (results merged).
    #[arg(long = "device", default_value = "local")]
    devices: Vec<String>,
    /// Directory of device profiles (default: ETBENCH_DEVICES_DIR, then the repository's devices/).
    #[arg(long)]
    devices_dir: Option<PathBuf>,
    /// A .pte file; repeat the flag for several models.
    #[arg(long = "model", required = true)]
    models: Vec<PathBuf>,
    /// Method to run.
    #[arg(long, default_value = "forward")]
    method: String,
    /// Token ids to feed, comma separated (default: ids[i] = 2 + (i*31) % 509, as many as the method takes).
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["prompt", "prompt_file"])]
    input_ids: Option<Vec<i64>>,
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
        Ok(Some(Prompt { text, tokenizer: Tokenizer::load(&self.tokenizer_path()?)? }))
    }

    fn tokenizer_path(&self) -> anyhow::Result<PathBuf> {
        match (&self.tokenizer, repo_root()) {
            (Some(path), _) => Ok(path.clone()),
            (None, Some(root)) => Ok(root.join("models/tokenizer.json")),
            (None, None) => bail!("no bundled tokenizer here: pass --tokenizer path/to/tokenizer.json"),
        }
    }
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Directory of bundled models (default: the repository's models/).
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
    let text = TextArgs { prompt: None, prompt_file: None, tokenizer: args.tokenizer.clone(), generate: 0 };
    let tokenizer = Tokenizer::load(&text.tokenizer_path()?)?;
    let mut prompts: Vec<String> = crate::drift::BUILTIN_PROMPTS.iter().map(|p| p.to_string()).collect();
    prompts.extend(args.prompts.iter().cloned());
    if let Some(file) = &args.prompt_file {
        prompts.extend(read_prompt_file(file)?.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned));
    }
    if let Some(empty) = args.prompts.iter().find(|p| p.trim().is_empty()) {
        bail!("--prompt {empty:?} is empty; give some text");
    }
    let out_path = args.out.unwrap_or_else(|| PathBuf::from("etbench-results").join(format!("{}-drift", timestamp())));
    let out = OutputDir::prepare(&out_path)?;
    let device = device("local", args.measure.runner.clone())?;
    let scratch = tempfile::tempdir().context("creating a scratch directory for logits")?;
    let plan = crate::drift::DriftPlan {
        device_ref: crate::results::DeviceRef { name: "local".into(), transport: "local".into(), info: crate::device::Device::info(&device), probed: None },
        device: &device,
        reference: args.reference,
        candidates: args.candidates,
        prompts,
        tokenizer: &tokenizer,
        settings: Settings { generate: args.generate, ..settings(&args.measure, "forward".into(), None) },
        scratch: scratch.path(),
    };
    let (runs, reports) = crate::drift::measure(&plan)?;
    let mut doc = Document::new(crate::provenance::provenance(command_line()));
    doc.runs = runs;
    doc.drift = reports;
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

fn first_profile(path: &Path) -> anyhow::Result<(String, crate::profile::OpProfile)> {
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
                text.push_str(&crate::profile::markdown(run.profile.as_ref().expect("filtered"), top));
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
            print_stdout(&crate::profile::diff_markdown(&name_a, &pa, &name_b, &pb, top))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_load_mode(s: &str) -> Result<LoadMode, String> {
    s.parse()
}

fn settings(m: &Measure, method: String, input_ids: Option<Vec<i64>>) -> Settings {
    let seconds = |s: f64| std::time::Duration::from_secs_f64(s.max(0.0));
    Settings {
        generate: 0,
        method,
        warmup: m.warmup,
        iterations: m.iters,
        threads: if m.threads.is_empty() { vec![None] } else { m.threads.iter().map(|&t| Some(t)).collect() },
        load_modes: m.load_mode.clone(),
        repeats: m.repeat,
        input_ids,
        interleave: m.interleave,
        cooldown: seconds(m.cooldown),
        thermal_gate_c: m.thermal_gate,
        gate_timeout: seconds(m.gate_timeout),
        cpu_affinity: m.cpu_affinity.clone(),
        profile: m.profile,
        memory_limit: m.memory_limit,
        bandwidth_probe: m.bandwidth_probe,
    }
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

/// `local`, or a device profile with its defaults (threads, CPU mask) filling what the command line left open.
fn remote_device(name: &str, args: &RunArgs, base: &Settings) -> anyhow::Result<(Box<dyn crate::device::Device>, Settings)> {
    if name == "local" {
        return Ok((Box::new(device(name, args.measure.runner.clone())?), base.clone()));
    }
    let dir = crate::profiles::devices_dir(args.devices_dir.as_deref());
    let profile = crate::transport::catalog::find(&dir, name)?;
    let mut settings = base.clone();
    if args.measure.threads.is_empty() && profile.threads.is_some() {
        settings.threads = vec![profile.threads];
    }
    settings.cpu_affinity = settings.cpu_affinity.or_else(|| profile.cpu_affinity.clone());
    let host_runner = locate_runner(args.measure.runner.clone()).ok();
    Ok((crate::transport::catalog::open(profile, host_runner), settings))
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut names = args.devices.clone();
    names.dedup();
    if let Some(dup) = names.iter().enumerate().find(|(i, n)| names[..*i].contains(n)).map(|(_, n)| n) {
        bail!("--device {dup} is given twice; a device runs one benchmark at a time");
    }
    let out_path = args.out.clone().unwrap_or_else(|| PathBuf::from("etbench-results").join(timestamp()));
    let out = OutputDir::prepare(&out_path)?;
    let base = Settings { generate: args.text.generate, ..settings(&args.measure, args.method.clone(), args.input_ids.clone()) };
    let mut plans = Vec::new();
    for name in &names {
        let (device, settings) = remote_device(name, &args, &base)?;
        plans.push(Plan { device, models: args.models.clone(), settings, prompt: args.text.prompt()? });
    }
    let doc = crate::fleet::execute(&plans, &out, command_line())?;
    match args.format.as_str() {
        "json" => print_stdout(&String::from_utf8_lossy(&export::json(&doc)))?,
        "csv" => print_stdout(&String::from_utf8_lossy(&export::csv::render(&doc)))?,
        "table" => print_stdout(&export::table::render(&doc))?,
        _ => {}
    }
    eprintln!("etbench: results in {}", out.path().display());
    Ok(finish(&doc))
}

/// The repository this etbench was built from, when it still exists (for bundled models and reports/).
fn repo_root() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?.to_owned();
    root.join("models").is_dir().then_some(root)
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
    let root = repo_root();
    let models_dir = args
        .models
        .or_else(|| root.as_ref().map(|r| r.join("models")))
        .unwrap_or_else(|| PathBuf::from("models"));
    let models = bundled_models(&models_dir)?;
    let reports = root.map(|r| r.join("reports")).unwrap_or_else(|| PathBuf::from("reports"));
    let out_path = args.out.unwrap_or_else(|| reports.join(format!("{}-local", timestamp())));
    let out = OutputDir::prepare(&out_path)?;
    let plan = Plan {
        device: Box::new(device("local", args.measure.runner.clone())?),
        models,
        settings: settings(&args.measure, "forward".into(), None),
        prompt: None,
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
        Command::Report(args) => crate::cli_report::report(args),
        Command::Compare(args) => crate::cli_report::compare(args),
        Command::History(args) => crate::cli_report::history(args),
        Command::Devices(args) => devices(args),
    }
}
