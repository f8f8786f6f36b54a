//! Trends over time for `etbench history report`: a table of each series' latest run against its earlier runs, and
//! one chart per metric with a line per series (median, p10–p90 band).

use std::fmt::Write;

use super::charts::{Chart, Line, Spec};
use super::metric::Metric;
use crate::export::fmt;
use crate::results::RunResult;

/// Lines per chart; more would make the legend unreadable.
pub const MAX_LINES: usize = 8;

/// Metrics drawn as trends.
pub const TRENDS: [Metric; 4] = [Metric::Latency, Metric::FirstForward, Metric::Load, Metric::PeakRss];

/// The runs of one history key, oldest first.
pub struct Series<'a> {
    pub label: String,
    pub runs: Vec<&'a RunResult>,
}

fn value(metric: Metric, runs: &[&RunResult]) -> String {
    let (unit, f) = metric.display_unit();
    metric.estimate(runs).map(|e| format!("{} {unit}", fmt::adaptive(e.value * f))).unwrap_or_else(|| "–".into())
}

pub fn table(series: &[Series]) -> String {
    let mut out = String::from("| series | runs | first | latest | latest median | median of earlier runs | latest peak RSS |\n|---|--:|---|---|--:|--:|--:|\n");
    for s in series {
        let (Some(first), Some(last)) = (s.runs.first(), s.runs.last()) else { continue };
        let earlier = &s.runs[..s.runs.len() - 1];
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            s.label.replace('|', "\\|"),
            s.runs.len(),
            first.started_at.format("%Y-%m-%d %H:%M"),
            last.started_at.format("%Y-%m-%d %H:%M"),
            value(Metric::Latency, &[*last]),
            if earlier.is_empty() { "–".into() } else { value(Metric::Latency, earlier) },
            value(Metric::PeakRss, &[*last]),
        );
    }
    out
}

pub fn charts(series: &[Series]) -> anyhow::Result<Vec<Chart>> {
    let shown = &series[..series.len().min(MAX_LINES)];
    let note = if series.len() > MAX_LINES { format!(" (first {MAX_LINES} of {} series)", series.len()) } else { String::new() };
    let mut out = Vec::new();
    for metric in TRENDS {
        let (unit, f) = metric.display_unit();
        let lines: Vec<Line> = shown
            .iter()
            .map(|s| Line {
                label: s.label.clone(),
                points: s
                    .runs
                    .iter()
                    .filter_map(|r| {
                        let e = metric.estimate(&[*r])?;
                        Some((r.started_at.timestamp() as f64, e.value * f, e.lower * f, e.upper * f))
                    })
                    .collect(),
            })
            .filter(|l| !l.points.is_empty())
            .collect();
        if lines.is_empty() {
            continue;
        }
        let title = format!("{} over time{note}", metric.label());
        let name = format!("trend_{}", metric.slug().replace('-', "_"));
        out.push(Spec::Trend { lines, y_label: format!("{} ({unit})", metric.label()) }.render(&name, &title)?);
    }
    Ok(out)
}
