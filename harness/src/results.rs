//! The result document: one serde schema that every exporter reads (`results.json` is this, verbatim).
//!
//! A run is its parameters + where it ran + the raw samples + what was derived from them. Derived numbers
//! (`summary`) are recomputed from the raw samples by [`RunResult::summarise`], never edited by hand.

use chrono::{DateTime, Utc};
use etbench_protocol::{LoadMode, OutputCheck, PhaseKind, PhaseRecord, RunnerError, TensorSpec};
use serde::{Deserialize, Serialize};

use crate::stats::{Sample, Summary};

/// Bumped on incompatible changes; readers refuse other versions.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Document {
    pub schema_version: u32,
    pub provenance: Provenance,
    pub runs: Vec<RunResult>,
    /// Quantization drift between variants (`etbench drift`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<DriftReport>,
}

/// Who produced the document, where and when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Provenance {
    pub etbench_version: String,
    pub git_sha: Option<String>,
    pub created_at: DateTime<Utc>,
    pub command: Vec<String>,
    pub host: SystemInfo,
}

/// A machine as sysinfo sees it (the host, or the local device).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemInfo {
    pub hostname: Option<String>,
    pub os: Option<String>,
    pub os_version: Option<String>,
    pub kernel: Option<String>,
    pub arch: String,
    pub cpu_brand: Option<String>,
    pub cpu_logical_cores: usize,
    pub cpu_physical_cores: Option<usize>,
    pub memory_total_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceRef {
    pub name: String,
    pub transport: String,
    pub info: SystemInfo,
    /// What was probed on a remote device (cpufreq, thermal, battery, getprop); absent for the local host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probed: Option<crate::transport::probe::ProbedInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRef {
    /// The path as given on the host.
    pub path: String,
    /// File name without `.pte`.
    pub name: String,
    pub size_bytes: u64,
    pub sha256: String,
}

/// Exactly what was asked for. `Default` is one forward-method run with no extras, for building variations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunParams {
    pub method: String,
    pub warmup: u32,
    pub iterations: u32,
    pub threads: Option<u32>,
    pub load_mode: LoadMode,
    pub repeat_index: u32,
    pub repeats: u32,
    pub input_ids: Option<Vec<i64>>,
    /// Leading input positions holding real tokens (prompt runs); predictions are read at the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real_tokens: Option<u32>,
    /// Greedy tokens generated after the timed loop.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generate: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_affinity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thermal_gate_c: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate_timeout_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_s: Option<f64>,
    /// An ETDump per-operator profile was recorded (profiling adds per-op overhead to the timings).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub profile: bool,
    /// The runner ran in a memory cgroup of this size (`--memory-limit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit_bytes: Option<u64>,
    /// The runner measured streaming memory bandwidth before loading.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bandwidth_probe: bool,
}

impl Default for RunParams {
    fn default() -> Self {
        Self {
            method: "forward".into(),
            warmup: 0,
            iterations: 1,
            threads: None,
            load_mode: LoadMode::Mmap,
            repeat_index: 0,
            repeats: 1,
            input_ids: None,
            real_tokens: None,
            generate: 0,
            cpu_affinity: None,
            thermal_gate_c: None,
            gate_timeout_s: None,
            cooldown_s: None,
            profile: false,
            memory_limit_bytes: None,
            bandwidth_probe: false,
        }
    }
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// What the runner reported about itself and the method.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunnerInfo {
    #[serde(default)]
    pub debug_build: bool,
    pub runner_version: String,
    pub executorch_version: String,
    pub target_triple: String,
    pub threads_effective: Option<u32>,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    pub input_ids: Vec<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Ok,
    Error,
}

/// Raw per-iteration latencies, in measurement order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Samples {
    pub first_forward_ns: Option<u64>,
    pub warmup_ns: Vec<u64>,
    pub timed_ns: Vec<u64>,
    /// One forward per generated token (`--generate`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generate_ns: Vec<u64>,
}

/// How the last output compared with what the export script recorded for the same input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum OutputVerdict {
    /// Finite, no reference known.
    Finite,
    /// Finite and the argmax matches the manifest.
    MatchesManifest,
    Mismatch { expected_argmax_last: u64, got_argmax_last: Option<u64> },
    NonFinite { nan_count: u64, inf_count: u64 },
    Missing,
}

impl OutputVerdict {
    pub fn is_good(&self) -> bool {
        matches!(self, OutputVerdict::Finite | OutputVerdict::MatchesManifest)
    }

