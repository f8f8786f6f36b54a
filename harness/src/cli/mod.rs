//! Command-line parsing and dispatch. Only this module knows clap; it turns arguments into a [`Plan`] and hands
//! off. Errors bubble up as `anyhow` with context and are printed once by `main`.
//!
//! Parsing is two layers: clap checks what was typed (numbers, enums, masks); then each command checks its
//! arguments against the file system (models, prompt, tokenizer, inputs, devices, `--out`) before anything runs
//! or any output directory exists. A problem found in either layer exits 2 ([`ArgError`], [`exit_code`]).

pub mod report;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use etbench_protocol::{InputSpec, LoadMode, RunSpec};

use crate::device::{locate_runner, LocalDevice};
use crate::export;
use crate::export::store::{print_stdout, OutputDir};
use crate::plan::prompt::{read_prompt_file, Tokenizer};
use crate::plan::{Plan, Prompt, Settings};
use crate::results::Document;
use crate::run::sweep;

#[derive(Parser, Debug)]
#[command(name = "etbench", version, about = "Benchmark ExecuTorch .pte models on phones, boards and this host")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// A problem with the command line found before anything ran and before any output directory was made; `main`
/// exits 2 for it, as clap does for what it finds.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ArgError(pub String);

pub(crate) fn arg_error(message: impl Into<String>) -> anyhow::Error {
    ArgError(message.into()).into()
}

/// Wraps any error of an argument check as an [`ArgError`] (its whole chain becomes the message).
fn as_arg_error<T, E: Into<anyhow::Error>>(result: Result<T, E>) -> anyhow::Result<T> {
    result.map_err(|e| arg_error(format!("{:#}", e.into())))
}

/// The exit code for an error `main` got: 2 for argument problems, 1 for everything else.
pub fn exit_code(e: &anyhow::Error) -> ExitCode {
    if e.chain().any(|c| c.is::<ArgError>()) {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    }
}

/// The clap command with negative numbers taken as values in every subcommand, so `--iters -1` is reported as an
/// invalid value of `--iters` rather than an unexpected argument.
fn command() -> clap::Command {
    fn negative_numbers(cmd: clap::Command) -> clap::Command {
        cmd.allow_negative_numbers(true).mut_subcommands(negative_numbers)
    }
    negative_numbers(Cli::command())
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
    /// Judge a paired session (one results dir) or compare two results: improved / regressed / no change, design named.
    Compare(crate::cli::report::CompareArgs),
    /// How noisy a device is for one model: paired and unpaired spreads, and the smallest slowdown each design can see.
    Calibrate(CalibrateArgs),
    /// Nightly history (a SQLite file or a shared PostgreSQL database): add runs, check the newest for regressions, render trends and a dashboard.
    History(crate::cli::report::HistoryArgs),
    /// This host, the configured devices (devices/*.toml) and what `adb devices` sees; `info NAME` probes one.
    Devices(DevicesArgs),
    /// A shell completion script on stdout (e.g. `etbench completions bash > /etc/bash_completion.d/etbench`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// The man page (roff) on stdout (e.g. `etbench manpage > /usr/local/share/man/man1/etbench.1`).
    Manpage,
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
    Info {
        /// `local` (this host), a profile name, `adb`, `adb:SERIAL` or `ssh:[USER@]HOST[:WORK_DIR]`.
        name: String,
    },
}

fn devices(args: DevicesArgs) -> anyhow::Result<ExitCode> {
    let dir = crate::device::config::devices_dir(args.devices_dir.as_deref());
    match args.action {
        None => print_stdout(&crate::device::catalog::listing(&dir, locate_runner(None))?)?,
        Some(DevicesAction::Info { name }) => {
            let profile = crate::device::catalog::resolve(&dir, &name)?;
            print_stdout(&crate::device::catalog::info(profile, locate_runner(None).ok())?)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command(), "etbench", &mut script);
    print_stdout(&String::from_utf8_lossy(&script))?;
    Ok(ExitCode::SUCCESS)
}

fn manpage() -> anyhow::Result<ExitCode> {
    let mut roff = Vec::new();
    clap_mangen::Man::new(command()).render(&mut roff).context("rendering the man page")?;
    // clap_mangen opens with its apostrophe string definitions; `.TH` goes first, as man(7) pages start (the
    // definitions still come before any text that uses them).
    let text = String::from_utf8_lossy(&roff);
    let (title, rest): (Vec<&str>, Vec<&str>) = text.lines().partition(|l| l.starts_with(".TH "));
    print_stdout(&format!("{}\n", title.into_iter().chain(rest).collect::<Vec<_>>().join("\n")))?;
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
    #[arg(long, value_parser = parse_iters, help = dflt("Timed iterations per run, or `auto`: until the 95% interval of the median is within ±--precision % (bounded by --max-time)", RunSpec::default().iterations))]
    iters: Option<Iters>,
    /// With --iters auto: the half-width of the 95% interval of the median to reach, in percent.
    #[arg(long, default_value_t = 2.0, value_parser = parse_positive)]
    precision: f64,
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
    #[arg(long, default_value_t = 0.0, value_parser = parse_seconds)]
    cooldown: f64,
    /// Before each run, wait until the device's hottest thermal zone is below this (°C).
    #[arg(long)]
    thermal_gate: Option<f64>,
    #[arg(long, value_parser = parse_seconds, help = dflt("Longest wait for --thermal-gate in seconds; a timeout is recorded as a warning, the run goes on", RunSpec::default().gate_timeout_s))]
    gate_timeout: Option<f64>,
    /// Pin the runner and its threads to these CPUs (hex mask, e.g. 0xf0).
    #[arg(long)]
    cpu_affinity: Option<etbench_protocol::CpuMask>,
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
    /// Kill a runner that says nothing (no protocol line, no heartbeat) for SECS seconds: the run becomes a `timeout`
    /// error row and the sweep goes on. The runner's heartbeats (--heartbeat) keep a slow forward alive, so SECS only
    /// needs to exceed the heartbeat interval.
    #[arg(long, value_name = "SECS", value_parser = parse_positive)]
    run_timeout: Option<f64>,
    #[arg(long, value_name = "SECS", help = dflt("Seconds between the runner's heartbeat lines, also during one long execute (0: none)", RunSpec::default().heartbeat_s))]
    heartbeat: Option<f64>,
    /// Measure power and energy with the device's own sensor (battery, hwmon rail, RAPL; `devices info` lists
    /// them), sampled on the device during the timed phase and an idle baseline: watts, J/forward, J/token.
    /// A charging battery or nonsense values give no figure and a reason.
    #[arg(long)]
    energy: bool,
    /// The energy source to read, by the name `devices info` shows (e.g. battery, hwmon0:VDD_CPU, intel-rapl:0);
    /// implies --energy. Default: the first usable one, batteries first.
    #[arg(long, value_name = "NAME")]
    energy_source: Option<String>,
    /// Seconds of idle baseline sampled before the model loads (net watts = gross − idle; 0: none) [default: 2].
    #[arg(long, value_name = "SECS", value_parser = parse_idle)]
    energy_idle: Option<f64>,
    /// The etbench-runner binary (default: ETBENCH_RUNNER, then next to etbench); for a remote device one built for
    /// its target (a phone: a runner bundle directory), used instead of the profile's. `run` takes one per --model,
    /// in order, to compare runners or ExecuTorch builds (with --paired: paired processes).
    #[arg(long)]
    runner: Vec<PathBuf>,
}

/// `--iters N` or `--iters auto`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Iters {
    Count(u32),
    Auto,
}

