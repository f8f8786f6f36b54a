//! The run specification: everything the runner does in one run, built once on the host (defaults ← device
//! profile ← command line), sent to the runner as one JSON value and recorded verbatim in `results.json`.
//!
//! Adding a setting is one field here (with its default in [`RunSpec::default`]) and one flag on the host.

use serde::{Deserialize, Serialize};

use crate::LoadMode;

/// One run's settings. Every field has a default, so a partial JSON object (`{"iterations": 5}`) is a valid spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunSpec {
    /// Method to run.
    pub method: String,
    pub load_mode: LoadMode,
    /// Untimed iterations after the first (cold) forward.
    pub warmup: u32,
    /// Timed iterations: the statistics come from these only (at least 1).
    pub iterations: u32,
    /// ExecuTorch threadpool size (`None`: the runtime's choice).
    pub threads: Option<u32>,
    /// What to feed each input, by index; inputs not listed get [`InputSpec::default_for`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputSpec>,
    /// Leading positions of the token input that hold real tokens (prompt runs); the argmax is read at the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub real_tokens: Option<u32>,
    /// Greedy tokens generated after the timed loop (one full forward each: no KV cache).
    #[serde(skip_serializing_if = "is_zero")]
    pub generate: u32,
    /// Wait before loading until the hottest thermal zone is below this (°C)…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thermal_gate_c: Option<f64>,
    /// …for at most this long; a timeout is recorded and the run goes on.
    pub gate_timeout_s: f64,
    /// CPUs the runner (and ExecuTorch's threads) are pinned to: a hex mask on the wire (`"0xf0"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_affinity: Option<crate::CpuMask>,
    /// Record an ETDump per-operator profile (adds per-op overhead: never compare with unprofiled runs).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub profile: bool,
    /// Run inside a memory cgroup of this many bytes (an OOM kill becomes an `oom` row).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_limit_bytes: Option<u64>,
    /// Measure streaming memory bandwidth before loading (roofline in reports).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub bandwidth_probe: bool,
    /// Keep iterating until the 95 % interval of the median (of each model's paired ratio to the first model, in a
    /// paired session) is within ± this many percent; `iterations` is then the most, `min_iterations` the least.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until_ci_pct: Option<f64>,
    /// Stop timing once this many seconds of timed iterations have passed (after `min_iterations`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_time_s: Option<f64>,
    /// The fewest timed iterations an adaptive or time-bounded run takes.
    pub min_iterations: u32,
    /// Order of the models within each round of a paired session (several models in one runner process).
    #[serde(skip_serializing_if = "Order::is_default")]
    pub order: Order,
    /// Seconds between heartbeat lines (0: none).
    pub heartbeat_s: f64,
    /// The generation workload (LLM programs): each warm-up and timed iteration is then one whole generation —
    /// prefill, then decode steps — instead of one forward.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm: Option<crate::LlmSpec>,
    /// Sample a power or energy source on the device during the timed phases and an idle baseline (`--energy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy: Option<crate::EnergyRequest>,
}

/// How a paired session orders its models round by round. Balanced orders cancel a steady drift within a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Order {
    /// A B, then B A, … (with more models: rotated, then reversed): balanced over every two rounds.
    #[default]
    Abba,
    /// A fresh seeded random permutation per round.
    Random { seed: u64 },
}

impl Order {
    fn is_default(&self) -> bool {
        *self == Order::Abba
    }

    /// The model indices in the order round `round` runs them.
    pub fn round(&self, round: u32, models: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..models).collect();
        match self {
            Order::Abba => {
                if models > 2 {
                    order.rotate_left((round as usize / 2) % models);
                }
                if round % 2 == 1 {
                    order.reverse();
                }
            }
            Order::Random { seed } => {
                let mut draws = splitmix64(seed.wrapping_add(round as u64).wrapping_mul(0x2545_F491_4F6C_DD1D), models);
                for i in (1..models).rev() {
                    let j = (draws.next().unwrap_or(0) % (i as u64 + 1)) as usize;
                    order.swap(i, j);
                }
            }
        }
        order
    }
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

