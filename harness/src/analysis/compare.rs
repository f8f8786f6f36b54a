//! `etbench compare`: pairs the runs of two result sets that measured the same thing, and calls each metric improved,
//! regressed or unchanged from a bootstrap interval of the ratio of medians of the raw samples ([`bootstrap`]).
//!
//! Runs pair by [`RunIdentity`] (device × model sha256 × method × threads × CPU affinity × memory limit × load mode ×
//! input × runner × energy sampling). Paired runs must also share
//! the runner build, the ExecuTorch version and the device's hardware; anything else is refused with the list of
//! differences unless forced, and then the differences are printed with the verdicts.

use super::bootstrap::{median_in_place, Bootstrap, RatioCi, Runs, Verdict};
use crate::results::metric::{groups, Estimate, Group, Metric, RunIdentity};
use crate::results::{Document, RunResult};
use crate::units::plural;

/// Metrics a comparison judges (those with raw samples).
pub const COMPARED: [Metric; 4] = [Metric::Latency, Metric::FirstForward, Metric::Load, Metric::PeakRss];

/// The metrics judged for runs like `run`: a generation run of an LLM program has no first forward but a time to
/// first token (its latency samples are per-generation decode times per token); as many metrics either way, so the
/// family's confidence level is the same.
pub fn compared(run: &RunResult) -> [Metric; 4] {
    if run.llm.is_some() {
        [Metric::Latency, Metric::TimeToFirstToken, Metric::Load, Metric::PeakRss]
    } else {
        COMPARED
    }
}

/// Metrics with one value per run (not per iteration) need this many runs per side: a median of fewer processes,
/// with first forwards and loads spreading 2× between processes on a busy machine, gives no usable interval.
pub const MIN_RUNS_PER_RUN_METRIC: usize = 5;

/// Per-metric confidence level so that the family of [`COMPARED`] metrics keeps `level` (Bonferroni): a pair is
/// then called regressed by chance in at most 1 − `level` of A/A comparisons.
pub fn per_metric_level(level: f64) -> f64 {
    1.0 - (1.0 - level) / COMPARED.len() as f64
}

/// Defaults: 5 % noise threshold, 95 % interval from 2000 seeded resamples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Fraction: 0.05 means a change must clear ±5 % with its whole interval.
    pub threshold: f64,
    pub bootstrap: Bootstrap,
    pub force: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self { threshold: 0.05, bootstrap: Bootstrap::default(), force: false }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub field: &'static str,
    pub base: String,
    pub cand: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ≠ {}", self.field, self.base, self.cand)
    }
}

/// One metric of one pair.
#[derive(Debug, Clone)]
pub struct MetricChange {
    pub metric: Metric,
    pub base: Option<Estimate>,
    pub cand: Option<Estimate>,
    pub n_base: usize,
    pub n_cand: usize,
    pub ci: Option<RatioCi>,
    pub verdict: Option<Verdict>,
    /// Why there is no verdict.
    pub note: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Pair {
    pub base: RunIdentity,
    pub cand: RunIdentity,
    /// Empty unless forced.
    pub differences: Vec<Difference>,
    pub changes: Vec<MetricChange>,
}

#[derive(Debug, Clone)]
pub struct Comparison {
    pub base_label: String,
    pub cand_label: String,
    pub options: Options,
    pub pairs: Vec<Pair>,
    pub only_base: Vec<RunIdentity>,
    pub only_cand: Vec<RunIdentity>,
    /// Anything else the reader should know (series without a baseline, ...).
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("{base} and {cand} were not measured under the same conditions:\n{details}\nre-run both under the same conditions, or pass --force to compare anyway")]
    Mismatch { base: String, cand: String, details: String },
    #[error("nothing to compare: {0}")]
    Nothing(String),
}

