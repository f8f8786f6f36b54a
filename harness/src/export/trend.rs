//! Trends over time for `etbench history report`: a table of each series' latest night against its earlier nights,
//! and one chart per metric with a line per series: one point per night (the median of that night's pooled runs,
//! with its p10–p90 interval as a whisker and band). Paired nights add the reference-normalised series that
//! `history check` judges: per candidate, its nightly latency ratio to the pinned reference with a 95 % interval,
//! around a line at 1×.

use std::collections::BTreeSet;
use std::fmt::Write;

use chrono::NaiveDate;

use super::charts::{Chart, Line, Spec, Unit};
use super::metric::{threads_phrase, Metric, RunIdentity};
use crate::results::RunResult;
use crate::units;

/// Lines per chart; more would make the legend unreadable.
pub const MAX_LINES: usize = 8;

/// Metrics drawn as trends.
/// Energy series appear only where runs were measured with `--energy`.
pub const TRENDS: [Metric; 6] = [
    Metric::Latency,
    Metric::FirstForward,
    Metric::Load,
    Metric::PeakRss,
    Metric::EnergyPerForward,
    Metric::EnergyPerDecodeToken,
];

/// The runs of one history key, oldest first.
pub struct Series<'a> {
    pub label: String,
    pub runs: Vec<&'a RunResult>,
}

impl Series<'_> {
    /// The runs grouped by the (UTC) night they started in, oldest first: a nightly job's repeats become one point.
    pub fn nights(&self) -> Vec<(NaiveDate, Vec<&RunResult>)> {
        let mut out: Vec<(NaiveDate, Vec<&RunResult>)> = Vec::new();
        for run in &self.runs {
            let day = run.started_at.date_naive();
            match out.iter_mut().find(|(d, _)| *d == day) {
                Some((_, runs)) => runs.push(run),
                None => out.push((day, vec![run])),
            }
        }
        out.sort_by_key(|(d, _)| *d);
        out
    }
}

fn value(metric: Metric, runs: &[&RunResult]) -> String {
    let (unit, f) = metric.display_unit();
    metric.estimate(runs).map(|e| format!("{} {unit}", units::adaptive(e.value * f))).unwrap_or_else(|| "–".into())
}

pub fn table(series: &[Series]) -> String {
    let mut out = String::from(
        "| series | runs | nights | first | latest | latest night's median | median of earlier nights | latest peak RSS |\n|---|--:|--:|---|---|--:|--:|--:|\n",
    );
    for s in series {
        let nights = s.nights();
        let Some((_, latest)) = nights.last() else { continue };
        let earlier: Vec<&RunResult> = nights[..nights.len() - 1].iter().flat_map(|(_, r)| r.iter().copied()).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            s.label.replace('|', "\\|"),
            s.runs.len(),
            nights.len(),
            nights[0].0,
            nights[nights.len() - 1].0,
            value(Metric::Latency, latest),
            if earlier.is_empty() { "–".into() } else { value(Metric::Latency, &earlier) },
            value(Metric::PeakRss, latest),
        );
    }
    out
}

