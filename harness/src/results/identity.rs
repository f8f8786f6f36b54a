//! The one identity of a run: everything that makes two runs measure the same thing. Report grouping, `compare`'s
//! differences, the history's series, run ids, ETDump file names, `--resume` and the CSV/JSON/PyTorch/BMF keys all
//! derive from [`RunIdentity`], so two runs that measured different things (other cores, another memory limit,
//! another workload) can never be pooled, judged as one setting or given one id.
//!
//! Two forms: [`RunIdentity::of`] reads a finished row (effective threads as the runner reported them, the inputs it
//! actually fed); [`RunIdentity::planned`] is what the host knows before the run ([`RunIdentity::run_id`], `--resume`).

use std::fmt;

use sha2::{Digest, Sha256};

use super::{RunParams, RunResult};

/// What makes two runs comparable. The model is identified by content (sha256); its name is carried for display
/// only and ignored by equality and ordering.
#[derive(Debug, Clone)]
pub struct RunIdentity {
    pub device: String,
    pub model_name: String,
    pub model_sha256: String,
    /// The method, marked `(profiled)`, `(paired)` or `(paired processes)` when its timings are not comparable with a
    /// plain run's.
    pub method: String,
    /// Effective threads when the runner reported them, else the requested count.
    pub threads: Option<u32>,
    /// The CPUs the runner was pinned to (`--cpu-affinity`, or what `--cores big|little` chose), as canonical hex
    /// ([`etbench_protocol::CpuMask`]'s form: `0x02` and `2` are one mask).
    pub cpu_affinity: Option<String>,
    /// The memory cgroup limit the run had (`--memory-limit`).
    pub memory_limit_bytes: Option<u64>,
    pub load_mode: String,
    /// What was fed: the token ids of a one-input token model, else every input's spec and a digest of the
    /// bytes (`default` when unknown), or the generation workload; runs on different inputs are never pooled.
    pub input: String,
    /// The model's own runner (`--runner` per model, host path), when it had one: two ExecuTorch builds running the
    /// same `.pte` are two variants, never pooled.
    pub runner: Option<String>,
    /// An energy source was sampled on a side thread during the timed phases (`--energy`).
    pub energy: bool,
}

impl RunIdentity {
    /// The identity of a finished (or failed) row.
    pub fn of(run: &RunResult) -> Self {
        let ids = run
            .runner
            .as_ref()
            .map(|r| r.input_ids.clone())
            .filter(|v| !v.is_empty())
            .or(run.params.input_ids().map(<[i64]>::to_vec));
        Self {
            input: input_key(run, ids),
            method: method_label(run),
            threads: effective_threads(run),
            ..Self::planned(&run.device.name, &run.model.name, &run.model.sha256, &run.params)
        }
    }

    /// What the host knows of a run before it starts: the requested threads and the inputs as specified.
    pub fn planned(device: &str, model_name: &str, model_sha256: &str, params: &RunParams) -> Self {
        let spec = &params.spec;
        let input = match &spec.llm {
            Some(w) => workload_label(w),
            None => specified_inputs(spec),
        };
        let mut method = spec.method.clone();
        if spec.profile {
            method.push_str(" (profiled)");
        }
        Self {
            device: device.to_owned(),
            model_name: model_name.to_owned(),
            model_sha256: model_sha256.to_owned(),
            method,
            threads: spec.threads,
            cpu_affinity: spec.cpu_affinity.as_ref().map(|m| m.to_string()),
            memory_limit_bytes: spec.memory_limit_bytes,
            load_mode: spec.load_mode.to_string(),
            input,
            runner: params.runner.clone(),
            energy: spec.energy.is_some(),
        }
    }

    /// A run's id, unique within one sweep: `local/bf16/mmap/t2/r0`, with the axes that vary only when set
    /// (`…/t1/cpus0x2/mem512MiB/pp32-tg32/r0`), so ids of plain runs read as they always did.
    pub fn run_id(device: &str, model: &str, params: &RunParams) -> String {
        let spec = &params.spec;
        let threads = spec.threads.map(|t| t.to_string()).unwrap_or_else(|| "auto".into());
        let mut id = format!("{device}/{model}/{}/t{threads}", spec.load_mode);
        id.push_str(&Self::planned(device, model, "", params).qualifiers("/"));
        id.push_str(&format!("/r{}", params.repeat_index));
        id
    }

