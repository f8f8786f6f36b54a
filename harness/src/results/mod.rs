//! The result document: one serde schema that every exporter reads (`results.json` is this, verbatim).
//!
//! A run is its parameters + where it ran + the raw samples + what was derived from them. Derived numbers
//! (`summary`) are recomputed from the raw samples by [`RunResult::summarise`], never edited by hand.

pub mod energy;
pub mod identity;
pub mod llm;
pub mod metric;
pub mod provenance;
pub mod warnings;

use chrono::{DateTime, Utc};
use etbench_protocol::{InputRecord, OutputCheck, PhaseKind, PhaseRecord, RunSpec, RunnerError, TensorSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::stats::{Sample, Summary};

/// Bumped on incompatible changes. Version 1 documents are read through [`migrate_v1`]; newer ones are refused.
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Document {
    pub schema_version: u32,
    pub provenance: Provenance,
    pub runs: Vec<RunResult>,
    /// Quantization drift between variants (`etbench drift`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<DriftReport>,
    /// Paired ratios of every model of a paired session to its reference (`run --paired`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paired: Vec<PairedRatio>,
    /// This device's noise for a model and what each design can detect (`etbench calibrate`), as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<serde_json::Value>,
}

/// Who produced the document, where and when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Provenance {
    pub etbench_version: String,
    pub git_sha: Option<String>,
    pub created_at: DateTime<Utc>,
    pub command: Vec<String>,
    /// The working directory the command ran in (its relative paths are relative to it; `run --resume` goes there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    pub host: SystemInfo,
    /// The CI job that made this document, when one did (GitHub Actions, GitLab CI): which commit, which run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<CiProvenance>,
}

/// A CI job's identity, read from the CI's own environment variables; no secrets (tokens are never read).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiProvenance {
    /// `github` or `gitlab`.
    pub system: String,
    /// The commit the job built (`GITHUB_SHA`, `CI_COMMIT_SHA`).
    pub commit: Option<String>,
    /// The branch or tag (`GITHUB_REF_NAME`, `CI_COMMIT_REF_NAME`).
    pub ref_name: Option<String>,
    pub run_id: Option<String>,
    /// A link to the run (`$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID`, `CI_PIPELINE_URL`).
    pub run_url: Option<String>,
    /// A link to the commit, when the CI says where the repository lives.
    pub commit_url: Option<String>,
    /// The machine that ran the job (`RUNNER_NAME`, `CI_RUNNER_DESCRIPTION`).
    pub runner_name: Option<String>,
    /// `owner/name` (`GITHUB_REPOSITORY`, `CI_PROJECT_PATH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// A pull request's head branch (`GITHUB_HEAD_REF`), else the full ref (`GITHUB_REF`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_branch: Option<String>,
    /// A pull request's head commit (from the event payload; on `pull_request` events `GITHUB_SHA` is a merge commit
    /// no branch holds), else the commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_sha: Option<String>,
    /// `GITHUB_RUN_ATTEMPT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_attempt: Option<String>,
    /// The job's key in the workflow (`GITHUB_JOB`, `CI_JOB_NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
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

/// Everything probed on a remote device. Missing sources leave fields empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbedInfo {
    pub uname: Option<String>,
    /// `PRETTY_NAME` of `/etc/os-release` (Linux).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_release: Option<String>,
    /// Selected `getprop` keys (Android): model, manufacturer, SoC, build.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub android: std::collections::BTreeMap<String, String>,
    pub cpu_model: Option<String>,
    /// cpufreq per core, thermal zones, batteries: the same types (and units) as the runner's conditions.
    #[serde(flatten)]
    pub facts: etbench_protocol::DeviceFacts,
    pub memory_available_bytes: Option<u64>,
    /// The phone as Android describes it (from `getprop`); absent on other devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub android_facts: Option<AndroidFacts>,
    /// CPUs grouped by `cpu_capacity` (else `cpuinfo_max_freq`), slowest cluster first; one cluster is `all`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<CpuCluster>,
    /// The battery as the OS reports it: `dumpsys battery` on Android, else sysfs `power_supply`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power: Option<PowerState>,
    /// Android's thermal status and sensor temperatures (`dumpsys thermalservice`), when the device has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thermal_status: Option<ThermalStatus>,
    /// The C library the runner used here: the bundle's own glibc, or the device's (bionic, glibc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_libc: Option<RunnerLibc>,
    /// Power and energy sources (`--energy`): what each measures, its units and sign, and what is absent and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy: Option<EnergyProbe>,
}