fn parse_iters(s: &str) -> Result<Iters, String> {
    match s {
        "auto" => Ok(Iters::Auto),
        _ => match s.parse::<u32>() {
            Ok(n) if n >= 1 => Ok(Iters::Count(n)),
            _ => Err(format!("`{s}` is not a number of iterations ≥ 1 or `auto`")),
        },
    }
}

fn parse_positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("`{s}` must be a number above 0")),
    }
}

fn parse_idle(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=600.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` must be seconds between 0 and 600")),
    }
}

fn parse_order(s: &str) -> Result<etbench_protocol::Order, String> {
    match s.split_once(':') {
        None if s == "abba" => Ok(etbench_protocol::Order::Abba),
        None if s == "random" => Ok(etbench_protocol::Order::Random { seed: 0 }),
        Some(("random", seed)) => seed
            .parse()
            .map(|seed| etbench_protocol::Order::Random { seed })
            .map_err(|_| format!("`{seed}` is not a seed")),
        _ => Err(format!("`{s}`: use abba or random[:SEED]")),
    }
}

impl Measure {
    /// The one runner of a command that runs every model with the same runner.
    fn one_runner(&self) -> anyhow::Result<Option<PathBuf>> {
        match self.runner.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one.clone())),
            more => Err(arg_error(format!("--runner is given {} times; this command runs every model with one runner (only `run` takes one per --model)", more.len()))),
        }
    }

    /// `base` (defaults, completed by a device profile) with every flag the user gave.
    fn complete(&self, mut spec: RunSpec) -> RunSpec {
        if let Some(v) = self.warmup {
            spec.warmup = v;
        }
        match self.iters {
            Some(Iters::Count(n)) => spec.iterations = n,
            Some(Iters::Auto) => {
                spec.iterations = crate::plan::defaults::AUTO_MAX_ITERATIONS;
                spec.until_ci_pct = Some(self.precision);
            }
            None => {}
        }
        if let [one] = self.threads[..] {
            spec.threads = Some(one);
        }
        if let [one] = self.load_mode[..] {
            spec.load_mode = one;
        }
        spec.thermal_gate_c = self.thermal_gate.or(spec.thermal_gate_c);
        if let Some(v) = self.gate_timeout {
            spec.gate_timeout_s = v;
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
        if let Some(v) = self.heartbeat {
            spec.heartbeat_s = v;
        }
        if self.energy || self.energy_source.is_some() || self.energy_idle.is_some() {
            let mut energy = spec.energy.unwrap_or_default();
            energy.source = self.energy_source.clone().or(energy.source);
            energy.idle_s = self.energy_idle.unwrap_or(energy.idle_s);
            spec.energy = Some(energy);
        }
        spec
    }

    /// `--cores` on `device`: its CPUs of that kind become the spec's `cpu_affinity`, and as many threads when
    /// neither the profile nor `--threads` set them.
    fn pin_cores(&self, device: &dyn crate::device::Device, spec: &mut RunSpec) -> anyhow::Result<()> {
        let Some(selection) = &self.cores else { return Ok(()) };
        let clusters = device.clusters()?;
        let choice = crate::device::cores::choose(selection, &clusters, device.name()).map_err(anyhow::Error::msg)?;
        if let Some(warning) = &choice.warning {
            crate::say!("etbench: {}: warning: {warning}", device.name());
        }
        crate::say!(
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
            cooldown: std::time::Duration::from_secs_f64(self.cooldown),
            paired: false,
            processes: false,
            run_timeout: self.run_timeout.map(std::time::Duration::from_secs_f64),
            workloads: Vec::new(),
            llm_auto: false,
            generation_defaults: self.warmup.is_none()
                && self.iters.is_none()
                && self.until_ci.is_none()
                && self.max_time.is_none(),
        }
    }

    /// Checks what clap cannot know: a `--cpu-affinity` mask must select a CPU this host has when it runs here.
    fn check_for(&self, devices: &[String]) -> anyhow::Result<()> {
        let Some(mask) = &self.cpu_affinity else { return Ok(()) };
        if !devices.iter().any(|d| d == "local") {
            return Ok(());
        }
        let cpus = host_cpus() as u32;
        if !mask.cpus().any(|cpu| cpu < cpus) {
            let all = etbench_protocol::CpuMask::from_cpus(0..cpus).expect("host_cpus is at least 1");
            return Err(arg_error(format!(
                "--cpu-affinity {mask} selects no CPU of this host (it has CPUs 0–{}); e.g. {all} selects all",
                cpus - 1
            )));
        }
        Ok(())
    }
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Ok(_) => Err(format!("{s} is not a duration: give seconds ≥ 0")),
        Err(_) => Err(format!("`{s}` is not a number of seconds")),
    }
}

/// CPUs configured on this host (online or not: a mask may name any of them).
fn host_cpus() -> usize {
    // Safety: sysconf has no preconditions; it returns -1 for an unknown name, handled below.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(1)
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
                Some((i, spec)) if i.chars().all(|c| c.is_ascii_digit()) && !i.is_empty() => {
                    (as_arg_error(i.parse::<usize>().with_context(|| format!("--input {text}: index {i}")))?, spec)
                }
                _ => (next, text.as_str()),
            };
            let spec: InputSpec = spec.parse().map_err(|e: String| arg_error(format!("--input {text}: {e}")))?;
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
        Ok(_) => Err(arg_error(format!("--input {flag}: {path} is a directory; give a file"))),
        Err(e) => Err(arg_error(format!("--input {flag}: {path}: {e}"))),
    }
}

/// Model paths that cannot be a program at all (a directory) are refused before anything runs; a missing or broken
/// file is left to the sweep, which records an error row for it and goes on with the others.
fn check_models(flag: &str, models: &[PathBuf]) -> anyhow::Result<()> {
    match models.iter().find(|m| m.is_dir()) {
        Some(dir) => Err(arg_error(format!("{flag} {} is a directory; pass a .pte file", dir.display()))),
        None => Ok(()),
    }
}

/// The output directory, made and checked before anything runs; a place that cannot be written is an argument problem.
fn prepare_out(path: &Path) -> anyhow::Result<OutputDir> {
    as_arg_error(OutputDir::prepare(path))
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Device to run on: `local` (this host), a profile name from the devices directory, or a device with no profile
    /// (`adb`, `adb:SERIAL`, `ssh:[USER@]HOST[:WORK_DIR]`); repeat the flag to run
    /// several devices concurrently (results merged).
    #[arg(long = "device", default_value = "local")]
    devices: Vec<String>,
    /// Directory of device profiles (default: ETBENCH_DEVICES_DIR, then the home's devices/).
    #[arg(long)]
    devices_dir: Option<PathBuf>,
    /// A .pte file; repeat the flag for several models.
    #[arg(long = "model", required = true)]
    models: Vec<PathBuf>,
    /// Finish the interrupted `etbench run` whose results are in DIR: its own flags are reused, its completed runs
    /// kept, the interrupted and missing ones run. Takes no other flag.
    #[arg(long, value_name = "DIR", exclusive = true)]
    resume: Option<PathBuf>,
    /// Print what would run and exit without running: every run's device, model, id and resolved parameters (the
    /// run specification its runner gets: defaults ← device profile ← these flags) as JSON on stdout.
    #[arg(long)]
    print_spec: bool,
    /// Pair the models, the first being the reference: the design that sees small differences on a noisy device.
    /// `in-process`: all in one runner process per repeat, timed iterations alternating (ABBA…) after each one's own
    /// load and warm-up; without --iters/--until-ci, rounds go on until every ratio's 95% interval is within ±2% (20
    /// to 500 rounds); peak memory covers all loaded models. `processes`: a fresh process per model, alternating
    /// A B B A … and comparing neighbours, until ±2% (--until-ci) or --max-time, 6 to 40 pairs (for models with
    /// different --runner builds or too big to load together). `auto` (the flag alone): processes when the models'
    /// runners differ, else in-process.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "auto", value_name = "DESIGN")]
    paired: Option<PairedDesign>,
    /// Method to run [default: forward].
    #[arg(long)]
    method: Option<String>,
    #[command(flatten)]
    inputs: InputArgs,
    #[command(flatten)]
    text: TextArgs,
    #[command(flatten)]
    llm: LlmArgs,
    #[command(flatten)]
    measure: Measure,
    /// Directory for results.json and results.csv (default: etbench-results/<timestamp>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// What to print on stdout: the terminal table, the results document, one CSV row per run, a markdown table, or
    /// nothing (results.json and results.csv are written either way).
    #[arg(long, value_enum, default_value_t = RunFormat::Table)]
    format: RunFormat,
}

/// How `run --paired` pairs its models.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum PairedDesign {
    // No doc comments here: they would switch the whole `run --help` to clap's long form.
    Auto,
    InProcess,
    Processes,
}

/// What `run` prints on stdout. The words are the same in every command: `table`, `json`, `csv`, `md`, `none`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum RunFormat {
    // No doc comments here: they would switch the whole `run --help` to clap's long form.
    Table,
    Json,
    Csv,
    Md,
    None,
}

/// The generation workload of LLM programs (KV cache in the program: `forward(tokens, input_pos)` and kin).
#[derive(Args, Debug, Default)]
struct LlmArgs {
    /// LLM programs: prompt tokens in the timed prefill (a list sweeps, e.g. 128,512). Turns each iteration into one
    /// whole generation: prefill, then --decode greedy steps. Without it an LLM program with a KV cache gets
    /// prefill 128 / decode 128, cut to fit its context.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..))]
    prefill: Vec<u32>,
    /// Greedy decode steps after the prefill, each one token through the cache (a list sweeps) [default: 128].
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..))]
    decode: Vec<u32>,
    /// Tokens already in the cache before the timed prefill, from an untimed prefill (a list sweeps) [default: 0].
    #[arg(long, value_delimiter = ',')]
    depth: Vec<u32>,
    /// Seed of the prompt ids (`splitmix64(seed)[i] % vocab`, always inside the vocabulary) [default: 0].
    #[arg(long)]
    prompt_seed: Option<u64>,
    /// How the prompt is fed: auto (one call if the token dimension is dynamic, else chunks, else token by
    /// token), one-call, chunked or token [default: auto].
    #[arg(long, value_parser = parse_prefill_mode)]
    prefill_mode: Option<etbench_protocol::PrefillMode>,
    /// Stop a generation at the program's first EOS id (text runs); benchmarks decode past it, as llama-bench does.
    #[arg(long)]
    stop_at_eos: bool,
    /// Sustained generation: repeat generations for this many seconds, recording clocks and temperatures after
    /// each (throttling shows as falling tokens/s).
    #[arg(long, value_name = "SECONDS", value_parser = parse_positive)]
    sustain: Option<f64>,
}

fn parse_prefill_mode(s: &str) -> Result<etbench_protocol::PrefillMode, String> {
    s.parse()
}

impl LlmArgs {
    fn given(&self) -> bool {
        !self.prefill.is_empty()
            || !self.decode.is_empty()
            || !self.depth.is_empty()
            || self.prompt_seed.is_some()
            || self.prefill_mode.is_some()
            || self.stop_at_eos
            || self.sustain.is_some()
    }

    /// Every combination of --prefill × --decode × --depth; `prompt_ids` (a prompt through the tokenizer) fixes
    /// the prefill to its length.
    fn workloads(&self, prompt_ids: Option<&[i64]>) -> Vec<etbench_protocol::LlmSpec> {
        // A text prompt only reaches here with generation flags given.
        if !self.given() {
            return Vec::new();
        }
        let base = etbench_protocol::LlmSpec {
            prompt_seed: self.prompt_seed.unwrap_or(0),
            stop_at_eos: self.stop_at_eos,
            prefill_mode: self.prefill_mode.unwrap_or_default(),
            sustain_s: self.sustain,
            ..etbench_protocol::LlmSpec::default()
        };
        let prefills: Vec<u32> = match prompt_ids {
            Some(ids) => vec![ids.len() as u32],
            None if self.prefill.is_empty() => vec![crate::plan::defaults::PREFILL_TOKENS],
            None => self.prefill.clone(),
        };
        let decodes =
            if self.decode.is_empty() { vec![crate::plan::defaults::DECODE_TOKENS] } else { self.decode.clone() };
        let depths = if self.depth.is_empty() { vec![0] } else { self.depth.clone() };
        let mut out = Vec::new();
        for &prefill in &prefills {
            for &decode in &decodes {
                for &depth in &depths {
                    let prompt_ids = prompt_ids.filter(|_| depth == 0).map(<[i64]>::to_vec);
                    out.push(etbench_protocol::LlmSpec { prefill, decode, depth, prompt_ids, ..base.clone() });
                }
            }
        }
        out
    }
}

/// A generation workload longer than an LLM program's context is refused before anything runs, naming the limit
/// and where it came from (programs that are not LLM programs are left to the run, which says what it found).
fn check_workloads(
    models: &[std::sync::Arc<crate::plan::model::Model>],
    workloads: &[etbench_protocol::LlmSpec],
) -> anyhow::Result<()> {
    for model in models {
        let Some(program) = model.llm() else { continue };
        let Some(max) = program.max_context else { continue };
        if let Some(w) = workloads.iter().find(|w| w.positions() > max as u64) {
            return Err(arg_error(format!(
                "--depth {} + --prefill {} + --decode {} = {} positions, but {} holds {max} (from {}); lower them",
                w.depth,
                w.prefill,
                w.decode,
                w.positions(),
                model.display(),
                program.max_context_source.as_deref().unwrap_or("the program")
            )));
        }
    }
    Ok(())
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
    /// The prompt with its tokenizer, checked (readable, non-empty, encodes to at least one token): every problem
    /// here is an [`ArgError`].
    fn prompt(&self) -> anyhow::Result<Option<Prompt>> {
        let (flag, text) = match (&self.prompt, &self.prompt_file) {
            (Some(text), _) => (format!("--prompt {text:?}"), text.clone()),
            (None, Some(file)) => (format!("--prompt-file {}", file.display()), prompt_file(file)?),
            (None, None) if self.tokenizer.is_some() => {
                return Err(arg_error("--tokenizer needs --prompt or --prompt-file"))
            }
            (None, None) => return Ok(None),
        };
        let tokenizer = load_tokenizer(self.tokenizer.as_deref())?;
        tokenizer.encode(&text).map_err(|e| arg_error(format!("{flag}: {e}")))?;
        Ok(Some(Prompt { text, tokenizer }))
    }
}

fn prompt_file(path: &Path) -> anyhow::Result<String> {
    read_prompt_file(path).map_err(|e| match e {
        crate::plan::prompt::PromptError::File { path, reason } => arg_error(format!("--prompt-file {path}: {reason}")),
        other => arg_error(other.to_string()),
    })
}

/// `--tokenizer`, else the home's `models/tokenizer.json`, loaded.
fn load_tokenizer(explicit: Option<&Path>) -> anyhow::Result<Tokenizer> {
    let path = match explicit {
        Some(path) => path.to_owned(),
        None => as_arg_error(
            crate::home::find().context("finding the bundled tokenizer (or pass --tokenizer path/to/tokenizer.json)"),
        )?
        .tokenizer(),
    };
    as_arg_error(Tokenizer::load(&path))
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
    /// Device to run on: `local`, a profile name from the devices directory, `adb`, `adb:SERIAL` or `ssh:[USER@]HOST`.
    #[arg(long, default_value = "local")]
    device: String,
    /// Directory of device profiles (default: ETBENCH_DEVICES_DIR, then the home's devices/).
    #[arg(long)]
    devices_dir: Option<PathBuf>,
    /// The variant everything is compared against (e.g. the bf16 export).
    #[arg(long)]
    reference: PathBuf,
    /// Candidate variants (e.g. int8, XNNPACK).
    #[arg(required = true, value_name = "CANDIDATE")]
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

/// Drift compares every candidate with the reference, so each of them must be a file before anything runs.
fn check_drift_models(args: &DriftArgs) -> anyhow::Result<()> {
    let named =
        std::iter::once(("--reference", &args.reference)).chain(args.candidates.iter().map(|c| ("CANDIDATE", c)));
    for (flag, path) in named {
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                return Err(arg_error(format!("drift {flag} {} is a directory; pass a .pte file", path.display())))
            }
            Ok(_) => {}
            Err(e) => return Err(arg_error(format!("drift {flag} {}: {e}; pass a .pte file", path.display()))),
        }
    }
    Ok(())
}

fn drift(args: DriftArgs) -> anyhow::Result<ExitCode> {
    crate::progress::handle_interrupts();
    check_drift_models(&args)?;
    args.measure.check_for(std::slice::from_ref(&args.device))?;
    let tokenizer = load_tokenizer(args.tokenizer.as_deref())?;
    let mut prompts: Vec<String> = crate::run::drift::BUILTIN_PROMPTS.iter().map(|p| p.to_string()).collect();
    for prompt in &args.prompts {
        tokenizer.encode(prompt).map_err(|e| arg_error(format!("drift --prompt {prompt:?}: {e}")))?;
        prompts.push(prompt.clone());
    }
    if let Some(file) = &args.prompt_file {
        let lines: Vec<String> =
            prompt_file(file)?.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect();
        if lines.is_empty() {
            return Err(arg_error(format!(
                "drift --prompt-file {} has no non-empty line; put one prompt per line",
                file.display()
            )));
        }
        prompts.extend(lines);
    }
    let (device, base) = open_device(&args.device, args.devices_dir.as_deref(), args.measure.one_runner()?)?;
    let mut spec = RunSpec { generate: args.generate, ..args.measure.complete(base) };
    args.measure.pin_cores(device.as_ref(), &mut spec)?;
    let out_path = args.out.unwrap_or_else(|| PathBuf::from("etbench-results").join(format!("{}-drift", timestamp())));
    let out = prepare_out(&out_path)?;
    let paths: Vec<PathBuf> = std::iter::once(args.reference).chain(args.candidates).collect();
    let mut plan = Plan {
        device,
        models: crate::plan::model::Model::all(&paths),
        settings: args.measure.settings(spec),
        prompt: None,
        text_run: None,
        dump_outputs: None,
        model_devices: Vec::new(),
    };
    let _lock = crate::device::lock::lock_device(plan.device.name())?;
    let mut doc = Document::new(crate::results::provenance::provenance(command_line()));
    crate::run::drift::measure(&mut plan, &prompts, &tokenizer, &out, &mut doc)?;
    out.write_results(&doc)?;
    out.write("drift.md", export::drift::markdown(&doc).as_bytes())?;
    print_stdout(&export::drift::table(&doc))?;
    crate::say!("etbench: results in {}", out.path().display());
    Ok(finish(&doc))
}

#[derive(Args, Debug)]
struct CalibrateArgs {
    /// The .pte to measure the noise for.
    #[arg(long)]
    model: PathBuf,
    /// Device: `local`, a profile name, `adb`, `adb:SERIAL` or `ssh:[USER@]HOST`.
    #[arg(long, default_value = "local")]
    device: String,
    /// Directory of device profiles (default: ETBENCH_DEVICES_DIR, then the home's devices/).
    #[arg(long)]
    devices_dir: Option<PathBuf>,
    /// Paired A/A sessions (the model twice in one process).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(2..))]
    sessions: u32,
    /// Rounds per paired session.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(6..))]
    pairs: u32,
    /// Unpaired fresh processes.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..))]
    processes: u32,
    /// Timed iterations per unpaired process.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(2..))]
    iters: u32,
    /// The noise threshold verdicts use, in percent.
    #[arg(long, default_value_t = 5.0)]
    threshold: f64,
    /// The etbench-runner binary (default: ETBENCH_RUNNER, then next to etbench).
    #[arg(long)]
    runner: Option<PathBuf>,
    /// Directory for results.json and calibration.md (default: etbench-results/<timestamp>-calibrate).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn calibrate(args: CalibrateArgs) -> anyhow::Result<ExitCode> {
    crate::progress::handle_interrupts();
    let out_path =
        args.out.clone().unwrap_or_else(|| PathBuf::from("etbench-results").join(format!("{}-calibrate", timestamp())));
    let out = OutputDir::prepare(&out_path)?;
    let (device, base) = open_device(&args.device, args.devices_dir.as_deref(), args.runner.clone())?;
    let _lock = crate::device::lock::lock_device(device.name())?;
    let mut plan = Plan {
        device,
        models: {
            // A/A: the same model twice, worked out once.
            let model = crate::plan::model::Model::new(args.model.clone());
            vec![model.clone(), model]
        },
        settings: Settings {
            spec: RunSpec { iterations: args.pairs, ..base.clone() },
            repeats: args.sessions,
            paired: true,
            ..Settings::default()
        },
        prompt: None,
        text_run: None,
        dump_outputs: None,
        model_devices: Vec::new(),
    };
    let mut doc = Document::new(crate::results::provenance::provenance(command_line()));
    crate::say!("calibrate: {} paired A/A sessions × {} rounds", args.sessions, args.pairs);
    sweep::execute_into(&plan, Some(&out), &mut doc)?;
    if crate::progress::interrupted() {
        crate::say!("etbench: results in {}", out.path().display());
        return Ok(finish(&doc));
    }
    let paired_doc = doc.clone();
    crate::say!("calibrate: {} unpaired processes × {} iterations", args.processes, args.iters);
    plan.models.truncate(1);
    plan.settings =
        Settings { spec: RunSpec { iterations: args.iters, ..base }, repeats: args.processes, ..Settings::default() };
    let mut unpaired_doc = Document::new(doc.provenance.clone());
    sweep::execute_into(&plan, None, &mut unpaired_doc)?;
    doc.runs.extend(unpaired_doc.runs.iter().cloned());
    let calibration = crate::analysis::calibrate::calibrate(&paired_doc, &unpaired_doc, args.threshold / 100.0)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "calibrate: no successful run of {}; see the error rows in {}",
                args.model.display(),
                out.path().display()
            )
        })?;
    doc.calibration = Some(serde_json::to_value(&calibration)?);
    out.write_results(&doc)?;
    let text = crate::export::calibrate::render(&calibration);
    out.write("calibration.md", text.as_bytes())?;
    print_stdout(&text)?;
    crate::say!("etbench: results in {}", out.path().display());
    Ok(finish(&doc))
}

#[derive(Args, Debug)]
struct InspectArgs {
    /// .pte files to inspect.
    #[arg(required = true)]
    models: Vec<PathBuf>,
    /// Output on stdout: plain text for people, or a JSON array with one object per file (`text` is an old name of
    /// `table`).
    #[arg(long, value_enum, default_value_t = InspectFormat::Table)]
    format: InspectFormat,
}

/// What `inspect` prints (`text` is the old name of `table`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum InspectFormat {
    #[value(alias = "text")]
    Table,
    Json,
}

fn inspect(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let mut all = Vec::new();
    for model in &args.models {
        all.push(crate::inspect::inspect(model)?);
    }
    match args.format {
        InspectFormat::Json => print_stdout(&format!("{}\n", serde_json::to_string_pretty(&all)?))?,
        InspectFormat::Table => print_stdout(&all.iter().map(crate::inspect::render).collect::<Vec<_>>().join("\n"))?,
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand, Debug)]
enum ProfileCommand {
    /// The top operators of every profiled run in a results.json (markdown on stdout).
    Show {
        /// A results.json, or the directory holding one.
        #[arg(value_name = "RESULTS")]
        results: PathBuf,
        /// Operators shown per run, by time per forward.
        #[arg(long, default_value_t = 15)]
        top: usize,
    },
    /// Operator-by-operator comparison of the first profiled run of A and of B (results.json files or their
    /// directories).
    Diff {
        a: PathBuf,
        b: PathBuf,
        /// Operators shown, by the larger time per forward of the two.
        #[arg(long, default_value_t = 20)]
        top: usize,
    },
}

fn first_profile(path: &Path) -> anyhow::Result<(String, crate::inspect::etdump::OpProfile)> {
    let doc = report::read_doc(path)?;
    doc.runs
        .into_iter()
        .find_map(|r| Some((r.model.name.clone(), r.profile?)))
        .with_context(|| format!("{} has no profiled run; record one with `etbench run --profile`", path.display()))
}

fn profile(cmd: ProfileCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ProfileCommand::Show { results, top } => {
            let doc = report::read_doc(&results)?;
            let mut text = String::new();
            for run in doc.runs.iter().filter(|r| r.profile.is_some()) {
                text.push_str(&format!("## {} ({})\n\n", run.model.name, run.id));
                text.push_str(&crate::inspect::etdump::markdown(run.profile.as_ref().expect("filtered"), top));
                text.push('\n');
            }
            if text.is_empty() {
                anyhow::bail!("{} has no profiled run; record one with `etbench run --profile`", results.display());
            }
            print_stdout(&text)?;
        }
        ProfileCommand::Diff { a, b, top } => {
            let (name_a, pa) = first_profile(&a)?;
            let (name_b, pb) = first_profile(&b)?;
            let (name_a, name_b) =
                if name_a == name_b { (format!("A:{name_a}"), format!("B:{name_b}")) } else { (name_a, name_b) };
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

fn local_device(runner: Option<PathBuf>) -> anyhow::Result<LocalDevice> {
    let runner = locate_runner(runner).map_err(anyhow::Error::msg)?;
    Ok(LocalDevice { runner })
}

/// Exit status for a finished sweep: 130 when interrupted, 1 when any run failed.
fn finish(doc: &Document) -> ExitCode {
    if crate::progress::interrupted() {
        let kept = doc.runs.iter().filter(|r| !r.is_interrupted()).count();
        let runs = if kept == 1 { "run completed before is" } else { "runs completed before are" };
        crate::say!("etbench: interrupted; the {kept} {runs} in the results");
        return ExitCode::from(crate::progress::EXIT_INTERRUPTED);
    }
    let failed = doc.failed_runs();
    if failed > 0 {
        crate::say!(
            "etbench: {failed} of {} failed; their error rows are in the results",
            crate::units::plural(doc.runs.len(), "run", "runs")
        );
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn command_line() -> Vec<String> {
    std::env::args().collect()
}

/// `local`, or a device profile, with the run specification completed by the profile's defaults.
fn open_device(
    name: &str,
    devices_dir: Option<&Path>,
    runner: Option<PathBuf>,
) -> anyhow::Result<(Box<dyn crate::device::Device>, RunSpec)> {
    if name == "local" {
        return Ok((Box::new(local_device(runner)?), RunSpec::default()));
    }
    let dir = crate::device::config::devices_dir(devices_dir);
    // An unknown name or a shorthand that does not resolve (malformed, no phone, board unreachable) is bad input.
    let shorthand = crate::device::shorthand::is_shorthand(name);
    let profile = crate::device::catalog::resolve(&dir, name).map_err(|e| match e
        .downcast_ref::<crate::device::config::ProfileError>()
    {
        Some(crate::device::config::ProfileError::Unknown { .. }) => arg_error(e.to_string()),
        _ if shorthand => arg_error(format!("{e:#}")),
        _ => e,
    })?;
    let spec = profile.run_spec(&RunSpec::default()).map_err(|e| anyhow::anyhow!("device profile {name}: {e}"))?;
    // An explicit --runner is the one the device runs, whatever its target (installed beside the profile's own).
    if let Some(path) = runner {
        return Ok((crate::device::catalog::open_with_runner(profile, &path), spec));
    }
    let host_runner = locate_runner(None).ok();
    Ok((crate::device::catalog::open(profile, host_runner), spec))
}

/// Device `name` running the runner at `path` (one model's own `--runner`): a local runner binary, or on a remote
/// device a runner for its target (a bundle directory for a phone), installed beside the others.
fn open_with_runner(
    name: &str,
    devices_dir: Option<&Path>,
    path: &Path,
) -> anyhow::Result<Box<dyn crate::device::Device>> {
    let (device, _) = open_device(name, devices_dir, Some(path.to_owned())).map_err(|e| arg_error(e.to_string()))?;
    Ok(device)
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    crate::progress::handle_interrupts();
    match &args.resume {
        Some(dir) => resume(dir),
        None => run_with(args, Vec::new()),
    }
}

/// `run --resume DIR`: the recorded command again, in its working directory, with DIR's completed runs kept.
fn resume(dir: &Path) -> anyhow::Result<ExitCode> {
    let results = dir.join("results.json");
    if !results.is_file() {
        return Err(arg_error(format!(
            "--resume {}: no results.json there; pass the directory an interrupted `etbench run` wrote",
            dir.display()
        )));
    }
    let dir = std::fs::canonicalize(dir).with_context(|| format!("--resume {}", dir.display()))?;
    let doc = as_arg_error(Document::read(&results))?;
    let recorded = doc.provenance.command.clone();
    let parsed = Cli::from_arg_matches(&command().try_get_matches_from(&recorded).map_err(|e| {
        arg_error(format!(
            "--resume {}: its recorded command `{}` does not parse with this etbench: {}",
            dir.display(),
            recorded.join(" "),
            e.kind()
        ))
    })?)?;
    let mut args = match parsed.command {
        Command::Run(args) if args.resume.is_none() => args,
        _ => {
            return Err(arg_error(format!(
                "--resume {}: its results come from `{}`; --resume finishes `etbench run` sweeps",
                dir.display(),
                recorded.iter().skip(1).take(1).cloned().collect::<String>()
            )))
        }
    };
    if let Some(cwd) = &doc.provenance.cwd {
        std::env::set_current_dir(cwd).map_err(|e| {
            arg_error(format!(
                "--resume {}: the run's working directory {cwd} is gone ({e}); its relative paths cannot be found",
                dir.display()
            ))
        })?;
    }
    for run in doc.runs.iter().filter(|r| !r.is_interrupted() && !r.model.sha256.is_empty()) {
        let now = crate::device::push::sha256_cached(Path::new(&run.model.path));
        if now.as_deref().ok() != Some(run.model.sha256.as_str()) {
            let what = match now {
                Ok(sha) => format!(
                    "changed since it was measured (sha256 {}… then, {}… now)",
                    &run.model.sha256[..12],
                    &sha[..12]
                ),
                Err(e) => format!("cannot be read any more ({e})"),
            };
            return Err(arg_error(format!(
                "--resume {}: model {} {what}: resuming would mix two programs in one result; start a new run",
                dir.display(),
                run.model.path
            )));
        }
    }
    let priors = if args.devices.len() == 1 {
        vec![Some(doc)]
    } else {
        // Each device wrote its own document after every run; the merged one only when a device finished.
        args.devices
            .iter()
            .map(|name| match Document::read(&dir.join(name).join("results.json")) {
                Ok(own) => Some(own),
                Err(_) => Some(Document {
                    runs: doc.runs.iter().filter(|r| &r.device.name == name).cloned().collect(),
                    ..doc.clone()
                }),
            })
            .collect()
    };
    args.out = Some(dir.clone());
    crate::say!(
        "etbench: resuming `{}` in {}",
        recorded.iter().skip(1).cloned().collect::<Vec<_>>().join(" "),
        dir.display()
    );
    run_with(args, priors)
}

/// `run --print-spec`: every cell of every plan as it would run, with the id its row would get.
fn planned_runs(plans: &[Plan]) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for plan in plans {
        for cell in plan.cells() {
            let params = plan.params(&cell);
            let models: Vec<String> = if plan.settings.paired {
                plan.models.iter().map(|m| m.display().to_string()).collect()
            } else {
                vec![plan.models[cell.model].display().to_string()]
            };
            let names: Vec<String> = models.iter().map(|m| crate::plan::model::unreadable(Path::new(m)).name).collect();
            let id = crate::results::identity::RunIdentity::run_id(plan.device.name(), &names.join("+"), &params);
            out.push(serde_json::json!({
                "device": plan.device.name(),
                "models": models,
                "id": id,
                "params": params,
            }));
        }
    }
    out
}

/// `run`'s flags that cannot go together, refused before anything runs; returns whether the models have runners of
/// their own and the paired design resolved.
fn check_run_args(args: &RunArgs) -> anyhow::Result<(bool, Option<PairedDesign>)> {
    let names = args.devices.clone();
    if let Some(dup) = names.iter().enumerate().find(|(i, n)| names[..*i].contains(n)).map(|(_, n)| n) {
        return Err(arg_error(format!("--device {dup} is given twice; a device runs one benchmark at a time")));
    }
    let runners = &args.measure.runner;
    if runners.len() > 1 && runners.len() != args.models.len() {
        return Err(arg_error(format!(
            "--runner is given {} times for {} --model files: give one runner for all, or one per model in order",
            runners.len(),
            args.models.len()
        )));
    }
    let own_runners = runners.len() > 1 && runners.iter().any(|r| r != &runners[0]);
    let design = args.paired.map(|d| match d {
        PairedDesign::Auto if own_runners => PairedDesign::Processes,
        PairedDesign::Auto => PairedDesign::InProcess,
        other => other,
    });
    if design == Some(PairedDesign::InProcess) && own_runners {
        return Err(arg_error("--paired in-process needs one runner for all models (they share its process); the models have different --runner: use --paired processes".to_owned()));
    }
    if design == Some(PairedDesign::Processes) && args.measure.iters == Some(Iters::Auto) {
        return Err(arg_error(
            "--iters auto cannot go with --paired processes: there the session adapts its number of pairs (--until-ci, --max-time); give --iters N, the timed iterations of each process".to_owned(),
        ));
    }
    if design.is_some() && args.models.len() < 2 {
        return Err(arg_error(format!(
            "--paired needs at least two --model files (the first is the reference); got {}",
            args.models.len()
        )));
    }
    if design.is_some() && (args.text.generate > 0 || args.measure.profile) {
        return Err(arg_error(
            "--paired cannot be combined with --generate or --profile: run those models one by one".to_owned(),
        ));
    }
    Ok((own_runners, design))
}

fn run_with(args: RunArgs, priors: Vec<Option<Document>>) -> anyhow::Result<ExitCode> {
    let (own_runners, design) = check_run_args(&args)?;
    let names = args.devices.clone();
    let runners = &args.measure.runner;
    check_models("--model", &args.models)?;
    args.measure.check_for(&names)?;
    let inputs = args.inputs.specs()?;
    let prompt = args.text.prompt()?;
    if args.llm.given() && (args.text.generate > 0 || !inputs.is_empty()) {
        return Err(arg_error("--prefill/--decode/--depth (the generation workload of LLM programs) cannot go with --generate or --input: the runner feeds tokens and positions itself".to_owned()));
    }
    if args.llm.depth.iter().any(|&d| d > 0) && prompt.is_some() {
        return Err(arg_error("--depth cannot go with --prompt: the cache is filled with seeded ids before the timed prefill; give --prompt-seed instead".to_owned()));
    }
    if prompt.is_some() && !args.llm.prefill.is_empty() {
        return Err(arg_error("--prefill cannot go with --prompt: the prompt's tokens are the prefill".to_owned()));
    }
    // A text prompt drives a generation run of an LLM program when the generation flags are given; otherwise it
    // fills the window of a forward-loop run.
    let (prompt, text_run) = match prompt {
        Some(p) if args.llm.given() => (None, Some(p)),
        p => (p, None),
    };
    let prompt_ids = text_run
        .as_ref()
        .map(|p| p.tokenizer.encode(&p.text).map_err(|e| arg_error(format!("--prompt: {e}"))))
        .transpose()?;
    let workloads = args.llm.workloads(prompt_ids.as_deref());
    let models = crate::plan::model::Model::all(&args.models);
    check_workloads(&models, &workloads)?;
    let devices: Vec<_> = names
        .iter()
        // With a runner per model, the device itself (its facts, its lock) has the first model's.
        .map(|name| open_device(name, args.devices_dir.as_deref(), runners.first().cloned()))
        .collect::<anyhow::Result<_>>()?;
    let mut plans = Vec::new();
    for (device, base) in devices {
        let mut spec = args.measure.complete(base);
        args.measure.pin_cores(device.as_ref(), &mut spec)?;
        spec.method = args.method.clone().unwrap_or(spec.method);
        spec.generate = args.text.generate;
        if !inputs.is_empty() {
            spec.inputs = inputs.clone();
        }
        if design == Some(PairedDesign::InProcess) && args.measure.iters.is_none() && args.measure.until_ci.is_none() {
            spec = crate::plan::defaults::paired(spec);
        }
        let processes = design == Some(PairedDesign::Processes);
        let llm_auto = workloads.is_empty() && inputs.is_empty() && args.text.generate == 0 && prompt.is_none();
        let settings = Settings {
            paired: design.is_some(),
            processes,
            workloads: workloads.clone(),
            llm_auto,
            ..args.measure.settings(spec)
        };
        let model_devices = if own_runners {
            let labels = crate::plan::ModelRunner::labels(runners);
            runners
                .iter()
                .zip(labels)
                .map(|(path, label)| {
                    let device = open_with_runner(device.name(), args.devices_dir.as_deref(), path)?;
                    Ok(crate::plan::ModelRunner { device, path: path.clone(), label })
                })
                .collect::<anyhow::Result<_>>()?
        } else {
            Vec::new()
        };
        plans.push(Plan {
            device,
            models: models.clone(),
            settings,
            prompt: prompt.clone(),
            text_run: text_run.clone(),
            dump_outputs: None,
            model_devices,
        });
    }
    if args.print_spec {
        print_stdout(&format!("{}\n", serde_json::to_string_pretty(&planned_runs(&plans))?))?;
        return Ok(ExitCode::SUCCESS);
    }
    let out_path = args.out.clone().unwrap_or_else(|| PathBuf::from("etbench-results").join(timestamp()));
    let out = prepare_out(&out_path)?;
    let doc = crate::run::fleet::execute(&plans, &out, command_line(), priors)?;
    match args.format {
        RunFormat::Json => {
            print_stdout(&String::from_utf8_lossy(&export::format::Format::Json.render(std::slice::from_ref(&doc))?))?
        }
        RunFormat::Csv => {
            print_stdout(&String::from_utf8_lossy(&export::format::Format::Csv.render(std::slice::from_ref(&doc))?))?
        }
        // A paired-processes session has a row per process (dozens): the terminal gets them pooled per model, as
        // in report.md; results.json keeps every row.
        RunFormat::Table if design == Some(PairedDesign::Processes) => {
            print_stdout(&export::report::Report::tables(&doc))?
        }
        RunFormat::Table => print_stdout(&export::table::render(&doc))?,
        RunFormat::Md => print_stdout(&export::report::Report::tables(&doc))?,
        RunFormat::None => {}
    }
    if !doc.paired.is_empty() && matches!(args.format, RunFormat::Table) && design != Some(PairedDesign::Processes) {
        print_stdout(&format!("\n{}", export::paired::render(&doc.paired, false)))?;
    }
    crate::say!("etbench: results in {}", out.path().display());
    if crate::progress::interrupted() {
        crate::say!("etbench: finish the sweep with `etbench run --resume {}`", out.path().display());
    }
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
        anyhow::bail!(
            "no .pte files in {}; pass --models DIR or export some with scripts/export_gemma3n.py",
            dir.display()
        );
    }
    Ok(models)
}

fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    crate::progress::handle_interrupts();
    let home = match &args.models {
        Some(_) => crate::home::find().ok(),
        None => Some(crate::home::find().context("finding the bundled models (or pass --models DIR)")?),
    };
    let models_dir = args.models.clone().or_else(|| home.as_ref().map(|h| h.models())).expect("one of the two is set");
    let models =
        if args.models.is_some() { as_arg_error(bundled_models(&models_dir))? } else { bundled_models(&models_dir)? };
    args.measure.check_for(&["local".to_owned()])?;
    let device = local_device(args.measure.one_runner()?)?;
    let reports = home.map(|h| h.reports()).unwrap_or_else(|| PathBuf::from("reports"));
    let out_path = args.out.unwrap_or_else(|| reports.join(format!("{}-local", timestamp())));
    let out = prepare_out(&out_path)?;
    crate::say!("etbench: {} from {}", crate::units::plural(models.len(), "model", "models"), models_dir.display());
    let mut spec = args.measure.complete(RunSpec::default());
    args.measure.pin_cores(&device, &mut spec)?;
    let plan = Plan {
        device: Box::new(device),
        models: crate::plan::model::Model::all(&models),
        settings: Settings { llm_auto: true, ..args.measure.settings(spec) },
        prompt: None,
        text_run: None,
        dump_outputs: None,
        model_devices: Vec::new(),
    };
    let docs = [sweep::execute(&plan, Some(&out), command_line(), None)?];
    // The same report as `etbench report` writes: one renderer, charts included.
    export::report::Report::render(&docs)?.write(&out, &docs)?;
    let doc = &docs[0];
    print_stdout(&export::table::render(doc))?;
    print_stdout(&format!("\nReport: {}\n", out.path().join("report.md").display()))?;
    Ok(finish(doc))
}

pub fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::from_arg_matches(&command().get_matches()).unwrap_or_else(|e| e.exit());
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
        Command::Calibrate(args) => calibrate(args),
        Command::Completions { shell } => completions(shell),
        Command::Manpage => manpage(),
    }
}