/// Conditions outside the key that must match for numbers to be comparable.
fn conditions(run: &RunResult) -> [(&'static str, String); 4] {
    let r = run.runner.as_ref();
    let info = &run.device.info;
    [
        ("runner", r.map(|r| format!("{} {}", r.runner_version, r.target_triple)).unwrap_or_else(|| "?".into())),
        ("ExecuTorch version", r.map(|r| r.executorch_version.clone()).unwrap_or_else(|| "?".into())),
        (
            "device hardware",
            format!(
                "{} {} ({} cores)",
                info.cpu_brand.as_deref().unwrap_or("unknown CPU"),
                info.arch,
                info.cpu_logical_cores
            ),
        ),
        ("device host", info.hostname.clone().unwrap_or_else(|| "?".into())),
    ]
}

fn differences(base: &Group, cand: &Group) -> Vec<Difference> {
    let keys = base.key.fields().into_iter().zip(cand.key.fields());
    let conds = conditions(base.runs[0]).into_iter().zip(conditions(cand.runs[0]));
    keys.chain(conds)
        .filter(|((_, a), (_, b))| a != b)
        .map(|((field, a), (_, b))| Difference { field, base: a, cand: b })
        .collect()
}

fn units<'a>(runs: &[&'a RunResult]) -> Vec<Vec<&'a RunResult>> {
    runs.iter().map(|r| vec![*r]).collect()
}

fn flat<'a>(units: &[Vec<&'a RunResult>]) -> Vec<&'a RunResult> {
    units.iter().flatten().copied().collect()
}

/// Judges one metric from the raw samples of two sets of runs, each run (runner process) a unit of resampling.
pub fn change(metric: Metric, base: &[&RunResult], cand: &[&RunResult], opts: &Options) -> MetricChange {
    change_units(metric, &units(base), &units(cand), opts)
}

/// Judges one metric with explicit units of resampling: each unit is a set of runs whose samples are pooled (a
/// process, or a whole nightly batch when batches differ more than the processes inside them).
pub fn change_units(
    metric: Metric,
    base: &[Vec<&RunResult>],
    cand: &[Vec<&RunResult>],
    opts: &Options,
) -> MetricChange {
    let samples = |u: &[Vec<&RunResult>]| u.iter().map(|runs| metric.raw_samples(runs)).collect::<Vec<_>>();
    let (bs, cs) = (samples(base), samples(cand));
    let count = |s: &[Vec<f64>]| s.iter().map(|v| v.len()).sum();
    let mut change = MetricChange {
        metric,
        base: metric.estimate(&flat(base)),
        cand: metric.estimate(&flat(cand)),
        n_base: count(&bs),
        n_cand: count(&cs),
        ci: None,
        verdict: None,
        note: None,
    };
    // Latency and TTFT have many samples per run (iterations, generations); the rest one per run.
    let sampled = matches!(metric, Metric::Latency | Metric::TimeToFirstToken);
    let per_run = !sampled;
    if per_run && change.n_base.min(change.n_cand) < MIN_RUNS_PER_RUN_METRIC {
        let n = change.n_base.min(change.n_cand);
        change.note = Some(format!(
            "not judged: {} on a side, {MIN_RUNS_PER_RUN_METRIC} needed (--repeat {MIN_RUNS_PER_RUN_METRIC})",
            plural(n, "run", "runs")
        ));
        return change;
    }
    let boot = Bootstrap { level: per_metric_level(opts.bootstrap.level), ..opts.bootstrap };
    let sides =
        Runs::new(bs.iter().map(|v| v.as_slice())).and_then(|b| Ok((b, Runs::new(cs.iter().map(|v| v.as_slice()))?)));
    match sides.and_then(|(b, c)| boot.ratio_of_medians(&b, &c).map(|ci| (ci, b.single() && c.single()))) {
        Ok((ci, single)) if sampled => {
            let drift = process_drift(&bs).max(process_drift(&cs));
            judge_unpaired(&mut change, ci, single, drift, opts);
        }
        Ok((ci, _)) => {
            change.verdict = Some(Verdict::of(&ci, opts.threshold, metric.smaller_is_better()));
            change.ci = Some(ci);
        }
        Err(e) => change.note = Some(format!("not judged: {e}; raise --iters")),
    }
    change
}

