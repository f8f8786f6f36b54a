//! What is comparable between runs: the [`RunIdentity`] that says two runs measured the same thing, the [`Group`] of runs
//! sharing a key (repeats pooled), and the [`Metric`]s every report, export, comparison and history reads from a
//! group. One list of metrics, so the model card, BMF, github-action-benchmark and PyTorch records cannot disagree.

use std::collections::BTreeMap;
use std::fmt;

use crate::results::{Document, RunResult};
use crate::stats::Sample;

pub use crate::results::identity::{
    effective_threads, short_sha, threads_label, threads_phrase, workload_label, RunIdentity,
};

/// Runs sharing a key; only successful runs contribute samples.
#[derive(Debug, Clone)]
pub struct Group<'a> {
    pub key: RunIdentity,
    pub runs: Vec<&'a RunResult>,
}

/// Groups the runs of several documents by key, in first-seen order; failed runs are kept apart.
pub fn groups<'a>(docs: impl IntoIterator<Item = &'a Document>) -> Vec<Group<'a>> {
    let mut order: Vec<RunIdentity> = Vec::new();
    let mut by_key: BTreeMap<RunIdentity, Vec<&'a RunResult>> = BTreeMap::new();
    for run in docs.into_iter().flat_map(|d| &d.runs).filter(|r| r.is_ok()) {
        let key = RunIdentity::of(run);
        let runs = by_key.entry(key.clone()).or_default();
        if runs.is_empty() {
            order.push(key);
        }
        runs.push(run);
    }
    order.into_iter().map(|key| Group { runs: by_key.remove(&key).unwrap_or_default(), key }).collect()
}

/// A value with its spread (p10–p90 for latency-derived metrics, the median's 95 % interval for a generation run's
/// figures, min–max across repeats otherwise); `spread` says which, so exporters can name their bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub value: f64,
    pub lower: f64,
    pub upper: f64,
    pub spread: Spread,
}

/// What an [`Estimate`]'s bounds are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spread {
    /// The 10th and 90th percentiles of the pooled iterations (throughputs: of the latency they derive from).
    P10P90,
    /// The median's distribution-free 95 % interval over the timed generations.
    Ci95,
    /// The smallest and largest of one value per run (equal with a single run).
    MinMax,
}

impl Spread {
    /// `p10–p90`, `95% CI`, `min–max`.
    pub fn label(self) -> &'static str {
        match self {
            Spread::P10P90 => "p10–p90",
            Spread::Ci95 => "95% CI",
            Spread::MinMax => "min–max",
        }
    }
}

impl Estimate {
    fn point(v: f64) -> Self {
        Self { value: v, lower: v, upper: v, spread: Spread::MinMax }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// Median of the timed `execute` latencies (all repeats pooled).
    Latency,
    FirstForward,
    /// Program load + method load.
    Load,
    PrefillTokensPerS,
    DecodeEquivalentTokensPerS,
    PeakRss,
    /// Generation runs of LLM programs: decode steps per second through the KV cache (per generation).
    DecodeTokensPerS,
    /// Generation runs: prefill + the first token's argmax.
    TimeToFirstToken,
    /// `--energy`: average power over the measured windows (one value per run).
    Power,
    /// `--energy`: joules per timed forward (one value per run).
    EnergyPerForward,
    /// `--energy`, generation runs: joules per decode token (one value per run).
    EnergyPerDecodeToken,
}

impl Metric {
    pub const ALL: [Metric; 11] = [
        Metric::Latency,
        Metric::FirstForward,
        Metric::Load,
        Metric::PrefillTokensPerS,
        Metric::DecodeEquivalentTokensPerS,
        Metric::PeakRss,
        Metric::DecodeTokensPerS,
        Metric::TimeToFirstToken,
        Metric::Power,
        Metric::EnergyPerForward,
        Metric::EnergyPerDecodeToken,
    ];

