//! The nightly history: runs stored in SQLite (bundled, no system library), one series per device × model hash ×
//! settings × etbench/ExecuTorch version, each run with its raw samples. `check` compares the newest batch (one
//! `etbench run`, with its repeats) of each series against the pooled samples of a sliding window of earlier
//! batches, with the same noise-aware verdicts as `etbench compare`.
//!
//! Tables: `runs` (one row per run: the key columns, a few headline numbers for SQL, and the whole run as JSON) and
//! `samples` (one row per timed iteration), plus `meta` holding the history format version.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use crate::analysis::compare::{self, Comparison, Options, Pair};
use crate::export::metric::{short_sha, threads_label, RunKey};
use crate::results::{Document, RunResult};

pub const DEFAULT_DB: &str = "etbench-history.sqlite";
/// Bumped on incompatible changes to the tables.
pub const FORMAT: u32 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    series TEXT NOT NULL,
    device TEXT NOT NULL,
    model_name TEXT NOT NULL,
    model_sha256 TEXT NOT NULL,
    method TEXT NOT NULL,
    threads TEXT NOT NULL,
    load_mode TEXT NOT NULL,
    input TEXT NOT NULL,
    etbench_version TEXT NOT NULL,
    executorch_version TEXT NOT NULL,
    run_id TEXT NOT NULL,
    batch TEXT NOT NULL,
    started_at TEXT NOT NULL,
    source TEXT NOT NULL,
    latency_median_ns REAL,
    run_json TEXT NOT NULL,
    UNIQUE (series, run_id, started_at)
);
CREATE INDEX IF NOT EXISTS runs_by_series_time ON runs (series, started_at);
CREATE TABLE IF NOT EXISTS samples (
    run INTEGER NOT NULL REFERENCES runs (id),
    iteration INTEGER NOT NULL,
    latency_ns INTEGER NOT NULL,
    PRIMARY KEY (run, iteration)
) WITHOUT ROWID;
";

/// The series a run belongs to: its [`RunKey`] plus the etbench and ExecuTorch versions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeriesKey {
    pub run: RunKey,
    pub etbench_version: String,
    pub executorch_version: String,
}

impl SeriesKey {
    pub fn of(doc: &Document, run: &RunResult) -> Self {
        Self {
            run: RunKey::of(run),
            etbench_version: doc.provenance.etbench_version.clone(),
            executorch_version: run.runner.as_ref().map(|r| r.executorch_version.clone()).unwrap_or_else(|| "?".into()),
        }
    }

    pub fn text(&self) -> String {
        let k = &self.run;
        format!(
            "{} | {} {} | {} | t{} | {} | input {} | etbench {} | ExecuTorch {}",
            k.device,
            k.model_name,
            short_sha(&k.model_sha256),
            k.method,
            threads_label(k.threads),
            k.load_mode,
            k.input,
            self.etbench_version,
            self.executorch_version
        )
    }
}

/// The runs of one series, oldest first, each with its batch (the creation time of the document it came from: one
/// nightly `etbench run`, possibly several repeats).
pub struct Series {
    pub key: String,
    pub runs: Vec<RunResult>,
    pub batches: Vec<String>,
    /// Where each run came from, parallel to `runs`.
    pub origins: Vec<Origin>,
}

/// Where a stored run came from: the results file it was added from, the host that ran it, and the CI job (commit,
/// run link) when a CI job made it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Origin {
    pub source: String,
    pub host: Option<String>,
    pub ci: Option<crate::results::CiProvenance>,
}