/// The energy sources a probe found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnergyProbe {
    pub sources: Vec<etbench_protocol::EnergySource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub absent: Vec<etbench_protocol::energy::AbsentSource>,
}

/// `getprop` facts of an Android device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AndroidFacts {
    pub model: Option<String>,
    pub manufacturer: Option<String>,
    /// `ro.soc.manufacturer ro.soc.model` (Android 12+), else `ro.board.platform` / `ro.hardware`.
    pub soc: Option<String>,
    /// `ro.build.version.release`, e.g. "15".
    pub android_version: Option<String>,
    /// `ro.build.version.sdk`, e.g. 35.
    pub sdk: Option<u32>,
    /// `ro.product.cpu.abi`, e.g. "arm64-v8a".
    pub abi: Option<String>,
}

/// CPUs of one kind: same capacity (or, without `cpu_capacity`, same maximum frequency).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuCluster {
    /// little, mid, big, prime (slowest to fastest), or `all` when every CPU is alike.
    pub name: String,
    pub cpus: Vec<u32>,
    /// Hex affinity mask of `cpus`, as `--cpu-affinity` takes it.
    pub mask: String,
    pub capacity: Option<u32>,
    pub max_khz: Option<u64>,
}

/// "cpu0-3,6" for a sorted list of CPUs.
pub fn cpu_list(cpus: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        while i + 1 < cpus.len() && cpus[i + 1] == cpus[i] + 1 {
            i += 1;
        }
        parts.push(if cpus[i] == start { start.to_string() } else { format!("{start}-{}", cpus[i]) });
        i += 1;
    }
    format!("cpu{}", parts.join(","))
}

/// The battery as the OS reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerState {
    /// `dumpsys battery` or `sysfs`.
    pub source: String,
    pub level_pct: Option<u32>,
    pub temperature_c: Option<f64>,
    pub charging: Option<bool>,
    /// charging, discharging, not charging, full, unknown.
    pub status: Option<String>,
    /// Power sources plugged in (ac, usb, wireless, dock); empty when on battery or unknown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugged: Vec<String>,
}

/// Android's thermal status (`PowerManager.THERMAL_STATUS_*`) and what its thermal HAL reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThermalStatus {
    pub source: String,
    /// 0 none, 1 light, 2 moderate, 3 severe, 4 critical, 5 emergency, 6 shutdown.
    pub status: Option<u32>,
    /// The status's name.
    pub name: Option<String>,
    /// Sensor temperatures (`kind`: CPU, GPU, BATTERY, SKIN, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub temperatures: Vec<etbench_protocol::ThermalZone>,
}

/// Which C library a runner ran on: a runner bundle brings its own glibc (its malloc and libstdc++ then shape the
/// numbers, not bionic and libc++); a runner started directly uses the device's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunnerLibc {
    /// `bundled` or `device`.
    pub provided_by: String,
    /// glibc, bionic, musl, or unknown.
    pub libc: String,
    pub version: Option<String>,
    /// Where it came from, e.g. "Debian libc6:arm64 2.36-9+deb12u14".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl std::fmt::Display for RunnerLibc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let version = self.version.as_deref().map(|v| format!(" {v}")).unwrap_or_default();
        match self.provided_by.as_str() {
            "bundled" => write!(f, "bundled {}{version}", self.libc),
            _ => write!(f, "the device's {}{version}", self.libc),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceRef {
    pub name: String,
    pub transport: String,
    pub info: SystemInfo,
    /// What was probed on a remote device (cpufreq, thermal, battery, getprop); absent for the local host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probed: Option<ProbedInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRef {
    /// The path as given on the host.
    pub path: String,
    /// File name without `.pte`.
    pub name: String,
    pub size_bytes: u64,
    pub sha256: String,
    /// What the program's flatbuffer said at run time (read on the host): exporters read this, never the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<ProgramFacts>,
}

/// Facts about a program from its flatbuffer, captured into the document when it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramFacts {
    /// `fp32`, `bf16`, `fp16`, `int8 weight-only`; none when a delegate holds the weights ([`crate::inspect::dtype_of`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<String>,
    /// `xnnpack`, `portable`, … ([`crate::inspect::backend_of`]).
    pub backend: String,
    /// Each delegate backend with its blob count: `XnnpackBackend (12 blobs)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delegates: Vec<String>,
    /// Constant bytes per dtype outside delegates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub constant_bytes_by_dtype: BTreeMap<String, u64>,
}

