//! github-action-benchmark's custom tools (<https://github.com/benchmark-action/github-action-benchmark>): a JSON
//! array of `{ "name", "unit", "value", "range", "extra" }`, one file per direction: `customSmallerIsBetter` (latency,
//! load, first forward, memory) and `customBiggerIsBetter` (throughput).

use serde::Serialize;

use crate::export::fmt;
use crate::export::metric::{groups, Metric};
use crate::results::Document;

#[derive(Serialize)]
struct Entry {
    name: String,
    unit: &'static str,
    value: f64,
    range: String,
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
    let metrics = Metric::ALL.into_iter().filter(|m| m.smaller_is_better() == (direction == Direction::SmallerIsBetter));
    let metrics: Vec<Metric> = metrics.collect();
    let mut entries = Vec::new();
    for (name, g) in names.iter().zip(&groups) {
        for &m in &metrics {
            let Some(e) = m.estimate(&g.runs) else { continue };
            let (unit, f) = m.display_unit();
            let samples = Metric::Latency.raw_samples(&g.runs).len();
            let runner = g.runs[0].runner.as_ref().map(|r| r.executorch_version.as_str()).unwrap_or("?");
            entries.push(Entry {
                name: format!("{name} - {}", m.label()),
                unit,
                value: e.value * f,
                range: format!("{}–{}", fmt::adaptive(e.lower * f), fmt::adaptive(e.upper * f)),
                extra: format!("{} run(s), {samples} timed iterations\nExecuTorch {runner}\nmodel sha256 {}", g.runs.len(), g.key.model_sha256),
            });
        }
    }
    let mut bytes = serde_json::to_vec_pretty(&entries).expect("plain data");
    bytes.push(b'\n');
    bytes
}