/// Legend labels: the model name, its device when series come from several, and whatever else tells apart series
/// of one model (method, threads, load mode, input, ExecuTorch version); the full keys are in the table.
fn short_labels(series: &[Series]) -> Vec<String> {
    type Part = fn(&RunResult) -> String;
    let parts: [Part; 5] = [
        |r| format!("`{}`", RunIdentity::of(r).method),
        |r| threads_phrase(RunIdentity::of(r).threads),
        |r| RunIdentity::of(r).load_mode,
        |r| format!("input {}", RunIdentity::of(r).input.replace("fnv1a:", "")),
        |r| format!("ET {}", r.runner.as_ref().map(|x| x.executorch_version.clone()).unwrap_or_else(|| "?".into())),
    ];
    let first: Vec<&RunResult> = series.iter().filter_map(|s| s.runs.first().copied()).collect();
    let within_a_model =
        |f: &Part| first.iter().any(|a| first.iter().any(|b| a.model.name == b.model.name && f(a) != f(b)));
    let varying: Vec<Part> = parts.into_iter().filter(within_a_model).collect();
    let devices = first.iter().map(|r| &r.device.name).collect::<BTreeSet<_>>().len() > 1;
    let labels: Vec<String> = first
        .iter()
        .map(|r| {
            let device = devices.then(|| r.device.name.clone());
            std::iter::once(r.model.name.clone())
                .chain(device)
                .chain(varying.iter().map(|f| f(r)))
                .collect::<Vec<_>>()
                .join(" · ")
        })
        .collect();
    labels
        .iter()
        .enumerate()
        .map(|(i, l)| if labels.iter().filter(|m| *m == l).count() > 1 { format!("{l} #{}", i + 1) } else { l.clone() })
        .collect()
}

/// Devices, the nights covered and the ExecuTorch versions, under every trend title.
fn caption(series: &[Series]) -> String {
    let runs: Vec<&RunResult> = series.iter().flat_map(|s| s.runs.iter().copied()).collect();
    let devices: BTreeSet<&str> = runs.iter().map(|r| r.device.name.as_str()).collect();
    let nights: BTreeSet<NaiveDate> = runs.iter().map(|r| r.started_at.date_naive()).collect();
    let range = match (nights.first(), nights.last()) {
        (Some(a), Some(b)) if a != b => format!("{a} – {b}"),
        (Some(a), _) => a.to_string(),
        _ => String::new(),
    };
    let versions: BTreeSet<String> = runs
        .iter()
        .filter_map(|r| {
            r.runner.as_ref().map(|x| format!("etbench {} · ExecuTorch {}", x.runner_version, x.executorch_version))
        })
        .collect();
    format!(
        "{} · {range} ({}) · {}",
        devices.into_iter().collect::<Vec<_>>().join(", "),
        crate::units::plural(nights.len(), "night", "nights"),
        versions.into_iter().collect::<Vec<_>>().join("; ")
    )
}

/// One paired candidate's nightly ratios to its pinned reference (`analysis::history::normalised_series`).
pub struct RatioSeries {
    pub candidate: String,
    pub reference: String,
    pub setting: String,
    /// (night, median per-round ratio, lower, upper, pairs), oldest first.
    pub nights: Vec<(NaiveDate, f64, f64, f64, usize)>,
}

/// The table of the reference-normalised series: each candidate's latest night against the one before.
pub fn ratio_table(series: &[RatioSeries]) -> String {
    if series.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "### Reference-normalised (paired nights: latency ÷ pinned reference)\n\n| candidate | pinned reference | setting | nights | latest | latest ratio (95% interval) | night before |\n|---|---|---|--:|---|--:|--:|\n",
    );
    let ratio = |n: &(NaiveDate, f64, f64, f64, usize)| format!("{:.3}× ({:.3}–{:.3})", n.1, n.2, n.3);
    for s in series {
        let Some(latest) = s.nights.last() else { continue };
        let before = s.nights.len().checked_sub(2).map(|i| ratio(&s.nights[i])).unwrap_or_else(|| "–".into());
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {before} |",
            s.candidate.replace('|', "\\|"),
            s.reference.replace('|', "\\|"),
            s.setting.replace('|', "\\|"),
            s.nights.len(),
            latest.0,
            ratio(latest)
        );
    }
    out.push_str("\nBelow 1× the candidate is faster than the reference. Device drift between nights cancels in the ratio: both ran alternating in one process.\n");
    out
}