/// Half the range of the per-process medians over their median: how far separate processes of the same thing
/// land apart on this device (0 with a single process).
pub fn process_drift(processes: &[Vec<f64>]) -> f64 {
    let medians: Vec<f64> =
        processes.iter().filter(|p| !p.is_empty()).map(|p| median_in_place(&mut p.clone())).collect();
    if medians.len() < 2 {
        return 0.0;
    }
    let center = median_in_place(&mut medians.clone());
    let (lo, hi) = medians.iter().fold((f64::INFINITY, 0f64), |(lo, hi), &m| (lo.min(m), hi.max(m)));
    (hi - lo) / 2.0 / center
}

/// An unpaired latency verdict: a change must clear the threshold *plus* the drift seen between processes, and
/// when the drift alone exceeds the threshold a "no change" is not claimed either. The drift comes from whichever
/// side has several processes (the same device); with one process on each side it is unknown and only the interval
/// is reported.
fn judge_unpaired(change: &mut MetricChange, ci: RatioCi, single: bool, drift: f64, opts: &Options) {
    let pct = drift * 100.0;
    change.ci = Some(ci);
    if single {
        change.note = Some(
            "1 process per side: drift between processes is unknown, no verdict; use --repeat 3 or more, or --paired"
                .into(),
        );
        return;
    }
    let verdict = Verdict::of(&ci, opts.threshold + drift, true);
    let called = matches!(verdict, Verdict::Improved | Verdict::Regressed);
    if !called && drift > opts.threshold {
        change.note = Some(format!("runs on this device drift ±{pct:.0}% between processes: no verdict; use --paired"));
        return;
    }
    // Unpaired, "no change" is claimed only when the whole interval is inside ±threshold: an interval that reaches
    // past it without clearing threshold + drift (+5.7% … +8.9% with ±4% drift) is a change this design cannot
    // tell from drift, so it is not denied either.
    let inside = ci.lower >= 1.0 - opts.threshold && ci.upper <= 1.0 + opts.threshold;
    if !called && !inside {
        change.note = Some(format!(
            "no verdict: the interval reaches past ±{:.0}% but does not clear it plus the ±{pct:.0}% drift between processes; use --paired",
            opts.threshold * 100.0
        ));
        return;
    }
    if drift > opts.threshold {
        change.note = Some(format!("called beyond the ±{pct:.0}% drift between processes"));
    }
    change.verdict = Some(if called { verdict } else { Verdict::NoChange });
}

/// What settles an unpaired comparison the interval cannot decide.
pub const SETTLE_UNPAIRED: &str = "more runs (--repeat) or a paired session (--paired) would settle it";

fn judge(base: &Group, cand: &Group, differences: Vec<Difference>, opts: &Options) -> Pair {
    let changes = compared(base.runs[0]).iter().map(|&m| change(m, &base.runs, &cand.runs, opts)).collect();
    Pair { base: base.key.clone(), cand: cand.key.clone(), differences, changes }
}

/// Index of the unused candidate sharing the most key fields with `base` (first wins a tie).
fn closest(base: &Group, cands: &[Group], used: &[bool]) -> Option<usize> {
    let same = |c: &Group| base.key.fields().iter().zip(c.key.fields().iter()).filter(|(a, b)| a == b).count();
    (0..cands.len()).filter(|&i| !used[i]).max_by_key(|&i| (same(&cands[i]), usize::MAX - i))
}

/// Compares two documents (repeats pooled per key).
pub fn compare(
    base: &Document,
    cand: &Document,
    labels: (&str, &str),
    opts: &Options,
) -> Result<Comparison, CompareError> {
    compare_groups(&groups([base]), &groups([cand]), labels, opts)
}

