//! Arguments and handlers of `etbench report`, `etbench compare` and `etbench history`. Like `cli`, this is the only
//! place that knows clap for these commands; the work happens in [`crate::export::report`], [`crate::analysis::compare`] and
//! [`crate::analysis::history`].
//!
//! Exit codes of `compare` and `history check`: 0 nothing regressed, 1 something regressed, 2 the inputs could not be
//! compared (bad arguments, unreadable or mismatched results, empty history).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};

use crate::analysis::bootstrap::{Bootstrap, Verdict};
use crate::analysis::compare::{self, Comparison, Options};
use crate::analysis::history::{self, History};
use crate::analysis::paired;
use crate::export;
use crate::export::report::Report;
use crate::export::site;
use crate::export::store::{print_stdout, OutputDir};
use crate::export::{card, trend};
use crate::results::Document;
use crate::units::plural;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// results.json files, or directories holding one.
    #[arg(required = true, value_name = "RESULTS")]
    results: Vec<PathBuf>,
    /// Directory for report.md, the charts (PNG + SVG), results.csv and samples.csv (default: the first input's
    /// directory).
    #[arg(long)]
    out: Option<PathBuf>,
    /// A model card (e.g. README.md): replace what is between `<!-- etbench:begin -->` and `<!-- etbench:end -->`,
    /// or the body of its `## Benchmarks` section; chart links are made relative to the card.
    #[arg(long, value_name = "README.md")]
    card: Option<PathBuf>,
    /// Print this machine format on stdout instead of writing the report (with --out or --card, both).
    #[arg(long, value_enum)]
    format: Option<MachineFormat>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum MachineFormat {
    /// The result document (an array of documents for several inputs).
    Json,
    /// One run per line.
    Jsonl,
    /// One row per run, as results.csv.
    Csv,
    /// Bencher Metric Format.
    Bmf,
    /// github-action-benchmark `customSmallerIsBetter` (latency, load, memory).
    GabSmaller,
    /// github-action-benchmark `customBiggerIsBetter` (tokens/s).
    GabBigger,
    /// PyTorch OSS benchmark database v3 records (the ExecuTorch dashboard's format).
    PytorchV3,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The reference results.json (or its directory); alone, a paired session (`run --paired`) whose models are
    /// judged against its first model.
    base: PathBuf,
    /// The results.json to judge against it (or its directory): an unpaired comparison of two separate runs.
    cand: Option<PathBuf>,
    #[command(flatten)]
    judge: Judge,
    /// Compare even when the runs differ in device, model, threads, load mode, input, runner or ExecuTorch version
    /// (the differences are printed).
    #[arg(long)]
    force: bool,
}

#[derive(Args, Debug)]
struct Judge {
    /// Noise threshold in percent: a change is called only when its whole confidence interval is beyond it.
    #[arg(long, default_value_t = 5.0, value_parser = parse_threshold)]
    threshold: f64,
    /// Output: a terminal table or markdown.
    #[arg(long, value_enum, default_value_t = CompareFormat::Table)]
    format: CompareFormat,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum CompareFormat {
    Table,
    Md,
}

fn parse_threshold(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("`{s}` is not a number (percent, e.g. 5)"))?;
    if (0.0..100.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is outside 0–100 (percent)"))
    }
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    #[command(subcommand)]
    command: HistoryCommand,
}