impl ProgramFacts {
    pub fn of(ins: &crate::inspect::Inspection) -> Self {
        Self {
            dtype: crate::inspect::dtype_of(ins).map(str::to_owned),
            backend: crate::inspect::backend_of(ins.delegates.iter().map(|d| d.backend.as_str())),
            delegates: ins.delegates.iter().map(|d| format!("{} ({} blobs)", d.backend, d.blobs)).collect(),
            constant_bytes_by_dtype: ins.constant_bytes_by_dtype.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        }
    }
}

/// Exactly what was asked for: the run specification the runner acted on, and where the run sits in its sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RunParams {
    pub spec: RunSpec,
    pub repeat_index: u32,
    pub repeats: u32,
    /// Pause before this run (lets a phone shed heat).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_s: Option<f64>,
    /// The runner was killed when it said nothing for this long (`--run-timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_timeout_s: Option<f64>,
    /// The runner binary, when the models of a run had one each (`run --runner A --runner B`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<String>,
}

impl RunParams {
    /// One run of `spec` (repeat 1 of 1).
    pub fn single(spec: RunSpec) -> Self {
        Self { spec, repeat_index: 0, repeats: 1, cooldown_s: None, run_timeout_s: None, runner: None }
    }

    /// Explicit token ids fed to input 0 (`--input-ids`, a prompt), if any.
    pub fn input_ids(&self) -> Option<&[i64]> {
        match self.spec.inputs.first() {
            Some(etbench_protocol::InputSpec::Values(ids)) => Some(ids),
            _ => None,
        }
    }

    /// Every input got its default: the export manifest's expected output applies.
    pub fn default_inputs(&self) -> bool {
        self.spec.inputs.iter().all(|s| *s == etbench_protocol::InputSpec::Default)
    }
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
    /// What each input was fed: spec, dtype, shape, sha256 of the bytes.
    #[serde(default)]
    pub inputs_used: Vec<InputRecord>,
    /// The token ids of the token input (empty when input 0 is not an integer tensor).
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
    /// In a paired session, the round of each timed sample: samples of the session's models with the same round
    /// were measured back to back in one process.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timed_rounds: Vec<u32>,
}

/// How the last output compared with what the export script recorded for the same input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum OutputVerdict {
    /// Finite, no reference known.
    Finite,
    /// Finite and the argmax matches the manifest.
    MatchesManifest,
    Mismatch {
        expected_argmax_last: u64,
        got_argmax_last: Option<u64>,
    },
    NonFinite {
        nan_count: u64,
        inf_count: u64,
    },
    /// An output's dtype, shape, sum or argmax differs from what the export recorded.
    OutputDiffers {
        index: u32,
        expected: String,
        got: String,
    },
    Missing,
}