impl Series {
    /// Runs grouped by batch, oldest batch first.
    pub fn by_batch(&self) -> Vec<Vec<&RunResult>> {
        let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        let mut out: Vec<Vec<&RunResult>> = Vec::new();
        for (run, batch) in self.runs.iter().zip(&self.batches) {
            let i = *index.entry(batch).or_insert_with(|| {
                out.push(Vec::new());
                out.len() - 1
            });
            out[i].push(run);
        }
        out
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Added {
    pub added: usize,
    pub already_present: usize,
    pub failed_skipped: usize,
}

pub struct History {
    conn: Connection,
    path: PathBuf,
}

impl History {
    /// Opens (creating if needed) a history for writing.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let conn = Connection::open(path)
            .with_context(|| format!("--db {}: cannot open or create the history database; choose a writable path", path.display()))?;
        let h = Self { conn, path: path.to_owned() };
        h.conn
            .execute_batch(SCHEMA)
            .with_context(|| format!("--db {}: not an etbench history database (SQLite); pass another --db", path.display()))?;
        h.check_format()?;
        Ok(h)
    }

    /// Opens an existing history read-only.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if !path.is_file() {
            bail!(
                "no history database at {}; create it with `etbench history add RESULTS.json --db {}` (or pass --db)",
                path.display(),
                path.display()
            );
        }
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("--db {}: cannot open the history database", path.display()))?;
        let h = Self { conn, path: path.to_owned() };
        h.check_format()?;
        Ok(h)
    }

    fn check_format(&self) -> anyhow::Result<()> {
        let bad = || format!("--db {}: not an etbench history database; pass another --db", self.path.display());
        let found: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE name = 'format'", [], |r| r.get(0))
            .optional()
            .with_context(bad)?;
        match found {
            Some(v) if v == FORMAT.to_string() => Ok(()),
            Some(v) => bail!("--db {}: history format {v}, this etbench reads {FORMAT}; use a matching etbench or a new --db", self.path.display()),
            None if self.is_read_only() => bail!(bad()),
            None => {
                self.conn.execute("INSERT INTO meta (name, value) VALUES ('format', ?1)", [FORMAT.to_string()])?;
                Ok(())
            }
        }
    }

    fn is_read_only(&self) -> bool {
        self.conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(true)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stores every successful run of `doc` with its samples, in one transaction; runs already present are skipped.
    pub fn add(&mut self, doc: &Document, source: &str) -> anyhow::Result<Added> {
        let mut added = Added::default();
        let tx = self.conn.transaction()?;
        for run in &doc.runs {
            if !run.is_ok() {
                added.failed_skipped += 1;
                continue;
            }
            let key = SeriesKey::of(doc, run);
            let k = &key.run;
            let json = serde_json::to_string(run).expect("runs are plain data");
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO runs (series, device, model_name, model_sha256, method, threads, load_mode, input,
                     etbench_version, executorch_version, run_id, batch, started_at, source, latency_median_ns, run_json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                params![
                    key.text(),
                    k.device,
                    k.model_name,
                    k.model_sha256,
                    k.method,
                    threads_label(k.threads),
                    k.load_mode,
                    k.input,
                    key.etbench_version,
                    key.executorch_version,
                    run.id,
                    doc.provenance.created_at.to_rfc3339(),
                    run.started_at.to_rfc3339(),
                    source,
                    run.summary.as_ref().map(|s| s.latency_ns.median),
                    json,
                ],
            )?;
            if inserted == 0 {
                added.already_present += 1;
                continue;
            }
            let id = tx.last_insert_rowid();
            let mut stmt = tx.prepare_cached("INSERT INTO samples (run, iteration, latency_ns) VALUES (?1, ?2, ?3)")?;
            for (i, &ns) in run.samples.timed_ns.iter().enumerate() {
                stmt.execute(params![id, i as i64, ns as i64])?;
            }
            added.added += 1;
        }
        tx.commit().with_context(|| format!("writing {}", self.path.display()))?;
        Ok(added)
    }

    /// Every series with its runs, oldest first; series ordered by key.
    pub fn series(&self) -> anyhow::Result<Vec<Series>> {
        let mut stmt = self.conn.prepare("SELECT series, batch, run_json, source FROM runs ORDER BY series, started_at, id")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?)))?;
        let mut out: Vec<Series> = Vec::new();
        for row in rows {
            let (key, batch, json, source) = row?;
            let origin = Origin { source, host: None, ci: None };
            let run: RunResult = serde_json::from_str(&json)
                .with_context(|| format!("{}: a stored run of `{key}` is not readable by this etbench", self.path.display()))?;
            match out.last_mut() {
                Some(s) if s.key == key => {
                    s.runs.push(run);
                    s.batches.push(batch);
                    s.origins.push(origin);
                }
                _ => out.push(Series { key, runs: vec![run], batches: vec![batch], origins: vec![origin] }),
            }
        }
        if out.is_empty() {
            bail!("the history {} has no runs yet; add some with `etbench history add RESULTS.json --db {}`", self.path.display(), self.path.display());
        }
        Ok(out)
    }
}

/// The newest batch of each series against the pooled samples of the `window` batches before it.
pub fn check(series: &[Series], window: usize, opts: &Options) -> Comparison {
    let mut pairs = Vec::new();
    let mut notes = Vec::new();
    for s in series {
        let batches = s.by_batch();
        let Some((newest, earlier)) = batches.split_last() else { continue };
        if earlier.is_empty() {
            notes.push(format!("No baseline yet (one batch): {}", s.key));
            continue;
        }
        // Nights differ more than the processes within a night, so the unit of resampling is the batch: the newest
        // batch is one unit and borrows the batch-to-batch spread of the window.
        let base: Vec<Vec<&RunResult>> = earlier.iter().rev().take(window.max(1)).cloned().collect();
        let key = RunKey::of(newest[0]);
        let changes = compare::compared(newest[0]).iter().map(|&m| compare::change_units(m, &base, &[newest.clone()], opts)).collect();
        pairs.push(Pair { base: key.clone(), cand: key, differences: Vec::new(), changes });
    }
    Comparison {
        base_label: format!("pooled runs of up to {} earlier batch(es) per series", window.max(1)),
        cand_label: "the newest batch of each series".into(),
        options: *opts,
        pairs,
        only_base: Vec::new(),
        only_cand: Vec::new(),
        notes,
    }
}

