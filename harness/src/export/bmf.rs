//! Bencher Metric Format (BMF, <https://bencher.dev/docs/reference/bencher-metric-format>): an object keyed by
//! benchmark name, each holding measures `{ "value", "lower_value", "upper_value" }`, for `bencher run --adapter json`.
//!
//! Benchmark = one [`RunKey`](crate::export::metric::RunKey) (repeats pooled); measures are the metric slugs, in
//! base units, so `latency` lines up with Bencher's built-in Latency measure (nanoseconds). Bounds are p10 and p90
//! for latency-derived measures and min–max over repeats otherwise.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::export::metric::{groups, short_sha, Group, Metric};
use crate::results::Document;

#[derive(Serialize)]
struct Measure {
    value: f64,
    lower_value: f64,
    upper_value: f64,
}

/// Benchmark names: the key's slug, with the model hash and input appended where two keys would collide.
pub(crate) fn names(groups: &[Group]) -> Vec<String> {
    let slugs: Vec<String> = groups.iter().map(|g| g.key.slug()).collect();
    slugs
        .iter()
        .zip(groups)
        .map(|(s, g)| {
            if slugs.iter().filter(|o| *o == s).count() > 1 {
                format!("{s}@{}/{}", short_sha(&g.key.model_sha256), g.key.input)
            } else {
                s.clone()
            }
        })
        .collect()
}

pub fn render(doc: &Document) -> Vec<u8> {
    let groups = groups([doc]);
    let mut out: BTreeMap<String, BTreeMap<&'static str, Measure>> = BTreeMap::new();
    for (name, g) in names(&groups).into_iter().zip(&groups) {
        let measures = Metric::ALL
            .iter()
            .filter_map(|&m| m.estimate(&g.runs).map(|e| (m.slug(), Measure { value: e.value, lower_value: e.lower, upper_value: e.upper })))
            .collect();
        out.insert(name, measures);
    }
    let mut bytes = serde_json::to_vec_pretty(&out).expect("plain data");
    bytes.push(b'\n');
    bytes
}