    /// The axes beyond model, load mode and threads that a file name or id must carry when set, each after `sep`:
    /// CPU mask, memory limit, generation workload.
    pub fn qualifiers(&self, sep: &str) -> String {
        let mut out = self.placement(sep);
        if self.input.starts_with("pp") {
            let workload = self.input.split(" (").next().unwrap_or_default();
            out.push_str(&format!("{sep}{}", workload.replace(" @ ", "-").replace(' ', "-")));
        }
        out
    }

    /// The fields that decide whether two runs may be compared, named for messages: every part of the identity,
    /// so two identities that differ always say where.
    pub fn fields(&self) -> [(&'static str, String); 10] {
        [
            ("device", self.device.clone()),
            ("model sha256", short_sha(&self.model_sha256).to_owned()),
            ("method", self.method.clone()),
            ("threads", threads_label(self.threads)),
            ("CPU affinity", self.cpu_affinity.clone().unwrap_or_else(|| "none (any CPU)".into())),
            ("memory limit", self.memory_limit_bytes.map(crate::units::flag_bytes).unwrap_or_else(|| "none".into())),
            ("load mode", self.load_mode.clone()),
            ("input", self.input.clone()),
            ("runner file", self.runner.clone().unwrap_or_else(|| "the device's".into())),
            ("energy sampling", if self.energy { "on" } else { "off" }.into()),
        ]
    }

    /// Slug for file-like names: `local/gemma3n-tiny-bf16/forward/t2/mmap` (`/cpus0x2`, `/mem2GiB` when set).
    pub fn slug(&self) -> String {
        let mut slug = format!(
            "{}/{}/{}/t{}/{}",
            self.device,
            self.model_name,
            self.method,
            threads_label(self.threads),
            self.load_mode
        );
        slug.push_str(&self.placement("/"));
        slug
    }

    /// Where the run was allowed to execute, each part after `sep` when set: `cpus0x2`, `mem512MiB`.
    fn placement(&self, sep: &str) -> String {
        let mut out = String::new();
        if let Some(mask) = &self.cpu_affinity {
            out.push_str(&format!("{sep}cpus{mask}"));
        }
        if let Some(limit) = self.memory_limit_bytes {
            out.push_str(&format!("{sep}mem{}", crate::units::flag_bytes(limit).replace(' ', "")));
        }
        out
    }

    /// The settings beyond method, threads and load mode, for display when set: `CPUs 0x2, memory limit 512 MiB,
    /// energy sampled`; empty for a plain run.
    pub fn extras(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(mask) = &self.cpu_affinity {
            out.push(format!("CPUs {mask}"));
        }
        if let Some(limit) = self.memory_limit_bytes {
            out.push(format!("memory limit {}", crate::units::flag_bytes(limit)));
        }
        if self.energy {
            out.push("energy sampled".into());
        }
        out
    }

    /// A stable digest of the identity (the model by content, not by name): 16 hex digits.
    pub fn digest(&self) -> String {
        let fields = self.fields();
        let parts = fields.iter().flat_map(|(name, value)| {
            let value = if *name == "model sha256" { self.model_sha256.as_str() } else { value.as_str() };
            [*name, value]
        });
        short_digest(parts)
    }

    fn tuple(&self) -> impl Ord + '_ {
        (
            (&self.device, &self.model_sha256, &self.method, self.threads),
            (&self.cpu_affinity, self.memory_limit_bytes, &self.load_mode, &self.input, &self.runner, self.energy),
        )
    }
}

impl PartialEq for RunIdentity {
    fn eq(&self, other: &Self) -> bool {
        self.tuple() == other.tuple()
    }
}

impl Eq for RunIdentity {}

impl PartialOrd for RunIdentity {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RunIdentity {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.tuple().cmp(&other.tuple())
    }
}

impl fmt::Display for RunIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} on {} ({}, {}, {}",
            self.model_name,
            self.device,
            self.method,
            threads_phrase(self.threads),
            self.load_mode
        )?;
        for extra in self.extras() {
            write!(f, ", {extra}")?;
        }
        write!(f, ")")
    }
}