pub fn compare_groups(
    base: &[Group],
    cand: &[Group],
    labels: (&str, &str),
    opts: &Options,
) -> Result<Comparison, CompareError> {
    let (base_label, cand_label) = (labels.0.to_owned(), labels.1.to_owned());
    if base.is_empty() || cand.is_empty() {
        let empty = if base.is_empty() { &base_label } else { &cand_label };
        return Err(CompareError::Nothing(format!("{empty} has no successful runs")));
    }
    let mut used = vec![false; cand.len()];
    let mut matched: Vec<(usize, usize)> = Vec::new();
    let mut unmatched: Vec<usize> = Vec::new();
    for (i, b) in base.iter().enumerate() {
        match cand.iter().position(|c| c.key == b.key) {
            Some(j) if !used[j] => {
                used[j] = true;
                matched.push((i, j));
            }
            _ => unmatched.push(i),
        }
    }
    let mut refused: Vec<String> = Vec::new();
    let mut forced: Vec<(usize, usize)> = Vec::new();
    let mut only_base = Vec::new();
    for &i in &unmatched {
        match closest(&base[i], cand, &used) {
            Some(j) if opts.force => {
                used[j] = true;
                forced.push((i, j));
            }
            Some(j) if matched.is_empty() => refused.push(describe(&base[i], &cand[j])),
            _ => only_base.push(base[i].key.clone()),
        }
    }
    let mut pairs = Vec::new();
    for (i, j) in matched.into_iter().chain(forced) {
        let diffs = differences(&base[i], &cand[j]);
        if !diffs.is_empty() && !opts.force {
            refused.push(describe(&base[i], &cand[j]));
            continue;
        }
        pairs.push(judge(&base[i], &cand[j], diffs, opts));
    }
    if !refused.is_empty() {
        return Err(CompareError::Mismatch { base: base_label, cand: cand_label, details: refused.join("\n") });
    }
    let only_cand = cand.iter().zip(&used).filter(|(_, u)| !**u).map(|(c, _)| c.key.clone()).collect();
    Ok(Comparison { base_label, cand_label, options: *opts, pairs, only_base, only_cand, notes: Vec::new() })
}

fn describe(base: &Group, cand: &Group) -> String {
    let diffs: Vec<String> = differences(base, cand).iter().map(|d| d.to_string()).collect();
    format!("  - {} vs {}: {}", base.key, cand.key, diffs.join("; "))
}

impl Comparison {
    pub fn count(&self, verdict: Verdict) -> usize {
        self.pairs.iter().flat_map(|p| &p.changes).filter(|c| c.verdict == Some(verdict)).count()
    }

    pub fn regressed(&self) -> bool {
        self.count(Verdict::Regressed) > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(lower: f64, upper: f64, drift: f64) -> MetricChange {
        let mut change = MetricChange {
            metric: Metric::Latency,
            base: None,
            cand: None,
            n_base: 5,
            n_cand: 5,
            ci: None,
            verdict: None,
            note: None,
        };
        let ci = RatioCi { ratio: (lower + upper) / 2.0, lower, upper, level: 0.95 };
        judge_unpaired(&mut change, ci, false, drift, &Options::default());
        change
    }

    #[test]
    fn unpaired_verdicts_call_past_the_drift_deny_only_inside_the_threshold_and_refuse_between() {
        assert_eq!(judged(1.10, 1.14, 0.03).verdict, Some(Verdict::Regressed), "clears 5% + 3% drift");
        assert_eq!(judged(0.98, 1.03, 0.03).verdict, Some(Verdict::NoChange), "inside ±5%");
        // Above the threshold but within threshold + drift: neither called nor denied.
        let between = judged(1.057, 1.089, 0.04);
        assert_eq!(between.verdict, None);
        assert!(
            between.note.as_deref().unwrap().contains("does not clear it plus the ±4% drift"),
            "{:?}",
            between.note
        );
        // A wide interval straddling the threshold is not a "no change" either.
        assert_eq!(judged(0.97, 1.12, 0.02).verdict, None);
        // Drift beyond the threshold refuses whatever the interval.
        assert!(judged(0.99, 1.01, 0.08).note.as_deref().unwrap().contains("drift ±8% between processes: no verdict"));
    }
}