    pub fn label(&self) -> String {
        match self {
            OutputVerdict::Finite => "finite".into(),
            OutputVerdict::MatchesManifest => "matches export".into(),
            OutputVerdict::Mismatch { expected_argmax_last, got_argmax_last } => format!(
                "MISMATCH argmax {} ≠ {expected_argmax_last}",
                got_argmax_last.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
            ),
            OutputVerdict::NonFinite { nan_count, inf_count } => format!("NON-FINITE ({nan_count} NaN, {inf_count} Inf)"),
            OutputVerdict::Missing => "no output".into(),
        }
    }
}

/// Throughput derived from latency quantiles (the p10 of throughput comes from the p90 of latency).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    pub median: f64,
    pub p10: f64,
    pub p90: f64,
}

impl Throughput {
    fn from_latency(tokens: f64, latency_ns: &Summary) -> Self {
        let per_s = |ns: f64| tokens * 1e9 / ns;
        Self { median: per_s(latency_ns.median), p10: per_s(latency_ns.p90), p90: per_s(latency_ns.p10) }
    }
}

/// Numbers derived from one run's raw data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Statistics of the timed samples, in nanoseconds.
    pub latency_ns: Summary,
    pub program_load_ns: Option<u64>,
    pub method_load_ns: Option<u64>,
    pub first_forward_ns: Option<u64>,
    /// Tokens in one forward (the input's element count).
    pub tokens_per_forward: Option<u64>,
    /// input length / forward latency.
    pub prefill_tokens_per_s: Option<Throughput>,
    /// 1 / forward latency: no KV cache, every new token re-runs the whole window.
    pub decode_equivalent_tokens_per_s: Throughput,
    /// Largest per-phase peak RSS (VmHWM) of the runner process.
    pub peak_rss_bytes: Option<u64>,
    pub peak_rss_phase: Option<PhaseKind>,
    /// Largest anonymous RSS seen at a phase end (heap, repacked weights; not mmapped file pages).
    pub max_rss_anon_bytes: Option<u64>,
    pub max_rss_file_bytes: Option<u64>,
    pub major_faults: Option<u64>,
    /// Memory traffic against what the device can stream.
    #[serde(default)]
    pub roofline: Option<Roofline>,
}

/// Bytes of weights per forward ÷ latency, next to the device's measured streaming bandwidth. The weight bytes are
/// the model file's size: an upper bound that assumes every weight byte is read once per forward.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Roofline {
    pub weight_bytes: u64,
    pub achieved_bytes_per_s: f64,
    pub device_bytes_per_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    pub id: String,
    pub device: DeviceRef,
    pub model: ModelRef,
    pub params: RunParams,
    pub started_at: DateTime<Utc>,
    pub status: RunStatus,
    pub error: Option<RunnerError>,
    pub runner: Option<RunnerInfo>,
    pub phases: Vec<PhaseRecord>,
    pub samples: Samples,
    pub outputs: Vec<OutputCheck>,
    pub output_verdict: OutputVerdict,
    pub summary: Option<RunSummary>,
    /// The text the input came from, when the run was driven by a prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<PromptRecord>,
    /// Greedy generation without KV cache, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<GenerationRecord>,
    /// Device conditions the runner read before and after the run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<etbench_protocol::Conditions>,
    /// Measurement conditions that make this run less trustworthy, each with its fix.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<crate::warnings::Warning>,
    /// Per-operator profile from the run's ETDump (`--profile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<crate::profile::OpProfile>,
}

/// How a tokenized prompt was fitted to the method's fixed input length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fit {
    Exact,
    /// Right-padded with the pad id; predictions are read at the last real position.
    Padded,
    /// The oldest tokens were dropped so the window holds the last ones.
    Truncated,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptRecord {
    pub text: String,
    pub tokenizer: String,
    /// Ids as the tokenizer produced them (before fitting).
    pub token_ids: Vec<i64>,
    pub window: usize,
    pub fit: Fit,
    /// Tokens of the prompt inside the window (the rest is padding).
    pub real_tokens: usize,
}

/// Greedy decoding by re-running the fixed window: no KV cache, every token costs a full forward.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationRecord {
    pub requested: u32,
    pub token_ids: Vec<i64>,
    pub text: Option<String>,
    /// One forward per generated token, in order; the first is the time to first token.
    pub step_latency_ns: Vec<u64>,
}

