//! The one schema shared by `etbench-runner` (device side) and `etbench` (host side).
//!
//! The runner writes one JSON object per line on stdout, each tagged with the protocol version `v` and a `type`.
//! The host reads them back with these very types, so a field can never drift between the two sides.
//! Units live in field names (`_ns`, `_bytes`); missing values are `None`, never `-1`.

use serde::{Deserialize, Serialize};

mod cpumask;
pub mod energy;
pub mod facts;
pub mod llm;
mod spec;

pub use cpumask::{CpuMask, CpuMaskError};
pub use energy::{EnergyRecord, EnergyRequest, EnergySource};
pub use facts::{Battery, CpuCondition, DeviceFacts, FactsListing, ThermalZone};
pub use llm::{Convention, LlmProgram, LlmSpec, MetaValue, PrefillMode};
pub use spec::{default_ids, median_interval_ranks, splitmix64, InputSpec, Order, RunSpec};

/// Bumped whenever a line changes shape incompatibly; the host refuses other versions.
pub const PROTOCOL_VERSION: u32 = 2;

/// One line of runner output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub v: u32,
    #[serde(flatten)]
    pub msg: Message,
}

impl Line {
    pub fn new(msg: Message) -> Self {
        Self { v: PROTOCOL_VERSION, msg }
    }

    /// Serialises to a single JSON line (no trailing newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("protocol lines contain only serialisable data")
    }

    /// Parses one line, checking the protocol version.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        #[derive(Deserialize)]
        struct VersionOnly {
            v: u32,
        }
        let version: VersionOnly = serde_json::from_str(text).map_err(|e| ParseError::Malformed(e.to_string()))?;
        if version.v != PROTOCOL_VERSION {
            return Err(ParseError::Version { found: version.v });
        }
        serde_json::from_str(text).map_err(|e| ParseError::Malformed(e.to_string()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    Version { found: u32 },
    Malformed(String),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Version { found } => write!(
                f,
                "runner speaks protocol v{found}, this etbench speaks v{PROTOCOL_VERSION}: rebuild both from the same checkout (cargo build --release)"
            ),
            ParseError::Malformed(e) => write!(f, "malformed runner line: {e}"),
        }
    }
}

impl std::error::Error for ParseError {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)] // one message per line, parsed and consumed at once: boxing would gain nothing
pub enum Message {
    Meta(RunnerMeta),
    Phase(PhaseRecord),
    Sample(SampleRecord),
    Summary(RunnerSummary),
    Error(RunnerError),
    Conditions(Conditions),
    /// "Still alive": written every `heartbeat_s` seconds from a side thread, also during a single long execute,
    /// so the host can tell a slow forward from a hung device or a dead connection.
    Heartbeat(Heartbeat),
    /// One whole generation (prefill + decode) of an LLM program.
    Generation(GenerationRecord),
    /// What the energy side thread measured (`--energy`): one per runner process, after the last phase.
    Energy(Box<EnergyRecord>),
}

/// One generation of an LLM program, timed on the device: `depth` untimed tokens, then the timed prefill, then
/// `decode` greedy steps, each step's `execute` timed alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationRecord {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub model: u32,
    /// Index among the timed generations (warm-up generations have `warmup: true` and their own count).
    pub index: u32,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub warmup: bool,
    /// The round of a paired session (generations of the session's models with the same round ran back to back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<u32>,
    pub depth: u32,
    pub prefill_tokens: u32,
    /// How the prompt was fed: one call, chunks, token by token.
    pub prefill_mode: PrefillMode,
    pub prefill_calls: u32,
    /// Sum of the prefill calls' `execute` times.
    pub prefill_ns: u64,
    /// Time to first token: the prefill calls plus the argmax of the first token's logits.
    pub ttft_ns: u64,
    /// Each decode step's `execute`, in order (step k feeds the token at position depth + prefill + k).
    pub decode_ns: Vec<u64>,
    /// Greedy token ids: the first comes from the prefill's logits, then one per decode step.
    pub generated: Vec<i64>,
    /// Index into `generated` of the first EOS id, when one came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eos_at: Option<u32>,
    /// Steps whose logits held NaN or Inf (the argmax then skips them).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub nonfinite_steps: u32,
    /// Monotonic time since the runner started, at the end of this generation (sustained runs plot against it).
    pub end_uptime_ms: u64,
    pub memory_after_prefill: MemorySnapshot,
    pub memory_after_decode: MemorySnapshot,
    /// Device conditions right after the generation (sustained runs: clocks and temperatures over time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<DeviceFacts>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Time since the runner started, on its monotonic clock.
    pub uptime_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    Before,
    After,
}