impl OutputVerdict {
    pub fn label(&self) -> String {
        match self {
            OutputVerdict::Finite => "finite".into(),
            OutputVerdict::MatchesManifest => "matches export".into(),
            OutputVerdict::Mismatch { expected_argmax_last, got_argmax_last } => format!(
                "MISMATCH argmax {} ≠ {expected_argmax_last}",
                got_argmax_last.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
            ),
            OutputVerdict::NonFinite { nan_count, inf_count } => {
                format!("NON-FINITE ({nan_count} NaN, {inf_count} Inf)")
            }
            OutputVerdict::OutputDiffers { index, expected, got } => {
                format!("MISMATCH output {index}: {got}, expected {expected}")
            }
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
        let per_s = |ns: f64| crate::units::per_second(tokens, ns);
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
    /// Tokens in one forward (the input's element count: the whole window, padding included).
    pub tokens_per_forward: Option<u64>,
    /// Real tokens / forward latency: a prompt's real tokens when it was padded to the window (padding is not
    /// counted), else the whole token input.
    pub prefill_tokens_per_s: Option<Throughput>,
    /// 1 / forward latency: no KV cache, every new token re-runs the whole window (token models only).
    #[serde(default)]
    pub decode_equivalent_tokens_per_s: Option<Throughput>,
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
    /// The generations of an LLM program's generation run (`--prefill`/`--decode`): prefill, time to first token,
    /// every decode step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<llm::LlmResult>,
    /// Device conditions the runner read before and after the run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<etbench_protocol::Conditions>,
    /// Power and energy from the device's own sensor (`--energy`): figures, or why there are none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy: Option<energy::EnergyResult>,
    /// Measurement conditions that make this run less trustworthy, each with its fix.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<crate::results::warnings::Warning>,
    /// Per-operator profile from the run's ETDump (`--profile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<crate::inspect::etdump::OpProfile>,
    /// Will it fit? The program's planned memory and file size against the device's available memory before the
    /// run (recorded whether it fits or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_fit: Option<MemoryFit>,
    /// Set when the run was one model of a paired session (several models timed alternately in one process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairing: Option<Pairing>,
    /// Host file holding output 0's raw bytes, when the plan kept them (not part of results.json).
    #[serde(skip)]
    pub output_dump: Option<std::path::PathBuf>,
}

/// What a model needs against what the device has (bytes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryFit {
    /// Memory-planned buffers of the method (from the program flatbuffer; they hold the KV cache of an LLM program),
    /// plus any mutable buffer the planner left out.
    pub planned_bytes: u64,
    pub file_bytes: u64,
    /// `MemAvailable` (remote) or sysinfo's available memory (local) before the run, or the run's memory limit when
    /// that is lower ([`MemoryFit::limited`]).
    pub available_bytes: u64,
    /// planned + file ≤ available.
    pub fits: bool,
    /// The available memory is the run's `--memory-limit` (lower than what the device had).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub limited: bool,
}

/// Where a run sits in a paired session: the rows of one process share `session`; `models` lists the session's
/// models in command-line order (the first is the reference every ratio is taken against).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pairing {
    pub session: String,
    pub position: u32,
    pub models: Vec<String>,
    /// Set in a session of paired processes (`--paired processes`: one fresh process per model, A B B A …): which
    /// neighbour pair of processes this run belongs to. `None`: every model of the session shared one process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair: Option<u32>,
}

fn is_latency(q: &crate::verdict::Quantity) -> bool {
    *q == crate::verdict::Quantity::Latency
}

/// A candidate's paired ratio to the reference of its sessions (`run --paired`), as computed when the document was
/// written; `etbench compare` recomputes it from the raw samples and rounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedRatio {
    pub reference: String,
    pub candidate: String,
    /// What the sessions shared: device, threads, load mode.
    pub setting: String,
    pub sessions: usize,
    pub pairs: usize,
    /// The design the ratio came from: `paired in-process` (per-round ratios) or `paired processes` (per neighbour
    /// pair of fresh processes, median over median).
    #[serde(default)]
    pub design: crate::verdict::Design,
    /// What the ratio is of: `latency` (a forward), or for generation runs `decode time per token` and `time to
    /// first token`.
    #[serde(default, skip_serializing_if = "is_latency")]
    pub quantity: crate::verdict::Quantity,
    /// Median of the per-round ratios candidate / reference (below 1: the candidate is faster).
    pub ratio: f64,
    pub lower: f64,
    pub upper: f64,
    pub level: f64,
    pub threshold: f64,
    /// improved / regressed / no_change; `None` when there were too few pairs for an interval.
    pub verdict: Option<crate::verdict::Verdict>,
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
    /// The continuations decoded by the prompt's tokenizer (absent in documents written before they were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_candidate: Option<String>,
    /// The decoded tokens both continuations share before `first_divergence`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_shared: Option<String>,
}