/// A paired night's candidate judged by its ratio to a pinned reference artifact (the first model of its paired
/// sessions, a `.pte` kept aside): device drift between nights cancels in the ratio, so a change of the ratio is the
/// candidate's own.
#[derive(Debug, Clone)]
pub struct Normalised {
    pub candidate: String,
    pub reference: String,
    pub setting: String,
    /// Median per-round ratio of the window's nights and of the newest night.
    pub baseline_ratio: f64,
    pub newest_ratio: f64,
    /// newest / baseline with its interval.
    pub change: Option<super::bootstrap::RatioCi>,
    pub verdict: Option<super::bootstrap::Verdict>,
    pub note: Option<String>,
}

/// One batch (one nightly `etbench run --paired`) of a candidate against its pinned reference: the per-round ratios
/// of each of its sessions.
#[derive(Debug, Clone)]
struct PairedBatch {
    /// The (UTC) night its sessions started in.
    night: chrono::NaiveDate,
    sessions: Vec<Vec<f64>>,
}

/// (candidate, reference, setting) → its paired batches, oldest first.
type PairedNights = std::collections::BTreeMap<(String, String, String), Vec<PairedBatch>>;

/// Per-round ratios of every paired night, keyed by (candidate, reference, setting), oldest batch first.
fn paired_nights(series: &[Series]) -> PairedNights {
    use std::collections::BTreeMap;
    // batch → session → its rows (one per model, or one per model and pair of processes)
    let mut sessions: BTreeMap<(String, String), Vec<&RunResult>> = BTreeMap::new();
    for s in series {
        for (run, batch) in s.runs.iter().zip(&s.batches) {
            if let Some(p) = &run.pairing {
                sessions.entry((batch.clone(), p.session.clone())).or_default().push(run);
            }
        }
    }
    let mut out: BTreeMap<(String, String, String), BTreeMap<String, PairedBatch>> = BTreeMap::new();
    for ((batch, _), rows) in &sessions {
        let Some(reference) = rows.iter().find(|r| r.pairing.as_ref().is_some_and(|p| p.position == 0)) else { continue };
        let positions: std::collections::BTreeSet<u32> = rows.iter().filter_map(|r| r.pairing.as_ref().map(|p| p.position)).filter(|&p| p > 0).collect();
        for position in positions {
            let ratios = super::paired::session_ratios(rows, position);
            let Some(cand) = rows.iter().find(|r| r.pairing.as_ref().is_some_and(|p| p.position == position)) else { continue };
            if ratios.is_empty() {
                continue;
            }
            let spec = &cand.params.spec;
            let setting = format!("{}, {}, {}", cand.device.name, crate::export::metric::threads_phrase(spec.threads), spec.load_mode);
            let key = (cand.model.name.clone(), reference.model.name.clone(), setting);
            let night = reference.started_at.date_naive();
            let entry = out.entry(key).or_default().entry(batch.clone()).or_insert_with(|| PairedBatch { night, sessions: Vec::new() });
            entry.night = entry.night.min(night);
            entry.sessions.push(ratios);
        }
    }
    out.into_iter().map(|(k, batches)| (k, batches.into_values().collect())).collect()
}

/// A night of a reference-normalised series: the median per-round ratio candidate / pinned reference, with its
/// bootstrap interval (resampling that night's sessions, then rounds; equal to the ratio when too few rounds).
#[derive(Debug, Clone, PartialEq)]
pub struct NormalisedNight {
    pub night: chrono::NaiveDate,
    pub ratio: f64,
    pub lower: f64,
    pub upper: f64,
    pub pairs: usize,
}

/// The reference-normalised series of one candidate, one point per night (batches of a night pooled).
#[derive(Debug, Clone)]
pub struct NormalisedSeries {
    pub candidate: String,
    pub reference: String,
    pub setting: String,
    pub nights: Vec<NormalisedNight>,
}