/// Device conditions read from sysfs on the device, before and after a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conditions {
    pub when: When,
    #[serde(flatten)]
    pub facts: DeviceFacts,
    /// Set on the `before` record when a thermal gate was asked for.
    pub thermal_gate: Option<GateOutcome>,
    /// Set on the `before` record when a memory limit put the runner in its own memory cgroup.
    #[serde(default)]
    pub memory_limit: Option<MemoryLimit>,
    /// Streaming read bandwidth measured on the device (bandwidth probe), bytes per second.
    #[serde(default)]
    pub memory_bandwidth_bytes_per_s: Option<f64>,
}

/// The memory cgroup the runner moved itself into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryLimit {
    pub bytes: u64,
    /// The cgroup directory (its OOM-kill counter tells an OOM kill from any other SIGKILL).
    pub cgroup: String,
}

impl Conditions {
    /// Hottest thermal zone, in °C.
    pub fn max_temp_c(&self) -> Option<f64> {
        self.facts.max_temp_c()
    }
}

/// What waiting for the device to cool down gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateOutcome {
    pub limit_c: f64,
    pub waited_ms: u64,
    pub timed_out: bool,
    /// Hottest zone when the wait ended (None: no thermal zone readable, nothing to wait for).
    pub temp_c: Option<f64>,
}

/// How the program file is brought into memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LoadMode {
    /// mmap the file; pages come in on first touch (the default for GB-scale files).
    #[default]
    Mmap,
    /// Read the whole file into a heap buffer.
    File,
    /// mmap and mlock every page (fails if the limit is too low).
    Mlock,
}

impl LoadMode {
    pub const ALL: [LoadMode; 3] = [LoadMode::Mmap, LoadMode::File, LoadMode::Mlock];

    pub fn as_str(self) -> &'static str {
        match self {
            LoadMode::Mmap => "mmap",
            LoadMode::File => "file",
            LoadMode::Mlock => "mlock",
        }
    }
}

impl std::fmt::Display for LoadMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for LoadMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LoadMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("unknown load mode `{s}`: use mmap, file or mlock"))
    }
}

/// Element type of a tensor, named as ExecuTorch's `ScalarType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dtype {
    Uint8,
    Int8,
    Int16,
    Int32,
    Int64,
    Float16,
    Float32,
    Float64,
    Bool,
    Bfloat16,
    Other(i32),
}

impl Dtype {
    /// Maps ExecuTorch's `ScalarType` code.
    pub fn from_scalar_type(code: i32) -> Self {
        match code {
            0 => Dtype::Uint8,
            1 => Dtype::Int8,
            2 => Dtype::Int16,
            3 => Dtype::Int32,
            4 => Dtype::Int64,
            5 => Dtype::Float16,
            6 => Dtype::Float32,
            7 => Dtype::Float64,
            11 => Dtype::Bool,
            15 => Dtype::Bfloat16,
            other => Dtype::Other(other),
        }
    }

    /// Bytes per element (1 for unknown codes).
    pub fn element_bytes(self) -> usize {
        match self {
            Dtype::Float64 | Dtype::Int64 => 8,
            Dtype::Float32 | Dtype::Int32 => 4,
            Dtype::Bfloat16 | Dtype::Float16 | Dtype::Int16 => 2,
            _ => 1,
        }
    }

    pub fn is_integer(self) -> bool {
        matches!(self, Dtype::Uint8 | Dtype::Int8 | Dtype::Int16 | Dtype::Int32 | Dtype::Int64)
    }

    pub fn is_float(self) -> bool {
        matches!(self, Dtype::Float16 | Dtype::Float32 | Dtype::Float64 | Dtype::Bfloat16)
    }

    /// Parses a dtype name as [`Dtype::name`] writes it.
    pub fn parse(name: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
    }

    pub fn name(self) -> String {
        match self {
            Dtype::Other(code) => format!("scalar_type_{code}"),
            known => serde_json::to_value(known).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
        }
    }
}

/// What kind of value a method input or output is (ExecuTorch's `Tag`, reduced to what a runner can feed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    #[default]
    Tensor,
    Int,
    Double,
    Bool,
    /// Strings, lists, None: listed, never fed.
    Other,
}

impl ValueKind {
    fn is_tensor(&self) -> bool {
        *self == ValueKind::Tensor
    }
}

/// Shape and type of one method input or output (`None` dtype and no sizes for non-tensor values).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    #[serde(default, skip_serializing_if = "ValueKind::is_tensor")]
    pub kind: ValueKind,
    pub dtype: Option<Dtype>,
    pub sizes: Vec<i64>,
}