#[derive(Subcommand, Debug)]
enum HistoryCommand {
    /// Store the runs of results.json files (with their raw samples) in the history database.
    Add {
        /// results.json files, or directories holding one.
        #[arg(required = true, value_name = "RESULTS")]
        results: Vec<PathBuf>,
        #[command(flatten)]
        db: Db,
    },
    /// Trends over time: report.md with a table and a chart per metric.
    Report {
        #[command(flatten)]
        db: Db,
        /// Output directory.
        #[arg(long, default_value = "etbench-history-report")]
        out: PathBuf,
    },
    /// Compare the newest run of each series with the pooled samples of the runs before it; exit 1 on a regression.
    Check {
        #[command(flatten)]
        db: Db,
        /// How many earlier runs of a series form the baseline.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
        window: u32,
        #[command(flatten)]
        judge: Judge,
    },
    /// Copy every run of one history into another (e.g. a host's SQLite file into the shared PostgreSQL), in one
    /// transaction; runs already there are skipped.
    Copy {
        /// The history to read: a SQLite file, or a postgres:// URL.
        #[arg(long, value_name = "DB")]
        from: String,
        /// The history to add to (created if needed): a postgres:// URL, or a SQLite file [default:
        /// $ETBENCH_HISTORY_URL, so the shared database's URL need not be on the command line]
        #[arg(long, value_name = "DB")]
        to: Option<String>,
    },
    /// A static dashboard (index.html, data.js and the chart library) that opens from file:// or any static host:
    /// per device × model × metric series with intervals, the reference-normalised paired series, and the
    /// regressions `history check` finds.
    Site {
        #[command(flatten)]
        db: Db,
        /// Output directory (created if missing; files of an earlier site are replaced).
        #[arg(long, default_value = "etbench-site")]
        out: PathBuf,
        /// How many earlier batches of a series form the baseline of the regressions list (as `history check`).
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
        window: u32,
        /// Noise threshold in percent for the regressions list (as `history check`).
        #[arg(long, default_value_t = 5.0, value_parser = parse_threshold)]
        threshold: f64,
    },
}

/// `--db`, shared by every `history` subcommand that reads or writes one history.
#[derive(Args, Debug)]
pub struct Db {
    /// The history database: a SQLite file, or postgres://USER:PASSWORD@HOST:PORT/DATABASE for a shared server
    /// [default: $ETBENCH_HISTORY_URL, else etbench-history.sqlite]
    #[arg(long, value_name = "PATH|URL")]
    db: Option<String>,
}

impl Db {
    /// Where the history is: `--db`, else `ETBENCH_HISTORY_URL`, else the default SQLite file. Any message naming
    /// it shows a URL without its password.
    pub fn location(&self) -> anyhow::Result<history::Location> {
        let env = std::env::var(history::DB_ENV).ok().filter(|v| !v.is_empty());
        if let Some(flag) = &self.db {
            warn_password_in_argv("--db", flag);
        }
        let text = self.db.clone().or(env).unwrap_or_else(|| history::DEFAULT_DB.to_owned());
        history::Location::parse(&text)
    }
}

/// A URL given on the command line with its password works, but every user of the machine can read argv
/// (`ps`, `/proc/PID/cmdline`): said once, with the safer ways.
pub(crate) fn warn_password_in_argv(flag: &str, text: &str) {
    static SAID: std::sync::Once = std::sync::Once::new();
    if crate::store::carries_password(text) {
        SAID.call_once(|| {
            eprintln!(
                "etbench: warning: {flag} carries a password on the command line, where every user of this machine can read it (ps, /proc/PID/cmdline); put the URL without its password in {} and the password in PGPASSWORD, ~/.pgpass (mode 0600) or a service entry (service=NAME)",
                history::DB_ENV
            )
        });
    }
}

/// A results.json, or a directory holding one.
pub(crate) fn read_doc(path: &Path) -> anyhow::Result<Document> {
    let file = if path.is_dir() { path.join("results.json") } else { path.to_owned() };
    // The read error already names the file and its cause (with the cause's text, which it also carries as its
    // source): one flat message, so `{:#}` prints each part once.
    let mut doc = Document::read(&file)
        .map_err(|e| anyhow::anyhow!("{e}; pass a results.json written by `etbench run` (or its directory)"))?;
    crate::plan::model::fill_program_facts(&mut doc);
    Ok(doc)
}

fn read_docs(paths: &[PathBuf]) -> anyhow::Result<Vec<Document>> {
    paths.iter().map(|p| read_doc(p)).collect()
}

