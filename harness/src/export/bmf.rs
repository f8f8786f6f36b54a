//! Bencher Metric Format (BMF, <https://bencher.dev/docs/reference/bencher-metric-format>): an object keyed by
//! benchmark name, each holding measures `{ "value", "lower_value", "upper_value" }`, for `bencher run --adapter json`.
//!
//! Benchmark = one [`RunIdentity`](crate::results::metric::RunIdentity) (repeats pooled), named by [`names`]. Measures are the
//! [`Metric`] slugs, in base units ([`Metric::base_unit`]): `latency` (ns) is Bencher's built-in Latency measure;
//! `first-forward`, `load-time`, `time-to-first-token` (ns), `prefill-throughput`, `decode-equivalent-throughput`,
//! `decode-throughput` (tokens/s) and `peak-rss` (bytes) are custom measures, which Bencher creates on first sight
//! with placeholder units unless the project created them first. Bounds are the estimate's spread
//! ([`Spread`](crate::results::metric::Spread)): p10–p90, a generation run's 95 % interval, or min–max over runs.
//! A value JSON cannot carry (NaN, ±∞) leaves its measure out rather than becoming `null`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::results::metric::{groups, short_sha, Group, Metric};
use crate::results::Document;

#[derive(Serialize)]
struct Measure {
    value: f64,
    lower_value: f64,
    upper_value: f64,
}

/// Benchmark names, one per group and all distinct: the key's slug, with the model hash and input appended where two
/// slugs collide, and the runner file where those collide too (BMF is keyed by name: a repeated name would drop a
/// benchmark, and github-action-benchmark matches entries by name across commits).
pub(crate) fn names(groups: &[Group]) -> Vec<String> {
    let slugs: Vec<String> = groups.iter().map(|g| g.key.slug()).collect();
    let with_input: Vec<String> =
        disambiguate(&slugs, groups, |s, g| format!("{s}@{}/{}", short_sha(&g.key.model_sha256), g.key.input));
    disambiguate(&with_input, groups, |s, g| {
        format!("{s} runner {}", g.key.runner.as_deref().unwrap_or("on the device"))
    })
}

/// `names` with `longer` applied to each name that more than one group shares.
fn disambiguate(names: &[String], groups: &[Group], longer: impl Fn(&str, &Group) -> String) -> Vec<String> {
    names
        .iter()
        .zip(groups)
        .map(|(n, g)| if names.iter().filter(|o| *o == n).count() > 1 { longer(n, g) } else { n.clone() })
        .collect()
}

pub fn render(doc: &Document) -> Vec<u8> {
    let groups = groups([doc]);
    let mut out: BTreeMap<String, BTreeMap<&'static str, Measure>> = BTreeMap::new();
    for (name, g) in names(&groups).into_iter().zip(&groups) {
        let measures = Metric::ALL
            .iter()
            .filter_map(|&m| Some((m.slug(), m.estimate(&g.runs)?)))
            .filter(|(_, e)| [e.value, e.lower, e.upper].iter().all(|v| v.is_finite()))
            .map(|(slug, e)| (slug, Measure { value: e.value, lower_value: e.lower, upper_value: e.upper }))
            .collect();
        out.insert(name, measures);
    }
    let mut bytes = serde_json::to_vec_pretty(&out).expect("plain data");
    bytes.push(b'\n');
    bytes
}