impl TensorSpec {
    pub fn tensor(dtype: Dtype, sizes: Vec<i64>) -> Self {
        Self { kind: ValueKind::Tensor, dtype: Some(dtype), sizes }
    }

    pub fn numel(&self) -> i64 {
        self.sizes.iter().product()
    }

    /// `int64[1, 32]`, `float32[1, 3, 32, 32]`, `int`, `bool`.
    pub fn describe(&self) -> String {
        match (self.kind, self.dtype) {
            (ValueKind::Tensor, Some(d)) => {
                let sizes: Vec<String> = self.sizes.iter().map(i64::to_string).collect();
                format!("{}[{}]", d.name(), sizes.join(", "))
            }
            (kind, _) => {
                serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
            }
        }
    }
}

/// What one input was actually given: its spec, what it is, and a hash of the bytes fed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputRecord {
    pub index: u32,
    pub spec: InputSpec,
    #[serde(flatten)]
    pub value: TensorSpec,
    /// sha256 of the raw little-endian bytes fed (a scalar's 8-byte value), so two devices can be shown to have
    /// run on identical inputs.
    pub sha256: String,
}

/// First line of every run: what was loaded, how, and with which runtime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunnerMeta {
    /// Which model of a paired session (the index of its path on the command line; 0 when there is one).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub model: u32,
    pub runner_version: String,
    pub executorch_version: String,
    pub target_triple: String,
    pub pid: u32,
    pub model_path: String,
    pub model_size_bytes: Option<u64>,
    pub methods: Vec<String>,
    /// The specification the runner acted on.
    pub spec: RunSpec,
    pub threads_effective: Option<u32>,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    /// What each input was fed (empty with `--describe`).
    #[serde(default)]
    pub inputs_used: Vec<InputRecord>,
    /// The token ids of the token input (input 0 when it is an integer tensor), else empty.
    #[serde(default)]
    pub input_ids: Vec<i64>,
    /// The runner was built without optimisations (its timings are not representative).
    #[serde(default)]
    pub debug_build: bool,
    /// Values of the program's constant metadata methods (`get_max_seq_len`, `use_kv_cache`, …).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metadata: std::collections::BTreeMap<String, MetaValue>,
    /// How the program generates text, when it is an LLM program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmProgram>,
    /// The prompt of a generation run: the depth tokens, then the prefill tokens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompt_ids: Vec<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum PhaseKind {
    /// `Program::load` through the data loader (mmap/file/mlock).
    ProgramLoad,
    /// `Method` init: memory planning, kernel lookup, delegate init (XNNPACK repacks weights here).
    MethodLoad,
    /// The first `execute` after method load (cold caches, page-ins of mmapped weights).
    FirstForward,
    /// Untimed-for-statistics warm-up iterations.
    Warmup,
    /// The timed iterations whose samples feed the statistics.
    Timed,
    /// Greedy generation: one forward per new token over the sliding window (no KV cache).
    Generate,
    /// LLM programs: the timed prompt calls of a generation.
    Prefill,
    /// LLM programs: one decode step (one new token through the cache).
    Decode,
}

impl PhaseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseKind::ProgramLoad => "program_load",
            PhaseKind::MethodLoad => "method_load",
            PhaseKind::FirstForward => "first_forward",
            PhaseKind::Warmup => "warmup",
            PhaseKind::Timed => "timed",
            PhaseKind::Generate => "generate",
            PhaseKind::Prefill => "prefill",
            PhaseKind::Decode => "decode",
        }
    }
}

/// Memory of the runner process at the end of a phase. The peak fields are per phase where the kernel lets the
/// runner reset them (`/proc/self/clear_refs`), which `peak_reset` records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemorySnapshot {
    pub vm_hwm_bytes: Option<u64>,
    pub ru_maxrss_bytes: Option<u64>,
    pub rss_bytes: Option<u64>,
    pub rss_anon_bytes: Option<u64>,
    pub rss_file_bytes: Option<u64>,
    pub minor_faults: Option<u64>,
    pub major_faults: Option<u64>,
    pub peak_reset: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseRecord {
    /// Which model of a paired session (the index of its path on the command line; 0 when there is one).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub model: u32,
    pub phase: PhaseKind,
    /// Wall time of the whole phase on the device's monotonic clock.
    pub duration_ns: u64,
    pub iterations: u32,
    pub memory: MemorySnapshot,
}

/// One `execute` call, timed on the device's monotonic clock around `execute` only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    /// Which model of a paired session (the index of its path on the command line; 0 when there is one).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub model: u32,
    pub phase: PhaseKind,
    pub index: u32,
    pub latency_ns: u64,
    /// The round of a paired session: samples of different models with the same round were measured back to back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<u32>,
}

