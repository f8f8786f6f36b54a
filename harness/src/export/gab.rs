//! github-action-benchmark's custom tools (<https://github.com/benchmark-action/github-action-benchmark>): a JSON
//! array of `{ "name", "unit", "value", "range", "extra" }`, one file per direction: `customSmallerIsBetter` (latency,
//! first forward, load, time to first token, peak RSS) and `customBiggerIsBetter` (throughputs).
//!
//! The action matches an entry to the previous commit's by `name` and compares the two `value`s, so names are
//! distinct ([`super::bmf::names`] plus the metric) and each metric keeps one unit ([`Metric::display_unit`]: ms,
//! tokens/s, MiB) whatever its size. Its chart tooltip and alert comment show `value unit (range)`, and the tooltip
//! adds `extra` below: `range` therefore names its bounds ("p10–p90 6.60–7.27") and is left out for a single run's
//! point value; `extra` holds one fact per line. A value JSON cannot carry (NaN, ±∞) leaves its entry out: the action
//! would read `null` as 0.

use crate::units::plural;
use serde::Serialize;

use crate::results::metric::{groups, workload_label, Estimate, Group, Metric};
use crate::results::Document;
use crate::units;

#[derive(Serialize)]
struct Entry {
    name: String,
    unit: &'static str,
    value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    range: Option<String>,
    extra: String,
}

/// Which of github-action-benchmark's two custom tools the output is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SmallerIsBetter,
    BiggerIsBetter,
}

pub fn render(doc: &Document, direction: Direction) -> Vec<u8> {
    let groups = groups([doc]);
    let names = super::bmf::names(&groups);
    let metrics: Vec<Metric> = Metric::ALL
        .into_iter()
        .filter(|m| m.smaller_is_better() == (direction == Direction::SmallerIsBetter))
        .collect();
    let mut entries = Vec::new();
    for (name, g) in names.iter().zip(&groups) {
        for &m in &metrics {
            let Some(e) = m.estimate(&g.runs) else { continue };
            let (unit, f) = m.display_unit();
            let (value, lower, upper) = (e.value * f, e.lower * f, e.upper * f);
            if ![value, lower, upper].iter().all(|v| v.is_finite()) {
                continue;
            }
            entries.push(Entry {
                name: format!("{name} - {}", m.label()),
                unit,
                value,
                range: range(e, lower, upper),
                extra: extra(g),
            });
        }
    }
    let mut bytes = serde_json::to_vec_pretty(&entries).expect("plain data");
    bytes.push(b'\n');
    bytes
}

/// `p10–p90 6.60–7.27`, `95% CI 37.9–38.6`, `min–max 2.04–2.31`; `None` when the bounds are the value itself.
fn range(e: Estimate, lower: f64, upper: f64) -> Option<String> {
    (lower != upper).then(|| format!("{} {}–{}", e.spread.label(), units::adaptive(lower), units::adaptive(upper)))
}

/// What the value is a summary of, where it ran and on what: one fact per line.
fn extra(g: &Group) -> String {
    let first = g.runs[0];
    let samples = match first.params.spec.llm.as_ref() {
        Some(w) => {
            let generations: usize = g.runs.iter().filter_map(|r| r.llm.as_ref()).map(|l| l.timed().count()).sum();
            format!("{} ({})", plural(generations, "timed generation", "timed generations"), workload_label(w))
        }
        None => plural(Metric::Latency.raw_samples(&g.runs).len(), "timed iteration", "timed iterations"),
    };
    let runtime = first.runner.as_ref().map(|r| r.executorch_version.as_str()).unwrap_or("?");
    format!(
        "{}, {samples}\nExecuTorch {runtime}\nmodel sha256 {}",
        plural(g.runs.len(), "run", "runs"),
        g.key.model_sha256
    )
}
