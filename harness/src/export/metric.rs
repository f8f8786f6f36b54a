//! What is comparable between runs: the [`RunKey`] that says two runs measured the same thing, the [`Group`] of runs
//! sharing a key (repeats pooled), and the [`Metric`]s every report, export, comparison and history reads from a
//! group. One list of metrics, so the model card, BMF, github-action-benchmark and PyTorch records cannot disagree.

use std::collections::BTreeMap;
use std::fmt;

use crate::results::{Document, RunResult};
use crate::stats::Sample;

/// The conditions that make two runs measure the same thing (repeats of one setting share a key). The model is
/// identified by content (sha256); its name is carried for display only and ignored by equality and ordering.
#[derive(Debug, Clone)]
pub struct RunKey {
    pub device: String,
    pub model_name: String,
    pub model_sha256: String,
    pub method: String,
    /// Effective threads when the runner reported them, else the requested count.
    pub threads: Option<u32>,
    pub load_mode: String,
    /// What was fed: the token ids of a one-input token model, else every input's spec and a digest of the
    /// bytes (`default` when unknown), so runs on different inputs are never pooled.
    pub input: String,
    /// The model's own runner (`--runner` per model, host path), when it had one: two ExecuTorch builds running the
    /// same `.pte` are two variants, never pooled.
    pub runner: Option<String>,
}

impl RunKey {
    pub fn of(run: &RunResult) -> Self {
        let threads = run.runner.as_ref().and_then(|r| r.threads_effective).or(run.params.spec.threads);
        let ids = run
            .runner
            .as_ref()
            .map(|r| r.input_ids.clone())
            .filter(|v| !v.is_empty())
            .or(run.params.input_ids().map(<[i64]>::to_vec));
        Self {
            device: run.device.name.clone(),
            model_name: run.model.name.clone(),
            model_sha256: run.model.sha256.clone(),
            method: method_label(run),
            threads,
            load_mode: run.params.spec.load_mode.to_string(),
            input: input_key(run, ids),
            runner: run.params.runner.clone(),
        }
    }

    /// The fields that decide whether two runs may be compared, named for messages: every part of the identity,
    /// so two keys that differ always say where.
    pub fn fields(&self) -> [(&'static str, String); 7] {
        [
            ("device", self.device.clone()),
            ("model sha256", short_sha(&self.model_sha256).to_owned()),
            ("method", self.method.clone()),
            ("threads", threads_label(self.threads)),
            ("load mode", self.load_mode.clone()),
            ("input", self.input.clone()),
            ("runner file", self.runner.clone().unwrap_or_else(|| "the device's".into())),
        ]
    }

    /// Slug for file-like names: `local/gemma3n-tiny-bf16/forward/t2/mmap`.
    pub fn slug(&self) -> String {
        format!(
            "{}/{}/{}/t{}/{}",
            self.device,
            self.model_name,
            self.method,
            threads_label(self.threads),
            self.load_mode
        )
    }
}

impl RunKey {
    fn identity(&self) -> (&str, &str, &str, Option<u32>, &str, &str, Option<&str>) {
        (
            &self.device,
            &self.model_sha256,
            &self.method,
            self.threads,
            &self.load_mode,
            &self.input,
            self.runner.as_deref(),
        )
    }
}

impl PartialEq for RunKey {
    fn eq(&self, other: &Self) -> bool {
        self.identity() == other.identity()
    }
}

impl Eq for RunKey {}

impl PartialOrd for RunKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RunKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.identity().cmp(&other.identity())
    }
}

impl fmt::Display for RunKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} on {} ({}, {}, {})",
            self.model_name,
            self.device,
            self.method,
            threads_phrase(self.threads),
            self.load_mode
        )
    }
}

pub fn threads_label(t: Option<u32>) -> String {
    t.map(|t| t.to_string()).unwrap_or_else(|| "default".into())
}

/// "1 thread", "4 threads", "default threads".
pub fn threads_phrase(t: Option<u32>) -> String {
    match t {
        Some(1) => "1 thread".into(),
        t => format!("{} threads", threads_label(t)),
    }
}