impl RunResult {
    /// Derives the summary from the raw samples and phases (None when nothing was timed).
    pub fn summarise(&mut self) {
        if let Some(llm) = &mut self.llm {
            llm.summarise();
        }
        let Ok(sample) = Sample::from_ns(&self.samples.timed_ns) else {
            self.summary = None;
            return;
        };
        let latency_ns = sample.summary();
        let latency_median_ns = latency_ns.median;
        let phase = |k: PhaseKind| self.phases.iter().find(|p| p.phase == k);
        // Tokens per forward only where input 0 is a token tensor (an image has no tokens).
        let tokens = self
            .runner
            .as_ref()
            .and_then(|r| r.inputs.first())
            .filter(|s| s.kind == etbench_protocol::ValueKind::Tensor && s.dtype.is_some_and(|d| d.is_integer()))
            .map(|s| s.numel().max(0) as u64);
        let peak =
            self.phases.iter().filter_map(|p| p.memory.vm_hwm_bytes.map(|b| (b, p.phase))).max_by_key(|(b, _)| *b);
        let max_of = |f: fn(&PhaseRecord) -> Option<u64>| self.phases.iter().filter_map(f).max();
        // A generation run's samples are per-generation decode times: its token rates live in `llm`.
        let tokens = tokens.filter(|_| self.llm.is_none());
        let real = tokens.map(|window| self.real_tokens_of(window));
        self.summary = Some(RunSummary {
            prefill_tokens_per_s: real.map(|t| Throughput::from_latency(t as f64, &latency_ns)),
            decode_equivalent_tokens_per_s: tokens.map(|_| Throughput::from_latency(1.0, &latency_ns)),
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
            roofline: (self.model.size_bytes > 0 && self.llm.is_none()).then(|| Roofline {
                weight_bytes: self.model.size_bytes,
                achieved_bytes_per_s: self.model.size_bytes as f64 * 1e9 / latency_median_ns,
                device_bytes_per_s: self.conditions.iter().find_map(|c| c.memory_bandwidth_bytes_per_s),
            }),
        });
    }

    pub fn is_ok(&self) -> bool {
        self.status == RunStatus::Ok
    }

    /// Stopped by an interrupt of etbench (not a failure of the run): `run --resume` runs it again.
    pub fn is_interrupted(&self) -> bool {
        self.error.as_ref().is_some_and(|e| e.kind == etbench_protocol::ErrorKind::Interrupted)
    }

    /// The tokens a prefill of this run really processes: the prompt's real tokens when it was right-padded to the
    /// window, else the whole token input; `None` for a program without a token input.
    pub fn prefill_tokens(&self) -> Option<u64> {
        self.summary.as_ref()?.tokens_per_forward.map(|window| self.real_tokens_of(window))
    }

    fn real_tokens_of(&self, window: u64) -> u64 {
        self.params.spec.real_tokens.map_or(window, |real| u64::from(real).min(window))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    // The cause is part of the message, not a `source`: `{:#}` would print it twice.
    #[error("{path}: {reason}")]
    Io { path: String, reason: std::io::Error },
    #[error("{path}: not an etbench results document: {reason}")]
    Json { path: String, reason: serde_json::Error },
    #[error("{path}: schema_version {found}: written by a newer etbench: upgrade (this one reads versions 1 to {SCHEMA_VERSION})")]
    Newer { path: String, found: u64 },
    #[error("{path}: no schema_version: not an etbench results document")]
    Unversioned { path: String },
}

impl Document {
    pub fn new(provenance: Provenance) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            provenance,
            runs: Vec::new(),
            drift: Vec::new(),
            paired: Vec::new(),
            calibration: None,
        }
    }

    /// Reads a `results.json`, checking the schema version before the shape.
    pub fn read(path: &std::path::Path) -> Result<Self, ReadError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|reason| ReadError::Io { path: p.clone(), reason })?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|reason| ReadError::Json { path: p.clone(), reason })?;
        Self::from_value(value, &p)
    }

    /// A document from parsed JSON of any version this etbench reads.
    pub fn from_value(mut value: serde_json::Value, path: &str) -> Result<Self, ReadError> {
        match value.get("schema_version").and_then(|v| v.as_u64()) {
            Some(1) => migrate_v1(&mut value),
            Some(v) if v == SCHEMA_VERSION as u64 => {}
            Some(found) if found > SCHEMA_VERSION as u64 => return Err(ReadError::Newer { path: path.into(), found }),
            _ => return Err(ReadError::Unversioned { path: path.into() }),
        }
        serde_json::from_value(value).map_err(|reason| ReadError::Json { path: path.into(), reason })
    }

    pub fn failed_runs(&self) -> usize {
        self.runs.iter().filter(|r| !r.is_ok()).count()
    }
}

