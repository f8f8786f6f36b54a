//! The power-over-time chart of `--energy` runs: per variant, the power the device's sensor gave at each sample
//! (counters differentiated between samples), and below it on the same time axis the latency samples of the
//! measured windows, so a reader sees what ran while the power was drawn.

use etbench_protocol::energy::WindowKind;

use super::charts::{Chart, Line, Panel, Spec, Unit};
use super::metric::Group;
use crate::results::RunResult;

/// Points per line; more make the chart unreadable and the SVG large.
const MAX_POINTS: usize = 600;

/// `None` when no run of the groups has energy samples.
pub fn power_chart(groups: &[&Group], labels: &[String], caption: &str) -> anyhow::Result<Option<Chart>> {
    let mut power = Vec::new();
    let mut latency = Vec::new();
    for (g, label) in groups.iter().zip(labels) {
        let Some(run) = g.runs.iter().find(|r| r.energy.as_ref().is_some_and(|e| e.record.samples.len() >= 2)) else {
            continue;
        };
        let energy = run.energy.as_ref().expect("found with energy");
        let series = energy.power_series();
        power.push(Line { label: label.clone(), points: thin(series.iter().map(|&(t, w)| (t, w, w, w)).collect()) });
        let lat = latency_over_time(run);
        if !lat.is_empty() {
            latency.push(Line {
                label: label.clone(),
                points: thin(lat.into_iter().map(|(t, ms)| (t, ms, ms, ms)).collect()),
            });
        }
    }
    if power.is_empty() {
        return Ok(None);
    }
    let mut panels = vec![Panel { lines: power, y_label: "power (device sensor)".into(), unit: Unit::Watts }];
    if !latency.is_empty() {
        panels.push(Panel { lines: latency, y_label: "latency per sample".into(), unit: Unit::Ms });
    }
    let spec = Spec::Panels {
        panels,
        x_label: "time since the runner started (idle baseline first, then load, then the timed phase)".into(),
        x_unit: Unit::Seconds,
    };
    Ok(Some(spec.render("power", "Power over time (first run of each variant) with its latency samples", caption)?))
}

/// Each timed sample at the time it ended (seconds since the runner started), in ms: from its own window when every
/// sample has one (paired rounds, generations), else laid end to end from the start of the one timed window.
fn latency_over_time(run: &RunResult) -> Vec<(f64, f64)> {
    let Some(e) = &run.energy else { return Vec::new() };
    let windows: Vec<_> =
        e.record.windows.iter().filter(|w| matches!(w.phase, WindowKind::Timed | WindowKind::Decode)).collect();
    let samples = &run.samples.timed_ns;
    if windows.len() == samples.len() {
        return windows.iter().zip(samples).map(|(w, &ns)| (w.end_ns as f64 / 1e9, ns as f64 / 1e6)).collect();
    }
    let [w] = windows[..] else { return Vec::new() };
    let mut t = w.start_ns as f64;
    samples
        .iter()
        .map(|&ns| {
            t += ns as f64;
            (t / 1e9, ns as f64 / 1e6)
        })
        .collect()
}

fn thin(points: Vec<(f64, f64, f64, f64)>) -> Vec<(f64, f64, f64, f64)> {
    if points.len() <= MAX_POINTS {
        return points;
    }
    (0..MAX_POINTS).map(|i| points[i * points.len() / MAX_POINTS]).collect()
}
