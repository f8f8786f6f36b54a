//! `etbench history site`: a static dashboard of the nightly history that needs no server (in `analysis`, beside the
//! history and the checks it reads; `export` supplies the metrics and the file writer). The Rust side turns the
//! history's series into one data file (`data.js`, assigning a global so the page also works from `file://`, where
//! browsers block `fetch()` of local JSON); the page (`site/index.html`, `dashboard.js`, `dashboard.css`) and the
//! vendored chart library (uPlot, MIT, re-fetched by `scripts/vendor-uplot.sh`) are copied beside it unchanged.
//!
//! Every number comes from the definitions the reports use: a night's value and interval are
//! [`Metric::estimate`] over that night's runs, the paired ratios are [`history::normalised_series`], and the
//! regressions are what [`history::check`] and [`history::check_normalised`] call regressed, with their
//! [`Verdict::label`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use chrono::NaiveDate;
use serde::Serialize;

use crate::analysis::bootstrap::{Bootstrap, RatioCi, Verdict};
use crate::analysis::compare::Options;
use crate::analysis::history::{self, Origin, Series};
use crate::export::store::OutputDir;
use crate::results::metric::{threads_label, Metric, RunIdentity};
use crate::results::RunResult;

/// The files of the page, written as they are.
const PAGE: [(&str, &str); 6] = [
    ("index.html", include_str!("site/index.html")),
    ("dashboard.js", include_str!("site/dashboard.js")),
    ("dashboard.css", include_str!("site/dashboard.css")),
    ("uPlot.iife.min.js", include_str!("site/vendor/uPlot.iife.min.js")),
    ("uPlot.min.css", include_str!("site/vendor/uPlot.min.css")),
    ("uPlot-LICENSE", include_str!("site/vendor/uPlot-LICENSE")),
];

/// Metrics the dashboard draws, in filter order. Generation metrics appear only for nights of LLM generation runs.
pub const METRICS: [Metric; 5] =
    [Metric::Latency, Metric::PrefillTokensPerS, Metric::DecodeTokensPerS, Metric::TimeToFirstToken, Metric::PeakRss];

/// Everything the page shows; serialised into `data.js`.
#[derive(Debug, Serialize)]
pub struct Data {
    pub generated_at: String,
    /// Where the history came from (as `--db` names it, never with a password).
    pub source: String,
    pub metrics: Vec<MetricInfo>,
    /// Tooltip records of nights, shared by every series and metric that points at them.
    pub infos: Vec<NightInfo>,
    pub series: Vec<SiteSeries>,
    pub normalised: Vec<SiteNormalised>,
    pub regressions: Vec<Regression>,
    /// Series `history check` could judge (two batches or more), and the rule it used.
    pub checked: usize,
    pub rule: String,
}

#[derive(Debug, Serialize)]
pub struct MetricInfo {
    pub slug: &'static str,
    pub label: &'static str,
    pub unit: &'static str,
    pub smaller_is_better: bool,
}

/// What a point's tooltip says about its night: where it ran and under which conditions.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, Hash)]
pub struct NightInfo {
    pub runs: usize,
    pub etbench: String,
    pub executorch: String,
    pub commit: Option<String>,
    pub commit_url: Option<String>,
    pub run_url: Option<String>,
    pub runner_name: Option<String>,
    pub host: Option<String>,
    /// The night's condition warnings, each once.
    pub warnings: Vec<String>,
}

/// One history series (device × model × settings × versions): its nights and, per metric, one value with its
/// interval per night (`None` where a night does not carry the metric).
#[derive(Debug, Serialize)]
pub struct SiteSeries {
    pub key: String,
    pub device: String,
    pub model: String,
    /// What tells this series apart from others of the same device and model.
    pub variant: String,
    /// Unix seconds of each night (00:00 UTC), oldest first.
    pub nights: Vec<i64>,
    /// Index into [`Data::infos`] per night.
    pub info: Vec<usize>,
    pub metrics: BTreeMap<&'static str, Line>,
}