/// The threads a run used: the runner's effective count when it reported one, else the requested count. The one
/// place this rule lives.
pub fn effective_threads(run: &RunResult) -> Option<u32> {
    run.runner.as_ref().and_then(|r| r.threads_effective).or(run.params.spec.threads)
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

/// A stable 16-hex-digit digest of `parts` (sha256 of each part followed by a NUL byte): the identity digests of
/// runs and of history series.
pub fn short_digest<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
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
        (_, []) => specified_inputs(&run.params.spec),
        (_, used) => {
            let specs: Vec<String> = used.iter().map(|u| u.spec.to_string()).collect();
            let hashes: String = used.iter().map(|u| u.sha256.as_str()).collect();
            let digest = input_digest(&hashes.bytes().map(i64::from).collect::<Vec<_>>());
            format!("{} ({})", specs.join(" + "), digest.rsplit(' ').next().unwrap_or_default())
        }
    }
}

/// The inputs as the spec gives them (`ids:1,2 + zeros`), `default` when it gives none.
fn specified_inputs(spec: &etbench_protocol::RunSpec) -> String {
    if spec.inputs.is_empty() {
        return "default".into();
    }
    spec.inputs.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" + ")
}

/// `pp64 tg64`, `pp512 tg128 @ d1024`: llama-bench's names for a generation workload.
pub fn workload_label(w: &etbench_protocol::LlmSpec) -> String {
    let depth = if w.depth > 0 { format!(" @ d{}", w.depth) } else { String::new() };
    format!("pp{} tg{}{depth}", w.prefill, w.decode)
}

/// `n ids, fnv1a:xxxxxxxx`: short, stable, and different whenever the ids differ.
pub fn input_digest(ids: &[i64]) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in ids.iter().flat_map(|v| v.to_le_bytes()) {
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    format!("{} ids, fnv1a:{h:08x}", ids.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(runner: Option<&str>, mask: Option<&str>) -> RunIdentity {
        RunIdentity {
            device: "d".into(),
            model_name: "m".into(),
            model_sha256: "0".repeat(64),
            method: "forward".into(),
            threads: Some(1),
            cpu_affinity: mask.map(|m| m.parse::<etbench_protocol::CpuMask>().unwrap().to_string()),
            memory_limit_bytes: None,
            load_mode: "mmap".into(),
            input: "default".into(),
            runner: runner.map(str::to_owned),
            energy: false,
        }
    }

    fn differing(a: &RunIdentity, b: &RunIdentity) -> Vec<&'static str> {
        a.fields().iter().zip(b.fields().iter()).filter(|(x, y)| x != y).map(|(x, _)| x.0).collect()
    }

    #[test]
    fn input_digest_differs_when_ids_differ() {
        assert_ne!(input_digest(&[1, 2, 3]), input_digest(&[1, 2, 4]));
        assert_eq!(input_digest(&[1, 2, 3]), input_digest(&[1, 2, 3]));
        assert!(input_digest(&[1, 2, 3]).starts_with("3 ids"));
    }

    #[test]
    fn identities_that_differ_only_in_their_runner_name_it() {
        let (a, b) = (identity(None, None), identity(Some("/opt/et-1.6/etbench-runner"), None));
        assert_ne!(a, b);
        assert_eq!(differing(&a, &b), ["runner file"]);
    }

    #[test]
    fn identities_on_other_cores_differ_and_say_so() {
        let (a, b) = (identity(None, Some("0x1")), identity(None, Some("0x2")));
        assert_ne!(a, b);
        assert_ne!(a.digest(), b.digest());
        assert_eq!(differing(&a, &b), ["CPU affinity"]);
        // The same mask written two ways is one identity.
        assert_eq!(identity(None, Some("0x02")), identity(None, Some("2")));
        assert_eq!(identity(None, Some("0X2")).digest(), b.digest());
    }

    #[test]
    fn the_model_name_is_not_part_of_the_identity() {
        let a = identity(None, None);
        let b = RunIdentity { model_name: "renamed".into(), ..a.clone() };
        assert_eq!(a, b);
        assert_eq!(a.digest(), b.digest());
    }
}
