//! The nightly history: runs stored in a SQLite file (bundled, no system library; the default) or in a PostgreSQL
//! database many hosts share (`--db postgres://…`), one series per device (profile name and identity: serial or
//! probed model) × host × model hash × settings × etbench/ExecuTorch version, each run with its raw samples, its
//! host and its CI provenance. `check` compares the newest batch (one `etbench run`, with its repeats) of each
//! series against the pooled samples of a sliding window of earlier batches, with the same noise-aware verdicts as
//! `etbench compare`.
//!
//! Tables: `runs` (one row per run: the key columns, a few headline numbers for SQL, and the whole run as JSON) and
//! `samples` (one row per timed iteration), plus `meta` holding the history format version; see [`store`].

use anyhow::{bail, Context};

use crate::analysis::compare::{self, Comparison, Options, Pair};
use crate::results::metric::{short_sha, threads_label, RunIdentity};
use crate::results::{Document, RunResult};

pub use crate::store;

pub use store::{redact, Location, FORMAT};

pub const DEFAULT_DB: &str = "etbench-history.sqlite";
/// The environment variable naming the history when `--db` is not given (a path or a `postgres://` URL).
pub const DB_ENV: &str = "ETBENCH_HISTORY_URL";

/// The series a run belongs to: its [`RunIdentity`], the device's identity and the host that ran it, plus the etbench
/// and ExecuTorch versions. Two hosts with a profile of the same name never share a series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeriesKey {
    pub run: RunIdentity,
    /// `serial X` or `model Y` (see [`device_identity`]).
    pub device_id: String,
    /// The host etbench ran on (`?` when unknown: runs stored before history format 2 from remote devices).
    pub host: String,
    pub etbench_version: String,
    pub executorch_version: String,
}

/// What tells one device from another beyond its profile name: the serial when the device reports one
/// (`ro.serialno`), else its model (`ro.product.model`, the probed CPU model, or the host CPU for local runs).
pub fn device_identity(run: &RunResult) -> String {
    let d = &run.device;
    let probed = d.probed.as_ref();
    let prop = |k: &str| probed.and_then(|p| p.android.get(k)).filter(|v| !v.is_empty()).cloned();
    if let Some(serial) = prop("ro.serialno").or_else(|| prop("ro.boot.serialno")) {
        return format!("serial {serial}");
    }
    let model = prop("ro.product.model")
        .or_else(|| probed.and_then(|p| p.cpu_model.clone()))
        .or_else(|| d.info.cpu_brand.clone())
        .unwrap_or_else(|| d.info.arch.clone());
    match (&d.info.hostname, d.transport.as_str()) {
        (Some(h), t) if t != "local" && !h.is_empty() => format!("model {model} @ {h}"),
        _ => format!("model {model}"),
    }
}