/// Values in the metric's display unit, parallel to the nights.
#[derive(Debug, Default, Serialize)]
pub struct Line {
    /// What the interval is (`p10–p90`, `95% CI`, `min–max`).
    pub spread: &'static str,
    /// The metric's name for this series when it differs from [`Metric::label`]: a generation run's latency
    /// samples are its decode times per token (as `compare` names them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<&'static str>,
    pub v: Vec<Option<f64>>,
    pub lo: Vec<Option<f64>>,
    pub hi: Vec<Option<f64>>,
}

/// A paired candidate's nightly latency ratio to its pinned reference.
#[derive(Debug, Serialize)]
pub struct SiteNormalised {
    pub candidate: String,
    pub reference: String,
    pub setting: String,
    pub device: String,
    pub nights: Vec<i64>,
    pub v: Vec<f64>,
    pub lo: Vec<f64>,
    pub hi: Vec<f64>,
    pub pairs: Vec<usize>,
}

/// A regression `history check` finds, with the links of the newest batch it judged.
#[derive(Debug, Serialize)]
pub struct Regression {
    pub device: String,
    pub model: String,
    pub series: String,
    pub metric: String,
    pub change: String,
    pub interval: String,
    pub verdict: String,
    pub night: String,
    pub commit: Option<String>,
    pub commit_url: Option<String>,
    pub run_url: Option<String>,
}

/// Builds the dashboard's data from the history's series; `window` and `opts` are `history check`'s.
pub fn build(series: &[Series], source: &str, window: usize, opts: &Options) -> Data {
    let mut infos = Infos::default();
    let out_series = series.iter().map(|s| site_series(s, &mut infos)).collect();
    let devices: BTreeSet<&str> = series.iter().flat_map(|s| s.runs.iter().map(|r| r.device.name.as_str())).collect();
    let normalised = history::normalised_series(series, &opts.bootstrap)
        .into_iter()
        .map(|n| SiteNormalised {
            device: device_of_setting(&n.setting, &devices),
            nights: n.nights.iter().map(|x| unix(x.night)).collect(),
            v: n.nights.iter().map(|x| x.ratio).collect(),
            lo: n.nights.iter().map(|x| x.lower).collect(),
            hi: n.nights.iter().map(|x| x.upper).collect(),
            pairs: n.nights.iter().map(|x| x.pairs).collect(),
            candidate: n.candidate,
            reference: n.reference,
            setting: n.setting,
        })
        .collect();
    let (regressions, checked) = regressions(series, &devices, window, opts);
    Data {
        generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        source: source.to_owned(),
        metrics: METRICS
            .iter()
            .map(|&m| MetricInfo { slug: m.slug(), label: m.label(), unit: m.display_unit().0, smaller_is_better: m.smaller_is_better() })
            .collect(),
        infos: infos.list,
        series: out_series,
        normalised,
        regressions,
        checked,
        rule: format!(
            "newest batch of each series against the pooled runs of up to {}; a change is called only when its whole {:.0}% interval clears ±{:.1}%",
            crate::units::plural(window.max(1), "earlier batch", "earlier batches"),
            opts.bootstrap.level * 100.0,
            opts.threshold * 100.0
        ),
    }
}

/// `data.js`: the data as one global, so the page reads it with a plain `<script>` (works from `file://`).
pub fn data_js(data: &Data) -> String {
    format!("window.ETBENCH_DATA = {};\n", serde_json::to_string(data).expect("the site data is plain data"))
}

/// Writes the page, its data and the chart library into `out` (created if needed); returns `index.html`'s path.
/// `out` must be a directory: an existing file is refused before anything is written.
pub fn write(out: &Path, data: &Data) -> anyhow::Result<PathBuf> {
    check_out(out)?;
    let dir = OutputDir::prepare(out)?;
    for (name, text) in PAGE {
        dir.write(name, text.as_bytes())?;
    }
    // The data goes last: a page is never left pointing at data of another shape.
    dir.write("data.js", data_js(data).as_bytes())
        .with_context(|| format!("writing the site into {}", out.display()))?;
    Ok(dir.path().join("index.html"))
}