pub fn short_sha(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// The method, marked when the timings are not comparable with plain runs: profiled runs carry per-operator
/// overhead, and a paired session's memory covers every model it loaded. Marked runs never pool with plain ones.
fn method_label(run: &RunResult) -> String {
    let mut label = run.params.spec.method.clone();
    if run.params.spec.profile {
        label.push_str(" (profiled)");
    }
    match &run.pairing {
        // Own processes: per-model memory is real, but the rows belong to a paired session.
        Some(p) if p.pair.is_some() => label.push_str(" (paired processes)"),
        Some(_) => label.push_str(" (paired)"),
        None => {}
    }
    label
}

fn input_key(run: &RunResult, ids: Option<Vec<i64>>) -> String {
    if let Some(w) = &run.params.spec.llm {
        let prompt =
            run.llm.as_ref().map(|l| input_digest(&l.prompt_ids)).unwrap_or_else(|| format!("seed {}", w.prompt_seed));
        return format!("{} ({prompt})", workload_label(w));
    }
    let used = run.runner.as_ref().map(|r| r.inputs_used.as_slice()).unwrap_or_default();
    match (ids, used) {
        (Some(ids), [] | [_]) => input_digest(&ids),
        (_, []) => {
            let specs: Vec<String> = run.params.spec.inputs.iter().map(|s| s.to_string()).collect();
            if specs.is_empty() {
                "default".into()
            } else {
                specs.join(" + ")
            }
        }
        (_, used) => {
            let specs: Vec<String> = used.iter().map(|u| u.spec.to_string()).collect();
            let hashes: String = used.iter().map(|u| u.sha256.as_str()).collect();
            let digest = input_digest(&hashes.bytes().map(i64::from).collect::<Vec<_>>());
            format!("{} ({})", specs.join(" + "), digest.rsplit(' ').next().unwrap_or_default())
        }
    }
}

/// `pp64 tg64`, `pp512 tg128 @ d1024`: llama-bench's names for a generation workload.
pub fn workload_label(w: &etbench_protocol::LlmSpec) -> String {
    let depth = if w.depth > 0 { format!(" @ d{}", w.depth) } else { String::new() };
    format!("pp{} tg{}{depth}", w.prefill, w.decode)
}

/// `n ids, fnv1a:xxxxxxxx`: short, stable, and different whenever the ids differ.
fn input_digest(ids: &[i64]) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in ids.iter().flat_map(|v| v.to_le_bytes()) {
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    format!("{} ids, fnv1a:{h:08x}", ids.len())
}

/// Runs sharing a key; only successful runs contribute samples.
#[derive(Debug, Clone)]
pub struct Group<'a> {
    pub key: RunKey,
    pub runs: Vec<&'a RunResult>,
}

/// Groups the runs of several documents by key, in first-seen order; failed runs are kept apart.
pub fn groups<'a>(docs: impl IntoIterator<Item = &'a Document>) -> Vec<Group<'a>> {
    let mut order: Vec<RunKey> = Vec::new();
    let mut by_key: BTreeMap<RunKey, Vec<&'a RunResult>> = BTreeMap::new();
    for run in docs.into_iter().flat_map(|d| &d.runs).filter(|r| r.is_ok()) {
        let key = RunKey::of(run);
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
    let per_s = |ns: f64| tokens * 1e9 / ns;
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
    fn input_digest_differs_when_ids_differ() {
        assert_ne!(input_digest(&[1, 2, 3]), input_digest(&[1, 2, 4]));
        assert_eq!(input_digest(&[1, 2, 3]), input_digest(&[1, 2, 3]));
        assert!(input_digest(&[1, 2, 3]).starts_with("3 ids"));
    }

    #[test]
    fn keys_that_differ_only_in_their_runner_name_it() {
        let key = |runner: Option<&str>| RunKey {
            device: "d".into(),
            model_name: "m".into(),
            model_sha256: "0".repeat(64),
            method: "forward".into(),
            threads: Some(2),
            load_mode: "mmap".into(),
            input: "default".into(),
            runner: runner.map(str::to_owned),
        };
        let (a, b) = (key(None), key(Some("/opt/et-1.6/etbench-runner")));
        assert_ne!(a, b);
        let differing: Vec<&str> =
            a.fields().iter().zip(b.fields().iter()).filter(|(x, y)| x != y).map(|(x, _)| x.0).collect();
        assert_eq!(differing, ["runner file"]);
    }

    #[test]
    fn throughput_bounds_swap_with_latency_bounds() {
        let t = throughput(2.0, Estimate { value: 1e9, lower: 0.5e9, upper: 2e9, spread: Spread::P10P90 });
        assert_eq!((t.value, t.lower, t.upper), (2.0, 1.0, 4.0));
    }
}