impl SeriesKey {
    pub fn of(doc: &Document, run: &RunResult) -> Self {
        let host = doc.provenance.host.hostname.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| "?".into());
        Self::stored(run, &doc.provenance.etbench_version, host)
    }

    /// The key of a run stored with its etbench version and host.
    fn stored(run: &RunResult, etbench_version: &str, host: String) -> Self {
        Self {
            run: RunIdentity::of(run),
            device_id: device_identity(run),
            host,
            etbench_version: etbench_version.to_owned(),
            executorch_version: run.runner.as_ref().map(|r| r.executorch_version.clone()).unwrap_or_else(|| "?".into()),
        }
    }

    /// The series as people read it; the settings a plain run lacks (CPU mask, memory limit, energy sampling) are
    /// named only when set, so every night stored before they were part of the key keeps its series.
    pub fn text(&self) -> String {
        let k = &self.run;
        let extras: String = k.extras().iter().map(|e| format!(" | {e}")).collect();
        format!(
            "{} ({}) on {} | {} {} | {} | t{} | {} | input {}{extras} | etbench {} | ExecuTorch {}",
            k.device,
            self.device_id,
            self.host,
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

    /// A stable digest of the series: the run's identity plus device identity, host and versions (16 hex digits),
    /// stored beside the text so SQL and dashboards can key on it.
    pub fn digest(&self) -> String {
        let run = self.run.digest();
        crate::results::identity::short_digest([
            run.as_str(),
            &self.device_id,
            &self.host,
            &self.etbench_version,
            &self.executorch_version,
        ])
    }

    /// The identity columns of a stored row.
    fn columns(&self) -> store::Rekeyed {
        store::Rekeyed {
            series: self.text(),
            device_id: self.device_id.clone(),
            host: self.host.clone(),
            identity: self.digest(),
            cpu_affinity: self.run.cpu_affinity.clone().unwrap_or_default(),
            memory_limit_bytes: self.run.memory_limit_bytes.map(|b| b as i64),
        }
    }
}

/// An older row's identity columns as this etbench computes them: its run re-keyed with the host stored beside it
/// (format 2 on), else the host known from the run itself (a local run's device is its host; a remote device's host
/// was not stored before format 2).
fn rekey(run_json: &str, etbench_version: &str, stored_host: Option<&str>) -> anyhow::Result<store::Rekeyed> {
    let run: RunResult = serde_json::from_str(run_json).context("a stored run is not readable by this etbench")?;
    let host = match (stored_host, &run.device.info.hostname, run.device.transport.as_str()) {
        (Some(h), _, _) if !h.is_empty() => h.to_owned(),
        (_, Some(h), "local") if !h.is_empty() => h.clone(),
        _ => "?".to_owned(),
    };
    Ok(SeriesKey::stored(&run, etbench_version, host).columns())
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

/// Where a stored run came from: the results file it was added from, the host that ran it, the device's identity,
/// and the CI job (commit, run link, runner) when a CI job made it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Origin {
    pub source: String,
    pub host: Option<String>,
    pub ci: Option<crate::results::CiProvenance>,
    /// `serial X` or `model Y` ([`device_identity`]).
    pub device_id: Option<String>,
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
    store: store::Store,
}

impl History {
    /// Opens (creating if needed) a history for writing: a SQLite path or a [`Location`].
    pub fn create(db: impl Into<Location>) -> anyhow::Result<Self> {
        Ok(Self { store: store::Store::open(&db.into(), true, &rekey)? })
    }

    /// Opens an existing history for reading (an older format is migrated forward first).
    pub fn open(db: impl Into<Location>) -> anyhow::Result<Self> {
        Ok(Self { store: store::Store::open(&db.into(), false, &rekey)? })
    }

    /// Opens from the text of `--db` (a path or a `postgres://` URL).
    pub fn open_str(db: &str) -> anyhow::Result<Self> {
        Self::open(Location::parse(db)?)
    }

    /// Where it is; its `Display` shows a URL without its password.
    pub fn location(&self) -> &Location {
        self.store.location()
    }

    /// The rows of every successful run of `doc`.
    fn rows(doc: &Document, source: &str) -> (Vec<store::Row>, usize) {
        let ci_json = doc.provenance.ci.as_ref().map(|ci| serde_json::to_string(ci).expect("plain data"));
        let mut failed = 0;
        let rows = doc
            .runs
            .iter()
            .filter(|run| {
                failed += usize::from(!run.is_ok());
                run.is_ok()
            })
            .map(|run| {
                let key = SeriesKey::of(doc, run);
                let k = &key.run;
                let columns = key.columns();
                store::Row {
                    series: columns.series,
                    device: k.device.clone(),
                    device_id: columns.device_id,
                    host: columns.host,
                    identity: columns.identity,
                    cpu_affinity: columns.cpu_affinity,
                    memory_limit_bytes: columns.memory_limit_bytes,
                    model_name: k.model_name.clone(),
                    model_sha256: k.model_sha256.clone(),
                    method: k.method.clone(),
                    threads: threads_label(k.threads),
                    load_mode: k.load_mode.clone(),
                    input: k.input.clone(),
                    etbench_version: key.etbench_version.clone(),
                    executorch_version: key.executorch_version.clone(),
                    run_id: run.id.clone(),
                    batch: doc.provenance.created_at.to_rfc3339(),
                    started_at: run.started_at.to_rfc3339(),
                    source: source.to_owned(),
                    latency_median_ns: run.summary.as_ref().map(|s| s.latency_ns.median),
                    run_json: serde_json::to_string(run).expect("runs are plain data"),
                    ci_json: ci_json.clone(),
                    samples: run.samples.timed_ns.iter().map(|&ns| ns as i64).collect(),
                }
            })
            .collect();
        (rows, failed)
    }

    /// Stores every successful run of `doc` with its samples, in one transaction (all or nothing, also when killed);
    /// runs already present are skipped.
    pub fn add(&mut self, doc: &Document, source: &str) -> anyhow::Result<Added> {
        let (rows, failed_skipped) = Self::rows(doc, source);
        let (added, already_present) = self.store.insert(&rows)?;
        Ok(Added { added, already_present, failed_skipped })
    }

    /// Copies every run of `from` into this history, in one transaction; runs already present are skipped.
    pub fn copy_from(&mut self, from: &History) -> anyhow::Result<Added> {
        let mut rows = from.store.rows()?;
        for row in &mut rows {
            let run: RunResult = serde_json::from_str(&row.run_json).with_context(|| {
                format!("{}: a stored run of `{}` is not readable by this etbench", from.location(), row.series)
            })?;
            row.samples = run.samples.timed_ns.iter().map(|&ns| ns as i64).collect();
        }
        let (added, already_present) = self.store.insert(&rows)?;
        Ok(Added { added, already_present, failed_skipped: 0 })
    }

    /// Every series with its runs, oldest first; series ordered by key.
    pub fn series(&self) -> anyhow::Result<Vec<Series>> {
        let location = self.location().clone();
        let mut out: Vec<Series> = Vec::new();
        for row in self.store.stored()? {
            let key = row.series;
            let run: RunResult = serde_json::from_str(&row.run_json)
                .with_context(|| format!("{location}: a stored run of `{key}` is not readable by this etbench"))?;
            let ci = row.ci_json.as_deref().and_then(|j| serde_json::from_str(j).ok());
            let known = |s: String| Some(s).filter(|s| !s.is_empty() && s != "?");
            let origin = Origin { source: row.source, host: known(row.host), ci, device_id: known(row.device_id) };
            match out.last_mut() {
                Some(s) if s.key == key => {
                    s.runs.push(run);
                    s.batches.push(row.batch);
                    s.origins.push(origin);
                }
                _ => out.push(Series { key, runs: vec![run], batches: vec![row.batch], origins: vec![origin] }),
            }
        }
        if out.is_empty() {
            let shown = location.to_string();
            bail!("the history {shown} has no runs yet; add some with `etbench history add RESULTS.json --db {shown}`");
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
        let key = RunIdentity::of(newest[0]);
        let changes = compare::compared(newest[0])
            .iter()
            .map(|&m| compare::change_units(m, &base, std::slice::from_ref(newest), opts))
            .collect();
        pairs.push(Pair { base: key.clone(), cand: key, differences: Vec::new(), changes });
    }
    Comparison {
        base_label: format!(
            "pooled runs of up to {} per series",
            crate::units::plural(window.max(1), "earlier batch", "earlier batches")
        ),
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
        let Some(reference) = rows.iter().find(|r| r.pairing.as_ref().is_some_and(|p| p.position == 0)) else {
            continue;
        };
        let positions: std::collections::BTreeSet<u32> =
            rows.iter().filter_map(|r| r.pairing.as_ref().map(|p| p.position)).filter(|&p| p > 0).collect();
        for position in positions {
            let ratios = super::paired::session_ratios(rows, position);
            let Some(cand) = rows.iter().find(|r| r.pairing.as_ref().is_some_and(|p| p.position == position)) else {
                continue;
            };
            if ratios.is_empty() {
                continue;
            }
            let spec = &cand.params.spec;
            let setting = format!(
                "{}, {}, {}",
                cand.device.name,
                crate::results::metric::threads_phrase(spec.threads),
                spec.load_mode
            );
            let key = (cand.model.name.clone(), reference.model.name.clone(), setting);
            let night = reference.started_at.date_naive();
            let entry = out
                .entry(key)
                .or_default()
                .entry(batch.clone())
                .or_insert_with(|| PairedBatch { night, sessions: Vec::new() });
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
        let pooled =
            |n: &[PairedBatch]| -> Vec<f64> { n.iter().flat_map(|b| b.sessions.iter().flatten().copied()).collect() };
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
        let cand_units = [newest.sessions.concat()];
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