/// How far a candidate variant's logits are from a reference variant's on the same prompts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    pub reference: ModelRef,
    pub candidate: ModelRef,
    pub prompts: Vec<PromptDrift>,
    /// Over all real positions of all prompts.
    pub top1_agreement: f64,
    pub mean_kl: f64,
    pub mean_cosine: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptDrift {
    pub prompt: String,
    pub real_tokens: usize,
    /// Per real position: does the candidate's argmax equal the reference's?
    pub top1_agree: Vec<bool>,
    /// KL(reference ‖ candidate) of the softmaxed logits, per real position.
    pub kl: Vec<f64>,
    pub cosine: Vec<f64>,
    pub greedy_reference: Vec<i64>,
    pub greedy_candidate: Vec<i64>,
    /// Index of the first generated token where the continuations differ.
    pub first_divergence: Option<usize>,
}

impl RunResult {
    /// Derives the summary from the raw samples and phases (None when nothing was timed).
    pub fn summarise(&mut self) {
        let Ok(sample) = Sample::from_ns(&self.samples.timed_ns) else {
            self.summary = None;
            return;
        };
        let latency_ns = sample.summary();
        let latency_median_ns = latency_ns.median;
        let phase = |k: PhaseKind| self.phases.iter().find(|p| p.phase == k);
        let tokens = self.runner.as_ref().and_then(|r| r.inputs.first()).map(|s| s.numel().max(0) as u64);
        let peak = self
            .phases
            .iter()
            .filter_map(|p| p.memory.vm_hwm_bytes.map(|b| (b, p.phase)))
            .max_by_key(|(b, _)| *b);
        let max_of = |f: fn(&PhaseRecord) -> Option<u64>| self.phases.iter().filter_map(f).max();
        self.summary = Some(RunSummary {
            prefill_tokens_per_s: tokens.map(|t| Throughput::from_latency(t as f64, &latency_ns)),
            decode_equivalent_tokens_per_s: Throughput::from_latency(1.0, &latency_ns),
            latency_ns,
            program_load_ns: phase(PhaseKind::ProgramLoad).map(|p| p.duration_ns),
            method_load_ns: phase(PhaseKind::MethodLoad).map(|p| p.duration_ns),
            first_forward_ns: self.samples.first_forward_ns,
            tokens_per_forward: tokens,
            peak_rss_bytes: peak.map(|(b, _)| b),
            peak_rss_phase: peak.map(|(_, p)| p),
            max_rss_anon_bytes: max_of(|p| p.memory.rss_anon_bytes),
            max_rss_file_bytes: max_of(|p| p.memory.rss_file_bytes),
            major_faults: self.phases.iter().filter_map(|p| p.memory.major_faults).reduce(|a, b| a + b),
            roofline: (self.model.size_bytes > 0).then(|| Roofline {
                weight_bytes: self.model.size_bytes,
                achieved_bytes_per_s: self.model.size_bytes as f64 * 1e9 / latency_median_ns,
                device_bytes_per_s: self.conditions.iter().find_map(|c| c.memory_bandwidth_bytes_per_s),
            }),
        });
    }

    pub fn is_ok(&self) -> bool {
        self.status == RunStatus::Ok
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: not an etbench results document: {source}")]
    Json { path: String, source: serde_json::Error },
    #[error("{path}: schema_version {found} is not supported (this etbench reads {SCHEMA_VERSION}); re-run the benchmark or use a matching etbench")]
    Version { path: String, found: u64 },
}

impl Document {
    pub fn new(provenance: Provenance) -> Self {
        Self { schema_version: SCHEMA_VERSION, provenance, runs: Vec::new(), drift: Vec::new() }
    }

    /// Reads a `results.json`, checking the schema version before the shape.
    pub fn read(path: &std::path::Path) -> Result<Self, ReadError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ReadError::Io { path: p.clone(), source })?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| ReadError::Json { path: p.clone(), source })?;
        match value.get("schema_version").and_then(|v| v.as_u64()) {
            Some(v) if v == SCHEMA_VERSION as u64 => {}
            Some(found) => return Err(ReadError::Version { path: p, found }),
            None => return Err(ReadError::Version { path: p, found: 0 }),
        }
        serde_json::from_value(value).map_err(|source| ReadError::Json { path: p, source })
    }

    pub fn failed_runs(&self) -> usize {
        self.runs.iter().filter(|r| !r.is_ok()).count()
    }
}