impl Default for RunSpec {
    fn default() -> Self {
        Self {
            method: "forward".into(),
            load_mode: LoadMode::Mmap,
            warmup: 3,
            iterations: 20,
            threads: None,
            inputs: Vec::new(),
            real_tokens: None,
            generate: 0,
            thermal_gate_c: None,
            gate_timeout_s: 300.0,
            cpu_affinity: None,
            profile: false,
            memory_limit_bytes: None,
            bandwidth_probe: false,
            until_ci_pct: None,
            max_time_s: None,
            min_iterations: 3,
            order: Order::Abba,
            heartbeat_s: 10.0,
            llm: None,
            energy: None,
        }
    }
}

impl RunSpec {
    /// Checks what a spec can get wrong on its own (before any device or model is touched).
    pub fn validate(&self) -> Result<(), String> {
        if self.iterations == 0 {
            return Err("iterations must be at least 1".into());
        }
        if self.method.is_empty() {
            return Err("method is empty".into());
        }
        if self.threads == Some(0) {
            return Err("threads must be at least 1 (leave it out for the runtime's choice)".into());
        }
        if let Some(pct) = self.until_ci_pct.filter(|p| !(*p > 0.0 && p.is_finite())) {
            return Err(format!("until_ci_pct {pct} must be a percentage above 0 (e.g. 2)"));
        }
        if let Some(t) = self.max_time_s.filter(|t| !(*t > 0.0 && t.is_finite())) {
            return Err(format!("max_time_s {t} must be a number of seconds above 0"));
        }
        if !(self.heartbeat_s >= 0.0 && self.heartbeat_s.is_finite()) {
            return Err(format!(
                "heartbeat_s {} must be a number of seconds ≥ 0 (0 turns heartbeats off)",
                self.heartbeat_s
            ));
        }
        if self.min_iterations == 0 {
            return Err("min_iterations must be at least 1".into());
        }
        if let Some(llm) = &self.llm {
            llm.validate()?;
            if self.generate > 0 {
                return Err(
                    "generate (no-cache greedy tokens) and llm (a generation workload) exclude each other".into()
                );
            }
        }
        if let Some(energy) = &self.energy {
            energy.validate()?;
        }
        if !(self.gate_timeout_s >= 0.0 && self.gate_timeout_s.is_finite()) {
            return Err(format!("gate_timeout_s {} must be a finite number of seconds ≥ 0", self.gate_timeout_s));
        }
        Ok(())
    }

    /// The input spec for `index` (explicit, or the default rule for its kind).
    pub fn input_for(&self, index: usize, kind: &crate::TensorSpec) -> InputSpec {
        self.inputs
            .get(index)
            .cloned()
            .filter(|s| *s != InputSpec::Default)
            .unwrap_or_else(|| InputSpec::default_for(kind))
    }

    /// Applies a JSON object of overrides (e.g. a device profile's `[run]` table) on top of this spec.
    pub fn merged(&self, overrides: &serde_json::Value) -> Result<Self, String> {
        let mut base = serde_json::to_value(self).map_err(|e| e.to_string())?;
        let (Some(base_map), Some(over)) = (base.as_object_mut(), overrides.as_object()) else {
            return Err("run settings must be a table of key = value".into());
        };
        for (k, v) in over {
            base_map.insert(k.clone(), v.clone());
        }
        let spec: RunSpec = serde_json::from_value(base).map_err(|e| e.to_string())?;
        spec.validate()?;
        Ok(spec)
    }
}

/// What one input gets. Written and read as text: `ids`, `ids:2,33,64`, `zeros`, `ones`, `random`, `random:7`,
/// `file:PATH` (raw little-endian bytes, or `.npy` with dtype and shape checked), `int:N`, `double:X`, `bool:B`.
#[derive(Debug, Clone, PartialEq)]
pub enum InputSpec {
    /// Placeholder for "use the default rule" when a later index is set explicitly.
    Default,
    /// `ids[i] = 2 + (i * 31) % 509` over the flat index: deterministic and inside any vocabulary of ≥ 512.
    Ids,
    /// Explicit integer values (token ids from `--input-ids` or a prompt), exactly the input's element count.
    Values(Vec<i64>),
    Zeros,
    Ones,
    /// SplitMix64 over the flat element index from `seed`: floats uniform in [-1, 1), integers in 0..100, bools
    /// 0/1. The same bytes on every device and every run.
    Random {
        seed: u64,
    },
    File {
        path: String,
    },
    Int(i64),
    Double(f64),
    Bool(bool),
}