/// Refuses an `--out` that exists and is not a directory (checked before the history is read, and again before
/// writing).
pub fn check_out(out: &Path) -> anyhow::Result<()> {
    if out.exists() && !out.is_dir() {
        bail!(
            "--out {} is an existing file, not a directory; pass a directory for the site (it is created if missing)",
            out.display()
        );
    }
    Ok(())
}

/// How the page names the history: `--db` as given, without the password of a URL (`postgres://user:pw@host/db`
/// → `postgres://user@host/db`) and without its query string (`?password=…`). Paths pass unchanged.
pub fn source_label(db: &str) -> String {
    let Some((scheme, rest)) = db.split_once("://") else { return db.to_owned() };
    // The last `@` ends the user info even when a (badly encoded) password holds `/`, `?` or `@`.
    let (user, host_path) = match rest.rsplit_once('@') {
        Some((user_info, host_path)) => (format!("{}@", user_info.split(':').next().unwrap_or_default()), host_path),
        None => (String::new(), rest),
    };
    let host_path = host_path.split(['?', '#']).next().unwrap_or_default();
    format!("{scheme}://{user}{host_path}")
}

#[derive(Default)]
struct Infos {
    list: Vec<NightInfo>,
    index: HashMap<NightInfo, usize>,
}

impl Infos {
    fn intern(&mut self, info: NightInfo) -> usize {
        if let Some(&i) = self.index.get(&info) {
            return i;
        }
        self.list.push(info.clone());
        self.index.insert(info, self.list.len() - 1);
        self.list.len() - 1
    }
}

fn unix(night: NaiveDate) -> i64 {
    night.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp()
}

/// Indices of the series' runs grouped by the (UTC) night they started in, oldest night first (as the history
/// report's trends group them).
fn nights(s: &Series) -> Vec<(NaiveDate, Vec<usize>)> {
    let mut out: BTreeMap<NaiveDate, Vec<usize>> = BTreeMap::new();
    for (i, run) in s.runs.iter().enumerate() {
        out.entry(run.started_at.date_naive()).or_default().push(i);
    }
    out.into_iter().collect()
}

fn site_series(s: &Series, infos: &mut Infos) -> SiteSeries {
    let first = &s.runs[0];
    let key = RunIdentity::of(first);
    let mut out = SiteSeries {
        key: s.key.clone(),
        device: key.device.clone(),
        model: key.model_name.clone(),
        variant: variant(&key, first),
        nights: Vec::new(),
        info: Vec::new(),
        metrics: BTreeMap::new(),
    };
    let nights = nights(s);
    for (n, (night, idx)) in nights.iter().enumerate() {
        let runs: Vec<&RunResult> = idx.iter().map(|&i| &s.runs[i]).collect();
        out.nights.push(unix(*night));
        out.info.push(infos.intern(night_info(&runs, &s.origins[*idx.last().expect("a night has runs")])));
        let llm = runs.iter().any(|r| r.llm.is_some());
        for m in METRICS {
            let generation =
                matches!(m, Metric::PrefillTokensPerS | Metric::DecodeTokensPerS | Metric::TimeToFirstToken);
            let Some(e) = (!generation || llm).then(|| m.estimate(&runs)).flatten() else { continue };
            let f = m.display_unit().1;
            let line = out.metrics.entry(m.slug()).or_insert_with(|| Line {
                spread: e.spread.label(),
                label: (metric_label(m, llm) != m.label()).then_some(metric_label(m, llm)),
                v: vec![None; nights.len()],
                lo: vec![None; nights.len()],
                hi: vec![None; nights.len()],
            });
            line.v[n] = Some(round(e.value * f));
            line.lo[n] = Some(round(e.lower * f));
            line.hi[n] = Some(round(e.upper * f));
        }
    }
    out
}

/// A metric's name for a series: a generation run's latency samples are its decode times per token (as `compare`
/// names them).
fn metric_label(m: Metric, generation: bool) -> &'static str {
    if m == Metric::Latency && generation {
        "decode time per token (median)"
    } else {
        m.label()
    }
}