    /// Stable machine name (BMF measure slug, history column).
    pub fn slug(self) -> &'static str {
        match self {
            Metric::Latency => "latency",
            Metric::FirstForward => "first-forward",
            Metric::Load => "load-time",
            Metric::PrefillTokensPerS => "prefill-throughput",
            Metric::DecodeEquivalentTokensPerS => "decode-equivalent-throughput",
            Metric::PeakRss => "peak-rss",
            Metric::DecodeTokensPerS => "decode-throughput",
            Metric::TimeToFirstToken => "time-to-first-token",
            Metric::Power => "power",
            Metric::EnergyPerForward => "energy-per-forward",
            Metric::EnergyPerDecodeToken => "energy-per-decode-token",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Metric::Latency => "median latency",
            Metric::FirstForward => "first forward",
            Metric::Load => "load time",
            Metric::PrefillTokensPerS => "prefill tokens/s",
            Metric::DecodeEquivalentTokensPerS => "decode-equivalent tokens/s",
            Metric::PeakRss => "peak RSS",
            Metric::DecodeTokensPerS => "decode tokens/s",
            Metric::TimeToFirstToken => "time to first token",
            Metric::Power => "average power",
            Metric::EnergyPerForward => "energy per forward",
            Metric::EnergyPerDecodeToken => "energy per decode token",
        }
    }