impl InputSpec {
    /// The default for an input of this kind: `ids` for integer tensors, `random:0` for floating tensors, zeros
    /// (0, false, 0.0) for bool tensors and scalars.
    pub fn default_for(kind: &crate::TensorSpec) -> Self {
        match kind {
            crate::TensorSpec { kind: crate::ValueKind::Tensor, dtype: Some(d), .. } if d.is_integer() => {
                InputSpec::Ids
            }
            crate::TensorSpec { kind: crate::ValueKind::Tensor, dtype: Some(d), .. } if d.is_float() => {
                InputSpec::Random { seed: 0 }
            }
            _ => InputSpec::Zeros,
        }
    }

    /// Whether this spec names a file that must reach the device.
    pub fn file(&self) -> Option<&str> {
        match self {
            InputSpec::File { path } => Some(path),
            _ => None,
        }
    }
}

impl std::fmt::Display for InputSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputSpec::Default => f.write_str("default"),
            InputSpec::Ids => f.write_str("ids"),
            InputSpec::Values(v) => {
                let list: Vec<String> = v.iter().map(i64::to_string).collect();
                write!(f, "ids:{}", list.join(","))
            }
            InputSpec::Zeros => f.write_str("zeros"),
            InputSpec::Ones => f.write_str("ones"),
            InputSpec::Random { seed } => write!(f, "random:{seed}"),
            InputSpec::File { path } => write!(f, "file:{path}"),
            InputSpec::Int(v) => write!(f, "int:{v}"),
            InputSpec::Double(v) => write!(f, "double:{v}"),
            InputSpec::Bool(v) => write!(f, "bool:{v}"),
        }
    }
}

impl std::str::FromStr for InputSpec {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let (head, arg) = match text.split_once(':') {
            Some((h, a)) => (h, Some(a)),
            None => (text, None),
        };
        let bad = |what: &str| format!("input `{text}`: {what}");
        Ok(match (head, arg) {
            ("default", None) => InputSpec::Default,
            ("ids", None) => InputSpec::Ids,
            ("ids", Some(list)) => InputSpec::Values(
                list.split(',')
                    .map(|t| t.trim().parse::<i64>().map_err(|_| bad(&format!("`{t}` is not an integer"))))
                    .collect::<Result<_, _>>()?,
            ),
            ("zeros", None) => InputSpec::Zeros,
            ("ones", None) => InputSpec::Ones,
            ("random", None) => InputSpec::Random { seed: 0 },
            ("random", Some(seed)) => {
                InputSpec::Random { seed: seed.parse().map_err(|_| bad("the seed must be a non-negative integer"))? }
            }
            ("file", Some(path)) if !path.is_empty() => InputSpec::File { path: path.to_owned() },
            ("int", Some(v)) => InputSpec::Int(v.parse().map_err(|_| bad("not an integer"))?),
            ("double", Some(v)) => InputSpec::Double(v.parse().map_err(|_| bad("not a number"))?),
            ("bool", Some(v)) => InputSpec::Bool(v.parse().map_err(|_| bad("use bool:true or bool:false"))?),
            _ => {
                return Err(bad("use ids, ids:1,2,3, zeros, ones, random[:SEED], file:PATH, int:N, double:X or bool:B"))
            }
        })
    }
}