/// What one output looked like after the last timed iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputCheck {
    /// The output's index (checks are listed for every tensor output).
    #[serde(default)]
    pub index: u32,
    pub sizes: Vec<i64>,
    pub dtype: Dtype,
    pub nan_count: u64,
    pub inf_count: u64,
    /// argmax over the last dimension at the last real position (the next-token prediction for a logits output);
    /// only for floating outputs whose last dimension has more than one element.
    pub argmax_last: Option<u64>,
    /// Sum of all elements in f64; a cheap fingerprint of the whole output.
    pub sum: Option<f64>,
}

impl OutputCheck {
    pub fn is_finite(&self) -> bool {
        self.nan_count == 0 && self.inf_count == 0
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunnerSummary {
    /// Which model of a paired session (the index of its path on the command line; 0 when there is one).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub model: u32,
    pub warmup_iterations: u32,
    pub timed_iterations: u32,
    pub outputs: Vec<OutputCheck>,
    /// Greedily generated token ids, when `--generate` was given.
    #[serde(default)]
    pub generated: Vec<i64>,
}

/// Why a run failed, coarse enough for the host to decide what to tell the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    ModelNotFound,
    NotAFile,
    EmptyFile,
    ProgramLoad,
    MethodNotFound,
    MethodLoad,
    InvalidInput,
    Execute,
    Output,
    Io,
    /// Host side: the runner died (signal) or broke the protocol.
    RunnerCrashed,
    /// Host side: the runner could not be started.
    RunnerMissing,
    /// The runner was killed for exceeding its memory limit (`--memory-limit`) or the device's memory.
    Oom,
    /// Host side: the runner stopped answering for longer than the run timeout and was killed.
    Timeout,
    /// Host side: etbench was interrupted (Ctrl-C, SIGTERM) and stopped the runner; `run --resume` redoes the run.
    Interrupted,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunnerError {
    /// Which model of a paired session (the index of its path on the command line; 0 when there is one).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub model: u32,
    pub kind: ErrorKind,
    /// The phase in which it happened, if any had started.
    pub phase: Option<PhaseKind>,
    /// ExecuTorch's `runtime::Error` code, when the runtime reported one.
    pub executorch_error: Option<u32>,
    pub message: String,
}

/// Parses a size: bytes, or a number with a K/M/G suffix (binary units): `512M`, `2G`, `1.5G`, `1000`.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len()));
    let scale: f64 = match unit.trim().to_ascii_uppercase().trim_end_matches("IB").trim_end_matches('B') {
        "" => 1.0,
        "K" => 1024.0,
        "M" => 1024.0 * 1024.0,
        "G" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("`{text}`: use bytes or a K/M/G suffix (e.g. 512M)")),
    };
    let value: f64 = digits.parse().map_err(|_| format!("`{text}` is not a size"))?;
    Ok((value * scale) as u64)
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_with_version_and_tag() {
        let line = Line::new(Message::Sample(SampleRecord {
            model: 0,
            phase: PhaseKind::Timed,
            index: 3,
            latency_ns: 42,
            round: None,
        }));
        let text = line.to_json();
        assert!(text.contains("\"v\":2"), "{text}");
        assert!(text.contains("\"type\":\"sample\""), "{text}");
        assert_eq!(Line::parse(&text).unwrap(), line);
    }

    #[test]
    fn other_protocol_versions_are_refused() {
        let text = r#"{"v":99,"type":"sample","phase":"timed","index":0,"latency_ns":1}"#;
        assert_eq!(Line::parse(text), Err(ParseError::Version { found: 99 }));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        assert!(matches!(Line::parse("cpuinfo: hello"), Err(ParseError::Malformed(_))));
        assert!(matches!(Line::parse(r#"{"v":2,"type":"nope"}"#), Err(ParseError::Malformed(_))));
    }

    #[test]
    fn scalar_type_codes_map_to_names() {
        assert_eq!(Dtype::from_scalar_type(4), Dtype::Int64);
        assert_eq!(Dtype::from_scalar_type(15).name(), "bfloat16");
        assert_eq!(Dtype::from_scalar_type(99).name(), "scalar_type_99");
    }

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_bytes("512M").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("2G").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("1000").unwrap(), 1000);
        assert!(parse_bytes("12Q").is_err() && parse_bytes("x").is_err());
    }

    #[test]
    fn load_mode_parses_its_own_names() {
        for mode in LoadMode::ALL {
            assert_eq!(mode.as_str().parse::<LoadMode>().unwrap(), mode);
        }
        assert!("mmapp".parse::<LoadMode>().unwrap_err().contains("mmap, file or mlock"));
    }
}