/// Legend labels of ratio lines: the candidate, and its reference or setting only where two lines would look alike.
fn ratio_labels(series: &[RatioSeries]) -> Vec<String> {
    let shared =
        |f: &dyn Fn(&RatioSeries) -> String| series.iter().any(|a| series.iter().filter(|b| f(a) == f(b)).count() > 1);
    let by_reference = shared(&|s| s.candidate.clone());
    let by_setting = shared(&|s| format!("{} {}", s.candidate, if by_reference { &s.reference } else { "" }));
    series
        .iter()
        .map(|s| {
            let mut label = s.candidate.clone();
            if by_reference {
                label += &format!(" ÷ {}", s.reference);
            }
            if by_setting {
                label += &format!(" · {}", s.setting);
            }
            label
        })
        .collect()
}

fn ratio_chart(ratios: &[RatioSeries], caption: &str) -> anyhow::Result<Option<Chart>> {
    let shown = &ratios[..ratios.len().min(MAX_LINES)];
    if shown.iter().all(|s| s.nights.is_empty()) {
        return Ok(None);
    }
    let note =
        if ratios.len() > MAX_LINES { format!(" (first {MAX_LINES} of {})", ratios.len()) } else { String::new() };
    let lines: Vec<Line> = shown
        .iter()
        .zip(ratio_labels(shown))
        .map(|(s, label)| Line {
            label,
            points: s
                .nights
                .iter()
                .map(|(day, r, lo, hi, _)| {
                    (day.and_hms_opt(12, 0, 0).expect("valid time").and_utc().timestamp() as f64, *r, *lo, *hi)
                })
                .collect(),
        })
        .collect();
    let references: BTreeSet<&str> = shown.iter().map(|s| s.reference.as_str()).collect();
    let line = match references.iter().next() {
        Some(r) if references.len() == 1 => format!("1× = {r} (pinned reference)"),
        _ => "1× = each candidate's pinned reference".into(),
    };
    let title = format!("Latency ÷ reference per night{note}: point = median ratio, whisker = 95% interval");
    let spec = Spec::Trend {
        lines,
        y_label: "latency ÷ reference (paired session each night)".into(),
        unit: Unit::Ratio,
        reference: Some((1.0, line)),
    };
    Ok(Some(spec.render("trend_latency_vs_reference", &title, caption)?))
}

/// The raw trend charts (one per metric) and, when there are paired nights, the reference-normalised one.
pub fn charts(series: &[Series], ratios: &[RatioSeries]) -> anyhow::Result<Vec<Chart>> {
    let mut out = raw_charts(series)?;
    out.extend(ratio_chart(ratios, &caption(series))?);
    Ok(out)
}

fn raw_charts(series: &[Series]) -> anyhow::Result<Vec<Chart>> {
    let shown = &series[..series.len().min(MAX_LINES)];
    let note = if series.len() > MAX_LINES {
        format!(" (first {MAX_LINES} of {} series)", series.len())
    } else {
        String::new()
    };
    let labels = short_labels(shown);
    let caption = caption(shown);
    let mut out = Vec::new();
    for metric in TRENDS {
        let (unit, f) = metric.display_unit();
        let lines: Vec<Line> = shown
            .iter()
            .zip(&labels)
            .map(|(s, label)| Line {
                label: label.clone(),
                points: s
                    .nights()
                    .into_iter()
                    .filter_map(|(day, runs)| {
                        let e = metric.estimate(&runs)?;
                        let noon = day.and_hms_opt(12, 0, 0).expect("valid time").and_utc().timestamp() as f64;
                        Some((noon, e.value * f, e.lower * f, e.upper * f))
                    })
                    .collect(),
            })
            .filter(|l| !l.points.is_empty())
            .collect();
        if lines.is_empty() {
            continue;
        }
        let spread = if metric == Metric::Latency { "p10–p90 of its iterations" } else { "min–max over its runs" };
        let title = format!("{} per night{note}: point = the night's median, whisker = {spread}", metric.label());
        let name = format!("trend_{}", metric.slug().replace('-', "_"));
        out.push(
            Spec::Trend { lines, y_label: metric.label().to_owned(), unit: Unit::of(unit), reference: None }
                .render(&name, &title, &caption)?,
        );
    }
    Ok(out)
}
