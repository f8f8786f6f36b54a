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
use crate::results::Document;
use crate::sweep::{self, Plan, Settings};

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
}

#[derive(Args, Debug)]
struct Measure {
    /// Warm-up iterations after the first (cold) forward.
    #[arg(long, default_value_t = Settings::default().warmup)]
    warmup: u32,
    /// Timed iterations per run (at least 1).
    #[arg(long, default_value_t = Settings::default().iterations, value_parser = clap::value_parser!(u32).range(1..))]
    iters: u32,
    /// CPU threads for ExecuTorch's threadpool (default: the runtime's choice, recorded in results).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
    /// How the runner loads the program.
    #[arg(long, default_value = "mmap", value_parser = parse_load_mode)]
    load_mode: LoadMode,
    /// Fresh runner processes per model.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
    /// The etbench-runner binary (default: ETBENCH_RUNNER, then next to etbench).
    #[arg(long)]
    runner: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Device to run on (`local` is this host).
    #[arg(long, default_value = "local")]
    device: String,
    /// A .pte file; repeat the flag for several models.
    #[arg(long = "model", required = true)]
    models: Vec<PathBuf>,
    /// Method to run.
    #[arg(long, default_value = "forward")]
    method: String,
    /// Token ids to feed, comma separated (default: ids[i] = 2 + (i*31) % 509, as many as the method takes).
    #[arg(long, value_delimiter = ',')]
    input_ids: Option<Vec<i64>>,
    #[command(flatten)]
    measure: Measure,
    /// Directory for results.json and results.csv (default: etbench-results/<timestamp>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// What to print on stdout.
    #[arg(long, default_value = "table", value_parser = ["table", "json", "csv", "none"])]
    format: String,
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

fn parse_load_mode(s: &str) -> Result<LoadMode, String> {
    s.parse()
}

fn settings(m: &Measure, method: String, input_ids: Option<Vec<i64>>) -> Settings {
    Settings {
        method,
        warmup: m.warmup,
        iterations: m.iters,
        threads: m.threads,
        load_mode: m.load_mode,
        repeats: m.repeat,
        input_ids,
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

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let out_path = args.out.unwrap_or_else(|| PathBuf::from("etbench-results").join(timestamp()));
    let out = OutputDir::prepare(&out_path)?;
    let plan = Plan {
        device: Box::new(device(&args.device, args.measure.runner.clone())?),
        models: args.models,
        settings: settings(&args.measure, args.method, args.input_ids),
    };
    let doc = sweep::execute(&plan, Some(&out), command_line())?;
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
    }
}