/// Five significant digits: plenty for a chart and a tooltip, and a much smaller data file.
fn round(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(4 - v.abs().log10().floor() as i32);
    (v * scale).round() / scale
}

/// What tells a series apart from the others of its device and model: the rest of its key.
fn variant(key: &RunIdentity, run: &RunResult) -> String {
    let et = run.runner.as_ref().map(|r| r.executorch_version.as_str()).unwrap_or("?");
    format!(
        "{} · t{} · {} · input {} · ExecuTorch {et}",
        key.method,
        threads_label(key.threads),
        key.load_mode,
        key.input
    )
}

/// The tooltip record of a night: versions from its runs, commit and links from where its newest run came from,
/// and every condition warning of its runs once.
fn night_info(runs: &[&RunResult], origin: &Origin) -> NightInfo {
    let newest = runs.last().expect("a night has runs");
    let mut warnings: Vec<String> = Vec::new();
    for w in runs.iter().flat_map(|r| &r.warnings).map(|w| w.to_string()) {
        if !warnings.contains(&w) {
            warnings.push(w);
        }
    }
    let ci = origin.ci.as_ref();
    NightInfo {
        runs: runs.len(),
        etbench: newest.runner.as_ref().map(|r| r.runner_version.clone()).unwrap_or_else(|| "?".into()),
        executorch: newest.runner.as_ref().map(|r| r.executorch_version.clone()).unwrap_or_else(|| "?".into()),
        commit: ci.and_then(|c| c.commit.clone()),
        commit_url: ci.and_then(|c| c.commit_url.clone()).filter(|u| is_web_link(u)),
        run_url: ci.and_then(|c| c.run_url.clone()).filter(|u| is_web_link(u)),
        runner_name: ci.and_then(|c| c.runner_name.clone()),
        host: origin.host.clone(),
        warnings,
    }
}