/// Rewrites a schema-1 document as schema 2: run settings move into `params.spec` (`input_ids` becomes an `ids:`
/// input), device facts take one shape (probe `cpufreq`/`thermal{temp_c}`/`battery{capacity_percent}` and the
/// conditions' single `battery` become `cpus`/`thermal_zones{temp_millic}`/`batteries{level_pct}`), and output
/// checks get their index.
pub fn migrate_v1(doc: &mut serde_json::Value) {
    use serde_json::{json, Map, Value};
    const SPEC_KEYS: [&str; 13] = [
        "method",
        "warmup",
        "iterations",
        "threads",
        "load_mode",
        "real_tokens",
        "generate",
        "cpu_affinity",
        "thermal_gate_c",
        "gate_timeout_s",
        "profile",
        "memory_limit_bytes",
        "bandwidth_probe",
    ];
    fn rename(obj: &mut Map<String, Value>, from: &str, to: &str) {
        if let Some(v) = obj.remove(from) {
            obj.insert(to.into(), v);
        }
    }
    doc["schema_version"] = json!(2);
    let Some(runs) = doc.get_mut("runs").and_then(Value::as_array_mut) else { return };
    for run in runs {
        if let Some(params) = run.get_mut("params").and_then(Value::as_object_mut) {
            let mut spec = Map::new();
            for key in SPEC_KEYS {
                match params.remove(key) {
                    Some(Value::Null) | None => {}
                    Some(v) => {
                        spec.insert(key.into(), v);
                    }
                }
            }
            if let Some(Value::Array(ids)) = params.remove("input_ids") {
                let list: Vec<String> = ids.iter().map(|v| v.to_string()).collect();
                spec.insert("inputs".into(), json!([format!("ids:{}", list.join(","))]));
            }
            params.insert("spec".into(), Value::Object(spec));
        }
        for c in run.get_mut("conditions").and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(obj) = c.as_object_mut() {
                let battery = obj.remove("battery").filter(|b| !b.is_null());
                obj.insert("batteries".into(), json!(battery.into_iter().collect::<Vec<_>>()));
            }
        }
        if let Some(probed) = run.pointer_mut("/device/probed").and_then(Value::as_object_mut) {
            rename(probed, "cpufreq", "cpus");
            if let Some(Value::Array(zones)) = probed.remove("thermal") {
                let zones: Vec<Value> = zones
                    .into_iter()
                    .map(|z| json!({"zone": z["zone"], "kind": null, "temp_millic": z["temp_c"].as_f64().map(|t| (t * 1000.0).round() as i64)}))
                    .collect();
                probed.insert("thermal_zones".into(), json!(zones));
            }
            if let Some(Value::Array(batteries)) = probed.remove("battery") {
                let batteries: Vec<Value> = batteries
                    .into_iter()
                    .map(|b| json!({"name": b["name"], "level_pct": b["capacity_percent"], "status": b["status"]}))
                    .collect();
                probed.insert("batteries".into(), json!(batteries));
            }
        }
        for (i, o) in run.get_mut("outputs").and_then(Value::as_array_mut).into_iter().flatten().enumerate() {
            if let Some(obj) = o.as_object_mut() {
                obj.entry("index").or_insert(json!(i));
            }
        }
    }
}