impl Serialize for InputSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for InputSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// SplitMix64 (Steele, Lea & Flood 2014): the generator behind `random:SEED`, reimplemented by the export
/// scripts to record expected outputs. `n` values for flat indices 0..n.
pub fn splitmix64(seed: u64, n: usize) -> impl Iterator<Item = u64> {
    let mut state = seed;
    (0..n).map(move |_| {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

/// Indices (into the sorted values) of the distribution-free 95 % interval of the median of `n` values: order
/// statistics n/2 ± 0.98·√n (coverage ≥ 95 % for continuous data). `None` below 6 values, where it is undefined.
/// The runner's adaptive stop and the host's intervals use this one rule.
pub fn median_interval_ranks(n: usize) -> Option<(usize, usize)> {
    if n < 6 {
        return None;
    }
    let spread = 0.98 * (n as f64).sqrt();
    let lo = ((n as f64 / 2.0 - spread).floor().max(1.0) as usize) - 1;
    let hi = ((n as f64 / 2.0 + 1.0 + spread).ceil() as usize).min(n) - 1;
    Some((lo, hi))
}

/// The `ids` formula.
pub fn default_ids(n: usize) -> Vec<i64> {
    (0..n).map(|i| 2 + (i as i64 * 31) % 509).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_specs_round_trip_through_text() {
        for text in
            ["ids", "ids:1,2,3", "zeros", "ones", "random:7", "file:/a b/c.npy", "int:-3", "double:0.5", "bool:true"]
        {
            let spec: InputSpec = text.parse().unwrap();
            assert_eq!(spec.to_string(), text);
        }
        assert_eq!("random".parse::<InputSpec>().unwrap(), InputSpec::Random { seed: 0 });
    }

    #[test]
    fn bad_input_specs_say_what_is_accepted() {
        let err = "gauss".parse::<InputSpec>().unwrap_err();
        assert!(err.contains("`gauss`") && err.contains("random[:SEED]"), "{err}");
        assert!("ids:1,x".parse::<InputSpec>().unwrap_err().contains("`x` is not an integer"));
        assert!("file:".parse::<InputSpec>().is_err());
    }

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // First outputs of SplitMix64 seeded with 0 (the published reference values).
        let v: Vec<u64> = splitmix64(0, 3).collect();
        assert_eq!(v, vec![0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]);
    }

    #[test]
    fn partial_json_is_a_spec_and_unknown_keys_are_refused() {
        let spec: RunSpec = serde_json::from_str(r#"{"iterations": 5, "inputs": ["zeros", "ids"]}"#).unwrap();
        assert_eq!((spec.iterations, spec.warmup, spec.inputs.len()), (5, 3, 2));
        let err = serde_json::from_str::<RunSpec>(r#"{"iters": 5}"#).unwrap_err().to_string();
        assert!(err.contains("unknown field `iters`"), "{err}");
    }

    #[test]
    fn overrides_merge_onto_a_spec_and_are_validated() {
        let base = RunSpec::default();
        let merged = base.merged(&serde_json::json!({"threads": 4, "cpu_affinity": "0xf0"})).unwrap();
        let mask = merged.cpu_affinity.as_ref().map(|m| m.to_string());
        assert_eq!((merged.threads, mask.as_deref(), merged.iterations), (Some(4), Some("0xf0"), 20));
        assert!(base.merged(&serde_json::json!({"iterations": 0})).unwrap_err().contains("at least 1"));
        assert!(base.merged(&serde_json::json!({"warmpu": 1})).unwrap_err().contains("warmpu"));
        let err = base.merged(&serde_json::json!({"cpu_affinity": "0x0"})).unwrap_err();
        assert!(err.contains("`0x0` selects no CPU"), "{err}");
    }
}

#[cfg(test)]
mod order_tests {
    use super::*;

    #[test]
    fn abba_is_balanced_over_two_rounds() {
        assert_eq!(Order::Abba.round(0, 2), vec![0, 1]);
        assert_eq!(Order::Abba.round(1, 2), vec![1, 0]);
        assert_eq!(Order::Abba.round(2, 2), vec![0, 1]);
        // Three models: every model is first once in three even rounds.
        let firsts: Vec<usize> = (0..3).map(|r| Order::Abba.round(2 * r, 3)[0]).collect();
        assert_eq!(firsts, vec![0, 1, 2]);
    }

    #[test]
    fn random_order_is_a_seeded_permutation() {
        let o = Order::Random { seed: 5 };
        let a = o.round(3, 4);
        assert_eq!(a, o.round(3, 4));
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, vec![0, 1, 2, 3]);
        assert!((0..20).any(|r| o.round(r, 4) != a), "rounds differ");
    }

    #[test]
    fn adaptive_settings_are_validated() {
        let s = RunSpec { until_ci_pct: Some(0.0), ..RunSpec::default() };
        assert!(s.validate().unwrap_err().contains("above 0"));
    }
}