/// Only http(s) links become `href`s on the page (never `javascript:` or `file:` from a stored document).
fn is_web_link(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

/// The device a paired setting (`device, N threads, load mode`) names: the longest known device name it starts with.
fn device_of_setting(setting: &str, devices: &BTreeSet<&str>) -> String {
    devices
        .iter()
        .filter(|d| setting.strip_prefix(**d).is_some_and(|rest| rest.starts_with(", ")))
        .max_by_key(|d| d.len())
        .map(|d| d.to_string())
        .unwrap_or_else(|| setting.split(", ").next().unwrap_or_default().to_owned())
}

fn pct(r: f64) -> String {
    format!("{:+.1}%", (r - 1.0) * 100.0)
}

fn interval(ci: &RatioCi) -> String {
    format!("{} … {}", pct(ci.lower), pct(ci.upper))
}

/// What `history check` calls regressed, per series (so each regression knows its series' newest batch and its
/// links), then on the reference-normalised series; and how many series could be judged.
fn regressions(series: &[Series], devices: &BTreeSet<&str>, window: usize, opts: &Options) -> (Vec<Regression>, usize) {
    let mut out = Vec::new();
    let mut checked = 0;
    for s in series {
        let c = history::check(std::slice::from_ref(s), window, opts);
        checked += c.pairs.len();
        let origin = s.origins.last().cloned().unwrap_or_default();
        let newest = s.runs.last().expect("a series has runs");
        for change in c.pairs.iter().flat_map(|p| &p.changes).filter(|c| c.verdict == Some(Verdict::Regressed)) {
            let Some(ci) = &change.ci else { continue };
            let metric = metric_label(change.metric, newest.llm.is_some()).to_owned();
            let words = Verdict::Regressed.words(ci, opts.threshold, change.metric.direction(), "");
            out.push(regression(
                RunIdentity::of(newest).device,
                newest.model.name.clone(),
                s.key.clone(),
                metric,
                ci,
                words,
                newest,
                &origin,
            ));
        }
    }
    for n in history::check_normalised(series, window, opts) {
        let (Some(Verdict::Regressed), Some(ci)) = (n.verdict, &n.change) else { continue };
        let device = device_of_setting(&n.setting, devices);
        // The candidate's newest paired run is where the regression was seen.
        let newest = series
            .iter()
            .flat_map(|s| s.runs.iter().zip(&s.origins))
            .filter(|(r, _)| r.pairing.is_some() && r.model.name == n.candidate && r.device.name == device)
            .max_by_key(|(r, _)| r.started_at);
        let Some((run, origin)) = newest else { continue };
        let series_label = format!("{} ÷ {} ({})", n.candidate, n.reference, n.setting);
        let words = Verdict::Regressed.words(ci, opts.threshold, crate::analysis::bootstrap::Direction::Time, "");
        out.push(regression(
            device,
            n.candidate.clone(),
            series_label,
            "latency ÷ pinned reference (paired)".into(),
            ci,
            words,
            run,
            origin,
        ));
    }
    (out, checked)
}

/// One entry of the regressions list; `verdict` is the words every printer uses ([`Verdict::words`]).
#[allow(clippy::too_many_arguments)]
fn regression(
    device: String,
    model: String,
    series: String,
    metric: String,
    ci: &RatioCi,
    verdict: String,
    newest: &RunResult,
    origin: &Origin,
) -> Regression {
    let ci_info = origin.ci.as_ref();
    Regression {
        device,
        model,
        series,
        metric,
        change: pct(ci.ratio),
        interval: interval(ci),
        verdict,
        night: newest.started_at.date_naive().to_string(),
        commit: ci_info.and_then(|c| c.commit.clone()),
        commit_url: ci_info.and_then(|c| c.commit_url.clone()).filter(|u| is_web_link(u)),
        run_url: ci_info.and_then(|c| c.run_url.clone()).filter(|u| is_web_link(u)),
    }
}

/// Default resampling for the site's intervals and checks (the same as `history check`'s).
pub fn default_options(threshold_pct: f64) -> Options {
    Options { threshold: threshold_pct / 100.0, bootstrap: Bootstrap::default(), force: false }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_keeps_five_significant_digits() {
        assert_eq!(round(123.456789), 123.46);
        assert_eq!(round(0.000123456), 0.00012346);
        assert_eq!(round(0.0), 0.0);
    }

    #[test]
    fn a_setting_names_the_longest_device_it_starts_with() {
        let devices: BTreeSet<&str> = ["pixel", "pixel, 8"].into_iter().collect();
        assert_eq!(device_of_setting("pixel, 8, 2 threads, mmap", &devices), "pixel, 8");
        assert_eq!(device_of_setting("pixel, 2 threads, mmap", &devices), "pixel");
    }

    #[test]
    fn the_source_never_shows_a_password() {
        assert_eq!(
            source_label("postgres://etbench:s3cr%40t@db.lab:5432/history"),
            "postgres://etbench@db.lab:5432/history"
        );
        assert_eq!(source_label("postgresql://u@h/db?password=s3cret&sslmode=require"), "postgresql://u@h/db");
        assert_eq!(source_label("postgres://h/db"), "postgres://h/db");
        assert_eq!(source_label("postgres://u:pa/ss?@h/db"), "postgres://u@h/db");
        assert_eq!(source_label("/var/lib/etbench/history.sqlite"), "/var/lib/etbench/history.sqlite");
    }

    #[test]
    fn only_web_links_become_links() {
        assert!(is_web_link("https://github.com/o/r/actions/runs/1"));
        assert!(!is_web_link("javascript:alert(1)"));
        assert!(!is_web_link("file:///etc/passwd"));
    }

    #[test]
    fn data_js_assigns_one_global() {
        let data = Data {
            generated_at: "t".into(),
            source: "h.sqlite".into(),
            metrics: Vec::new(),
            infos: Vec::new(),
            series: Vec::new(),
            normalised: Vec::new(),
            regressions: Vec::new(),
            checked: 0,
            rule: String::new(),
        };
        let js = data_js(&data);
        assert!(js.starts_with("window.ETBENCH_DATA = {") && js.ends_with("};\n"), "{js}");
    }
}