/// Every paired candidate's series of nightly ratios to its pinned reference, what `check` judges, for charts.
pub fn normalised_series(series: &[Series], boot: &super::bootstrap::Bootstrap) -> Vec<NormalisedSeries> {
    paired_nights(series)
        .into_iter()
        .map(|((candidate, reference, setting), batches)| {
            let mut by_night: Vec<(chrono::NaiveDate, Vec<Vec<f64>>)> = Vec::new();
            for b in batches {
                match by_night.iter_mut().find(|(n, _)| *n == b.night) {
                    Some((_, sessions)) => sessions.extend(b.sessions),
                    None => by_night.push((b.night, b.sessions)),
                }
            }
            by_night.sort_by_key(|(n, _)| *n);
            let nights = by_night
                .into_iter()
                .filter_map(|(night, sessions)| {
                    let pairs = sessions.iter().map(Vec::len).sum();
                    let runs = super::bootstrap::Runs::new(sessions.iter().map(Vec::as_slice)).ok()?;
                    let (ratio, lower, upper) = boot.median(&runs).unwrap_or_else(|_| {
                        let r = super::bootstrap::median_in_place(&mut sessions.concat());
                        (r, r, r)
                    });
                    Some(NormalisedNight { night, ratio, lower, upper, pairs })
                })
                .collect();
            NormalisedSeries { candidate, reference, setting, nights }
        })
        .filter(|s| !s.nights.is_empty())
        .collect()
}

/// The newest paired night of every candidate against the `window` nights before, on the reference-normalised
/// series (per-round ratios; each night is one unit of resampling).
pub fn check_normalised(series: &[Series], window: usize, opts: &Options) -> Vec<Normalised> {
    let mut out = Vec::new();
    for ((candidate, reference, setting), nights) in paired_nights(series) {
        let pooled = |n: &[PairedBatch]| -> Vec<f64> { n.iter().flat_map(|b| b.sessions.iter().flatten().copied()).collect() };
        let median = |mut v: Vec<f64>| if v.is_empty() { f64::NAN } else { super::bootstrap::median_in_place(&mut v) };
        let Some((newest, earlier)) = nights.split_last() else { continue };
        let base_nights: Vec<PairedBatch> = earlier.iter().rev().take(window.max(1)).cloned().collect();
        let mut n = Normalised {
            candidate,
            reference,
            setting,
            baseline_ratio: median(pooled(&base_nights)),
            newest_ratio: median(pooled(std::slice::from_ref(newest))),
            change: None,
            verdict: None,
            note: None,
        };
        if base_nights.is_empty() {
            n.note = Some("no earlier paired night yet".into());
            out.push(n);
            continue;
        }
        let base_units: Vec<Vec<f64>> = base_nights.iter().map(|b| b.sessions.concat()).collect();
        let cand_units = vec![newest.sessions.concat()];
        let sides = super::bootstrap::Runs::new(base_units.iter().map(Vec::as_slice))
            .and_then(|b| Ok((b, super::bootstrap::Runs::new(cand_units.iter().map(Vec::as_slice))?)));
        match sides.and_then(|(b, c)| opts.bootstrap.ratio_of_medians(&b, &c)) {
            Ok(ci) => {
                n.verdict = Some(super::bootstrap::Verdict::of(&ci, opts.threshold, true));
                n.change = Some(ci);
            }
            Err(e) => n.note = Some(format!("not judged: {e}")),
        }
        out.push(n);
    }
    out
}

/// Markdown rows for the normalised checks (appended to `history check`).
pub fn render_normalised(checks: &[Normalised], threshold: f64) -> String {
    if checks.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n### Reference-normalised (paired nights: candidate / pinned reference, per round or per pair of processes)\n\n| candidate | pinned reference | setting | window ratio | newest ratio | change | interval | verdict |\n|---|---|---|---|---|---|---|---|\n",
    );
    for c in checks {
        let (change, interval) = match &c.change {
            Some(ci) => (format!("{:+.1}%", (ci.ratio - 1.0) * 100.0), format!("{:+.1}% … {:+.1}%", (ci.lower - 1.0) * 100.0, (ci.upper - 1.0) * 100.0)),
            None => ("–".into(), "–".into()),
        };
        let verdict = c
            .verdict
            .zip(c.change.as_ref())
            .map(|(v, ci)| v.words(ci, threshold, super::bootstrap::Direction::Time, "more nights or more rounds per night would settle it"))
            .or_else(|| c.note.clone())
            .unwrap_or_default();
        let ratio = |r: f64| if r.is_finite() { format!("{r:.4}") } else { "–".into() };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {change} | {interval} | {verdict} |\n",
            c.candidate,
            c.reference,
            c.setting,
            ratio(c.baseline_ratio),
            ratio(c.newest_ratio)
        ));
    }
    out.push_str("\nDesign: a paired session each night (in-process, or paired processes); drift between nights cancels in the ratio to the pinned reference.\n");
    out
}