impl From<MachineFormat> for export::format::Format {
    fn from(f: MachineFormat) -> Self {
        use export::format::Format;
        match f {
            MachineFormat::Json => Format::Json,
            MachineFormat::Jsonl => Format::Jsonl,
            MachineFormat::Csv => Format::Csv,
            MachineFormat::Bmf => Format::Bmf,
            MachineFormat::GabSmaller => Format::GabSmaller,
            MachineFormat::GabBigger => Format::GabBigger,
            MachineFormat::PytorchV3 => Format::PytorchV3,
        }
    }
}

fn machine(format: MachineFormat, docs: &[Document]) -> anyhow::Result<Vec<u8>> {
    export::format::Format::from(format).render(docs)
}

pub fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let docs = read_docs(&args.results)?;
    if let Some(format) = args.format {
        print_stdout(&String::from_utf8_lossy(&machine(format, &docs)?))?;
        if args.out.is_none() && args.card.is_none() {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let first = &args.results[0];
    let default_out = if first.is_dir() { first.clone() } else { first.parent().unwrap_or(Path::new(".")).to_owned() };
    let out = OutputDir::prepare(args.out.as_deref().unwrap_or(&default_out))?;
    let report = Report::render(&docs)?;
    // The card is checked before anything is written, so a bad card leaves every file as it was.
    let card = match &args.card {
        Some(path) => {
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let link = card::relative(dir, out.path()).with_context(|| format!("--card {}", path.display()))?;
            Some((path, card::updated(path, &report.section(&docs, 3, &link))?))
        }
        None => None,
    };
    report.write(&out, &docs)?;
    eprintln!("etbench: report in {}", out.path().join("report.md").display());
    if let Some((path, text)) = card {
        card::write_atomically(path, &text)?;
        eprintln!("etbench: updated the etbench section of {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn options(judge: &Judge, force: bool) -> Options {
    Options { threshold: judge.threshold / 100.0, bootstrap: Bootstrap::default(), force }
}

fn print_comparison(c: &Comparison, format: CompareFormat) -> anyhow::Result<ExitCode> {
    print_stdout(&match format {
        CompareFormat::Table => c.render_table(),
        CompareFormat::Md => c.render_markdown(),
    })?;
    Ok(if c.regressed() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Errors of commands whose exit 1 means "regressed" are reported with exit 2.
fn or_exit_2(result: anyhow::Result<ExitCode>) -> anyhow::Result<ExitCode> {
    result.or_else(|e| {
        eprintln!("etbench: error: {e:#}");
        Ok(ExitCode::from(2))
    })
}

pub fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    or_exit_2((|| {
        let opts = options(&args.judge, args.force);
        let base = read_doc(&args.base)?;
        let Some(cand_path) = &args.cand else {
            let ratios = paired::ratios(&base, &opts);
            if ratios.is_empty() {
                anyhow::bail!(
                    "{} holds no paired session (design: unpaired); judge two runs with `etbench compare BASE CAND`, or record one with `etbench run --paired --model A.pte --model B.pte`",
                    args.base.display()
                );
            }
            print_stdout(&crate::export::paired::render(&ratios, args.judge.format == CompareFormat::Md))?;
            let regressed = ratios.iter().any(|r| r.verdict == Some(Verdict::Regressed));
            return Ok(if regressed { ExitCode::from(1) } else { ExitCode::SUCCESS });
        };
        let cand = read_doc(cand_path)?;
        let designs = (paired::Design::of(&base), paired::Design::of(&cand));
        if designs != (paired::Design::Unpaired, paired::Design::Unpaired) {
            anyhow::bail!(
                "{} is {} and {} is {}: a paired session judges its own models against its first one (`etbench compare {}`); comparing it with another run is an unpaired comparison that cannot cancel drift between processes. Record both sides in one paired session (`run --paired --model A --model B`) to see small differences",
                args.base.display(),
                designs.0.label(),
                cand_path.display(),
                designs.1.label(),
                if designs.0 != paired::Design::Unpaired { args.base.display() } else { cand_path.display() }
            );
        }
        let labels = (args.base.display().to_string(), cand_path.display().to_string());
        let c = compare::compare(&base, &cand, (&labels.0, &labels.1), &opts)?;
        print_comparison(&c, args.judge.format)
    })())
}
// Over 80 lines on purpose: dispatch of the `history` subcommands, one short arm each.

pub fn history(args: HistoryArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        HistoryCommand::Add { results, db } => {
            let docs = read_docs(&results)?;
            let mut h = History::create(db.location()?)?;
            for (doc, path) in docs.iter().zip(&results) {
                let a = h.add(doc, &path.display().to_string())?;
                eprintln!(
                    "etbench: {}: {} run(s) added, {} already present, {} failed run(s) skipped",
                    path.display(),
                    a.added,
                    a.already_present,
                    a.failed_skipped
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        HistoryCommand::Report { db, out } => {
            let h = History::open(db.location()?)?;
            let series = h.series()?;
            let out = OutputDir::prepare(&out)?;
            let views: Vec<trend::Series> =
                series.iter().map(|s| trend::Series { label: s.key.clone(), runs: s.runs.iter().collect() }).collect();
            let ratios: Vec<trend::RatioSeries> = history::normalised_series(&series, &Bootstrap::default())
                .into_iter()
                .map(|n| trend::RatioSeries {
                    nights: n.nights.iter().map(|x| (x.night, x.ratio, x.lower, x.upper, x.pairs)).collect(),
                    candidate: n.candidate,
                    reference: n.reference,
                    setting: n.setting,
                })
                .collect();
            let charts = trend::charts(&views, &ratios)?;
            let mut md = format!(
                "# etbench history\n\nFrom `{}`: {} series.\n\n{}\n{}\n",
                h.location(),
                views.len(),
                trend::table(&views),
                trend::ratio_table(&ratios)
            );
            for c in &charts {
                out.write(&format!("{}.png", c.name), &c.png)?;
                out.write(&format!("{}.svg", c.name), c.svg.as_bytes())?;
                md += &format!("![{}]({}.png)\n\n[SVG]({}.svg)\n\n", c.title, c.name, c.name);
            }
            let path = out.write("report.md", md.as_bytes())?;
            eprintln!("etbench: history report in {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        HistoryCommand::Site { db, out, window, threshold } => {
            site::check_out(&out)?;
            let h = History::open(db.location()?)?;
            let series = h.series()?;
            let source = site::source_label(&h.location().to_string());
            let data = site::build(&series, &source, window as usize, &site::default_options(threshold));
            let index = site::write(&out, &data)?;
            eprintln!(
                "etbench: {}, {}; open {}",
                plural(data.series.len(), "series", "series"),
                plural(data.regressions.len(), "regression", "regressions"),
                index.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        HistoryCommand::Check { db, window, judge } => or_exit_2((|| {
            let series = History::open(db.location()?)?.series()?;
            let opts = options(&judge, false);
            let code = print_comparison(&history::check(&series, window as usize, &opts), judge.format)?;
            let normalised = history::check_normalised(&series, window as usize, &opts);
            print_stdout(&crate::export::history::render_normalised(&normalised, opts.threshold))?;
            let regressed = normalised.iter().any(|n| n.verdict == Some(Verdict::Regressed));
            Ok(if regressed { ExitCode::from(1) } else { code })
        })()),
        HistoryCommand::Copy { from, to } => {
            warn_password_in_argv("--from", &from);
            if let Some(to) = &to {
                warn_password_in_argv("--to", to);
            }
            let to = to.or_else(|| std::env::var(history::DB_ENV).ok().filter(|v| !v.is_empty())).ok_or_else(|| {
                crate::cli::arg_error(format!(
                    "history copy needs --to DB, or {} naming the history to add to",
                    history::DB_ENV
                ))
            })?;
            let source = History::open(history::Location::parse(&from)?)?;
            let mut target = History::create(history::Location::parse(&to)?)?;
            let a = target.copy_from(&source)?;
            eprintln!(
                "etbench: {} → {}: {} run(s) copied, {} already present",
                source.location(),
                target.location(),
                a.added,
                a.already_present
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