    /// Unit of [`Metric::estimate`]'s numbers.
    pub fn base_unit(self) -> &'static str {
        match self {
            Metric::Latency | Metric::FirstForward | Metric::Load | Metric::TimeToFirstToken => "ns",
            Metric::PrefillTokensPerS | Metric::DecodeEquivalentTokensPerS | Metric::DecodeTokensPerS => "tokens/s",
            Metric::PeakRss => "bytes",
            Metric::Power => "W",
            Metric::EnergyPerForward | Metric::EnergyPerDecodeToken => "J",
        }
    }

    /// Human unit and the factor from the base unit to it.
    pub fn display_unit(self) -> (&'static str, f64) {
        match self {
            Metric::Latency | Metric::FirstForward | Metric::Load | Metric::TimeToFirstToken => ("ms", 1e-6),
            Metric::PrefillTokensPerS | Metric::DecodeEquivalentTokensPerS | Metric::DecodeTokensPerS => {
                ("tokens/s", 1.0)
            }
            Metric::PeakRss => ("MiB", 1.0 / (1024.0 * 1024.0)),
            Metric::Power => ("W", 1.0),
            Metric::EnergyPerForward | Metric::EnergyPerDecodeToken => ("J", 1.0),
        }
    }

    pub fn smaller_is_better(self) -> bool {
        self.direction().smaller_is_better()
    }

    /// How verdict words name a change of this metric (faster/slower, higher/lower, smaller/larger).
    pub fn direction(self) -> crate::verdict::Direction {
        use crate::verdict::Direction;
        match self {
            Metric::PrefillTokensPerS | Metric::DecodeEquivalentTokensPerS | Metric::DecodeTokensPerS => {
                Direction::Rate
            }
            Metric::PeakRss | Metric::Power | Metric::EnergyPerForward | Metric::EnergyPerDecodeToken => {
                Direction::Amount
            }
            Metric::Latency | Metric::FirstForward | Metric::Load | Metric::TimeToFirstToken => Direction::Time,
        }
    }

    /// The raw samples of each run: every timed iteration for latency, one value per run for first forward, load
    /// and peak RSS; throughput has none of its own (it is derived from latency).
    pub fn raw_runs(self, runs: &[&RunResult]) -> Vec<Vec<f64>> {
        let one = |v: Option<u64>| v.map(|v| vec![v as f64]).unwrap_or_default();
        runs.iter()
            .map(|r| match self {
                Metric::Latency => r.samples.timed_ns.iter().map(|&v| v as f64).collect(),
                Metric::FirstForward => one(r.samples.first_forward_ns),
                Metric::Load => one(load_ns(r)),
                Metric::PeakRss => one(r.summary.as_ref().and_then(|s| s.peak_rss_bytes)),
                Metric::PrefillTokensPerS => llm_values(r, crate::results::llm::prefill_tokens_per_s),
                Metric::DecodeTokensPerS => llm_values(r, crate::results::llm::decode_tokens_per_s),
                Metric::TimeToFirstToken => llm_values(r, |g| g.ttft_ns as f64),
                Metric::DecodeEquivalentTokensPerS => Vec::new(),
                Metric::Power => energy(r, |e| Some(e.watts)),
                Metric::EnergyPerForward => energy(r, |e| e.joules_per_forward),
                Metric::EnergyPerDecodeToken => energy(r, |e| e.decode_joules_per_token),
            })
            .collect()
    }

    /// All raw samples of the runs, pooled.
    pub fn raw_samples(self, runs: &[&RunResult]) -> Vec<f64> {
        self.raw_runs(runs).concat()
    }

    /// The headline value and spread of a group; `None` when the runs do not carry it.
    pub fn estimate(self, runs: &[&RunResult]) -> Option<Estimate> {
        match self {
            Metric::Latency => {
                let s = Sample::new(&self.raw_samples(runs)).ok()?;
                Some(Estimate {
                    value: s.quantile(0.5),
                    lower: s.quantile(0.1),
                    upper: s.quantile(0.9),
                    spread: Spread::P10P90,
                })
            }
            Metric::PrefillTokensPerS | Metric::DecodeTokensPerS | Metric::TimeToFirstToken
                if runs.iter().any(|r| r.llm.is_some()) =>
            {
                let e = crate::results::llm::Estimate::of(&self.raw_samples(runs))?;
                Some(Estimate { value: e.median, lower: e.lower, upper: e.upper, spread: Spread::Ci95 })
            }
            Metric::DecodeTokensPerS | Metric::TimeToFirstToken => None,
            Metric::PrefillTokensPerS => {
                // Real tokens only: a padded prompt's padding is not prefill work anyone asked for.
                let tokens = runs.iter().find_map(|r| r.prefill_tokens())? as f64;
                Some(throughput(tokens, Metric::Latency.estimate(runs)?))
            }
            Metric::DecodeEquivalentTokensPerS => {
                // Only programs with a token input have tokens (an image classifier does not).
                runs.iter().find_map(|r| r.summary.as_ref()?.tokens_per_forward)?;
                Some(throughput(1.0, Metric::Latency.estimate(runs)?))
            }
            Metric::FirstForward
            | Metric::Load
            | Metric::PeakRss
            | Metric::Power
            | Metric::EnergyPerForward
            | Metric::EnergyPerDecodeToken => spread(&self.raw_samples(runs)),
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One value per timed generation of a generation run (none for forward-loop runs).
fn llm_values(run: &RunResult, f: impl Fn(&etbench_protocol::GenerationRecord) -> f64) -> Vec<f64> {
    run.llm.iter().flat_map(|l| l.timed()).map(f).filter(|v| v.is_finite()).collect()
}

/// A run's energy figure (none when it was refused, lost or not asked for).
fn energy(run: &RunResult, f: impl Fn(&crate::results::energy::EnergySummary) -> Option<f64>) -> Vec<f64> {
    run.energy.as_ref().and_then(|e| e.summary.as_ref()).and_then(f).filter(|v| v.is_finite()).into_iter().collect()
}

pub fn load_ns(run: &RunResult) -> Option<u64> {
    let s = run.summary.as_ref()?;
    Some(s.program_load_ns? + s.method_load_ns?)
}

/// Median with min–max of per-run values.
fn spread(values: &[f64]) -> Option<Estimate> {
    let s = Sample::new(values).ok()?;
    if s.len() == 1 {
        return Some(Estimate::point(s.quantile(0.5)));
    }
    Some(Estimate { value: s.quantile(0.5), lower: s.quantile(0.0), upper: s.quantile(1.0), spread: Spread::MinMax })
}

/// tokens / latency; the lower bound comes from the upper latency bound.
fn throughput(tokens: f64, latency_ns: Estimate) -> Estimate {
    let per_s = |ns: f64| crate::units::per_second(tokens, ns);
    Estimate {
        value: per_s(latency_ns.value),
        lower: per_s(latency_ns.upper),
        upper: per_s(latency_ns.lower),
        spread: latency_ns.spread,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_bounds_swap_with_latency_bounds() {
        let t = throughput(2.0, Estimate { value: 1e9, lower: 0.5e9, upper: 2e9, spread: Spread::P10P90 });
        assert_eq!((t.value, t.lower, t.upper), (2.0, 1.0, 4.0));
    }
}
