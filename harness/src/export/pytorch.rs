//! PyTorch OSS benchmark database records, schema v3: rows of the ClickHouse table `benchmark.oss_ci_benchmark_v3`
//! that the PyTorch and ExecuTorch benchmark dashboards read (pytorch/test-infra,
//! `clickhouse_db_schema/benchmark.oss_ci_benchmark_v3/schema.sql`); a JSON array, one row per metric.
//!
//! Every column is written with the type the table declares — `UInt32`/`UInt64` as JSON integers, `Float32` as
//! numbers, `Map(String, String)` as objects of strings — except those only the uploader knows: `name` (the job's
//! name), `job_id` (the job's numeric id, from the GitHub API; `GITHUB_JOB` is the job's key in the workflow file and
//! goes to `benchmark.extra_info.github_job`) and `_meta` (the replicator's). The CI columns `repo`, `head_branch`,
//! `head_sha`, `workflow_id` and `run_attempt` come from GitHub Actions' environment when it is there ([`Ci`]) and are
//! left out otherwise: test-infra's `upload-benchmark-results` action lays its own metadata under each row, the row's
//! keys winning, so an empty value written here would overwrite a real one.
//!
//! The shape follows ExecuTorch's own benchmark apps and `.github/scripts/extract_benchmark_results.py`: benchmark
//! `ExecuTorch`, mode `inference`, model type `OSS model`, their metric names, one runner per device. A phone's runner
//! is named by its manufacturer and model and typed `Android <version>`, as the apps do (the dashboard's platform
//! picker looks for "Android" in the type). `benchmark.dtype` and `model.backend` are read from the program itself
//! ([`dtype_of`], [`backend_of`]) when its file is still where the run found it, with the same sha256; where the
//! program cannot say (weights inside a delegate, whose format `inspect` does not read; the file gone) they come
//! from the file name's tokens, as ExecuTorch's apps take them, and each says its source in `extra_info`.
//! `benchmark_values` holds one value per run (repeat), so the dashboard's aggregation sees every repeat.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::results::metric::{groups, load_ns, threads_label, workload_label, Group};
use crate::results::{AndroidFacts, Document, ProbedInfo, ProgramFacts, RunResult, SystemInfo};

/// A `Map(String, String)` column.
type Info = BTreeMap<&'static str, String>;

/// The CI columns, from GitHub Actions' environment; each is left out when its variable is missing or unreadable.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Ci {
    /// `GITHUB_REPOSITORY` (`owner/name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// A pull request's head branch (`GITHUB_HEAD_REF`), else the full ref (`GITHUB_REF`, `refs/heads/main`): what
    /// the uploader writes (the dashboards strip `refs/heads/`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_branch: Option<String>,
    /// A pull request's head commit (from the event payload), else `GITHUB_SHA`: on `pull_request` events that is a
    /// merge commit no branch holds, and the uploader too writes the head.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_sha: Option<String>,
    /// `GITHUB_RUN_ID`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<u64>,
    /// `GITHUB_RUN_ATTEMPT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_attempt: Option<u32>,
    /// `GITHUB_JOB`: the job's key in the workflow, not the numeric `job_id` column.
    #[serde(skip)]
    pub job: Option<String>,
}

impl Ci {
    /// The CI columns of a document: what `etbench run` recorded of its CI job ([`crate::results::CiProvenance`],
    /// read once, at run time, from GitHub Actions' environment); none outside GitHub Actions.
    pub fn of(doc: &Document) -> Self {
        let Some(ci) = doc.provenance.ci.as_ref().filter(|c| c.system == "github") else { return Self::default() };
        Self {
            repo: ci.repo.clone(),
            head_branch: ci.head_branch.clone(),
            head_sha: ci.head_sha.clone().or_else(|| ci.commit.clone()),
            workflow_id: ci.run_id.as_deref().and_then(|v| v.parse().ok()),
            run_attempt: ci.run_attempt.as_deref().and_then(|v| v.parse().ok()),
            job: ci.job.clone(),
        }
    }
}

#[derive(Serialize)]
struct Row<'a> {
    timestamp: u64,
    schema_version: &'static str,
    #[serde(flatten)]
    ci: &'a Ci,
    servicelab_experiment_id: u64,
    servicelab_trial_id: u64,
    runners: &'a [Runner],
    benchmark: &'a Benchmark,
    model: &'a Model,
    inputs: &'a BTreeMap<String, Input>,
    dependencies: &'a BTreeMap<&'static str, Dependency>,
    metric: &'a MetricRow,
}

#[derive(Serialize)]
struct Runner {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    cpu_info: String,
    cpu_count: u32,
    mem_info: String,
    avail_mem_in_gb: u32,
    gpu_info: String,
    gpu_count: u32,
    gpu_mem_info: String,
    avail_gpu_mem_in_gb: u32,
    extra_info: Info,
}

#[derive(Serialize)]
struct Benchmark {
    name: &'static str,
    mode: &'static str,
    dtype: String,
    extra_info: Info,
}

#[derive(Serialize)]
struct Model {
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    backend: String,
    origins: Vec<String>,
    extra_info: Info,
}

#[derive(Serialize)]
struct Input {
    dtype: String,
    extra_info: Info,
}

#[derive(Serialize)]
struct Dependency {
    repo: String,
    branch: String,
    sha: String,
    version: String,
    extra_info: Info,
}

#[derive(Serialize)]
struct MetricRow {
    name: &'static str,
    benchmark_values: Vec<f32>,
    target_value: f32,
    extra_info: Info,
}

/// Everything a group's rows share; one [`Row`] per metric refers to it.
struct Parts {
    timestamp: u64,
    runners: Vec<Runner>,
    benchmark: Benchmark,
    model: Model,
    inputs: BTreeMap<String, Input>,
    dependencies: BTreeMap<&'static str, Dependency>,
    metrics: Vec<MetricRow>,
}

/// The rows of `doc`, CI columns from this process's environment, programs read from their files.
/// The rows of `doc`: everything comes from the document (its CI job, each program's facts as the run recorded
/// them), so the same document gives the same rows on any machine.
pub fn render(doc: &Document) -> Vec<u8> {
    render_with(doc, &Ci::of(doc))
}

/// The rows of `doc` with the given CI columns.
pub fn render_with(doc: &Document, ci: &Ci) -> Vec<u8> {
    let parts: Vec<Parts> = groups([doc]).iter().map(|g| parts(doc, g, ci, g.runs[0].model.program.as_ref())).collect();
    let rows: Vec<Row> = parts
        .iter()
        .flat_map(|p| {
            p.metrics.iter().map(move |metric| Row {
                timestamp: p.timestamp,
                schema_version: "v3",
                ci,
                servicelab_experiment_id: 0,
                servicelab_trial_id: 0,
                runners: &p.runners,
                benchmark: &p.benchmark,
                model: &p.model,
                inputs: &p.inputs,
                dependencies: &p.dependencies,
                metric,
            })
        })
        .collect();
    let mut bytes = serde_json::to_vec_pretty(&rows).expect("plain data");
    bytes.push(b'\n');
    bytes
}

fn parts(doc: &Document, g: &Group, ci: &Ci, program: Option<&ProgramFacts>) -> Parts {
    let first = g.runs[0];
    let facts = Facts::of(first, program);
    Parts {
        // When the first run started, in seconds (the unit the uploader and the dashboards use).
        timestamp: g.runs.iter().map(|r| r.started_at.timestamp()).min().unwrap_or(0).max(0) as u64,
        runners: vec![runner(first)],
        benchmark: benchmark(g, &facts, ci),
        model: model(g, &facts, program),
        inputs: inputs(first),
        dependencies: dependencies(doc, first),
        metrics: metric_rows(g),
    }
}

/// A fact about the program and where it came from (`program`, `file name`, `unknown`).
struct Sourced {
    value: String,
    source: &'static str,
}

struct Facts {
    dtype: Sourced,
    backend: Sourced,
}

impl Facts {
    fn of(run: &RunResult, program: Option<&ProgramFacts>) -> Self {
        let sourced = |value: String, source| Sourced { value, source };
        let unknown = || Sourced { value: String::new(), source: "unknown" };
        let named = |table| name_token(&run.model.name, table).map(|t| sourced(t.to_owned(), "file name"));
        let dtype =
            program.and_then(|p| p.dtype.clone()).map(|d| sourced(d, "program")).or_else(|| named(DTYPE_TOKENS));
        let backend = program
            .map(|p| sourced(p.backend.clone(), "program"))
            // Generation runs recorded their program's delegates at run time.
            .or_else(|| {
                run.llm.as_ref().map(|l| sourced(backend_of(l.backend.iter().flat_map(|b| b.split(", "))), "program"))
            })
            .or_else(|| named(BACKEND_TOKENS));
        Self { dtype: dtype.unwrap_or_else(unknown), backend: backend.unwrap_or_else(unknown) }
    }
}

pub use crate::inspect::{backend_of, dtype_of};

/// File-name tokens naming a dtype or quantization, as ExecuTorch's benchmark apps read `model_backend_dtype`.
const DTYPE_TOKENS: &[(&str, &str)] = &[
    ("fp32", "fp32"),
    ("f32", "fp32"),
    ("float32", "fp32"),
    ("fp16", "fp16"),
    ("f16", "fp16"),
    ("float16", "fp16"),
    ("bf16", "bf16"),
    ("bfloat16", "bf16"),
    ("int8", "int8"),
    ("q8", "q8"),
    ("int4", "int4"),
    ("q4", "q4"),
    ("8da4w", "8da4w"),
    ("8da8w", "8da8w"),
];

const BACKEND_TOKENS: &[(&str, &str)] = &[
    ("xnnpack", "xnnpack"),
    ("qnn", "qnn"),
    ("coreml", "coreml"),
    ("mps", "mps"),
    ("vulkan", "vulkan"),
    ("cuda", "cuda"),
    ("mediatek", "mediatek"),
    ("openvino", "openvino"),
    ("portable", "portable"),
];

/// The first token of `name` (split at anything but letters and digits) that `table` knows, as it names it.
fn name_token(name: &str, table: &[(&str, &'static str)]) -> Option<&'static str> {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .find_map(|token| table.iter().find(|(k, _)| k.eq_ignore_ascii_case(token)).map(|(_, v)| *v))
}

fn put(info: &mut Info, key: &'static str, value: Option<String>) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        info.insert(key, v);
    }
}

/// The device the run measured: a phone by its make and model and `Android <version>`, anything else by its etbench
/// name and CPU, and `<OS> <version> (<arch>)`. etbench probes no GPU: the GPU columns are empty.
fn runner(run: &RunResult) -> Runner {
    let info = &run.device.info;
    let probed = run.device.probed.as_ref();
    let phone = probed.and_then(|p| p.android_facts.as_ref());
    let cpu = info.cpu_brand.clone().unwrap_or_else(|| info.arch.clone());
    let (name, kind) = match phone {
        Some(a) => (
            phone_name(a).unwrap_or_else(|| run.device.name.clone()),
            format!("Android {}", a.android_version.as_deref().or(info.os_version.as_deref()).unwrap_or_default())
                .trim_end()
                .to_owned(),
        ),
        None => (format!("{} ({cpu})", run.device.name), platform(info)),
    };
    Runner {
        name,
        kind,
        cpu_info: cpu,
        cpu_count: u32::try_from(info.cpu_logical_cores).unwrap_or(u32::MAX),
        mem_info: mem_info(info, probed),
        // Whole GiB of installed memory, rounded down, as the uploader's own runner record has it.
        avail_mem_in_gb: u32::try_from(info.memory_total_bytes >> 30).unwrap_or(u32::MAX),
        gpu_info: String::new(),
        gpu_count: 0,
        gpu_mem_info: String::new(),
        avail_gpu_mem_in_gb: 0,
        extra_info: runner_info(run),
    }
}

/// "Google Pixel 8"; the model alone when it already starts with the make.
fn phone_name(a: &AndroidFacts) -> Option<String> {
    let model = a.model.clone()?;
    match a.manufacturer.as_deref() {
        Some(m) if !model.to_ascii_lowercase().starts_with(&m.to_ascii_lowercase()) => Some(format!("{m} {model}")),
        _ => Some(model),
    }
}

/// "Debian GNU/Linux 12 (x86_64)".
fn platform(info: &SystemInfo) -> String {
    let os = [info.os.as_deref(), info.os_version.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
    if os.is_empty() {
        info.arch.clone()
    } else {
        format!("{os} ({})", info.arch)
    }
}

/// "23.5 GiB total, 20.1 GiB available" (available: when the device was probed); empty when unknown.
fn mem_info(info: &SystemInfo, probed: Option<&ProbedInfo>) -> String {
    let gib = crate::units::gibibytes;
    let total = Some(info.memory_total_bytes).filter(|&b| b > 0).map(|b| format!("{} total", gib(b)));
    let available = probed.and_then(|p| p.memory_available_bytes).map(|b| format!("{} available", gib(b)));
    [total, available].into_iter().flatten().collect::<Vec<_>>().join(", ")
}

fn runner_info(run: &RunResult) -> Info {
    let info = &run.device.info;
    let mut x = Info::new();
    x.insert("etbench_device", run.device.name.clone());
    x.insert("transport", run.device.transport.clone());
    x.insert("arch", info.arch.clone());
    put(&mut x, "os", info.os.clone());
    put(&mut x, "os_version", info.os_version.clone());
    put(&mut x, "kernel", info.kernel.clone());
    put(&mut x, "hostname", info.hostname.clone());
    put(&mut x, "cpu_physical_cores", info.cpu_physical_cores.map(|c| c.to_string()));
    put(&mut x, "mem_total_bytes", Some(info.memory_total_bytes).filter(|&b| b > 0).map(|b| b.to_string()));
    put(&mut x, "runner_target", run.runner.as_ref().map(|r| r.target_triple.clone()));
    if let Some(p) = &run.device.probed {
        probed_info(&mut x, p);
    }
    x
}

fn probed_info(x: &mut Info, p: &ProbedInfo) {
    put(x, "os_release", p.os_release.clone());
    put(x, "mem_available_bytes", p.memory_available_bytes.map(|b| b.to_string()));
    if let Some(a) = &p.android_facts {
        put(x, "manufacturer", a.manufacturer.clone());
        put(x, "model", a.model.clone());
        put(x, "soc", a.soc.clone());
        put(x, "android_version", a.android_version.clone());
        put(x, "android_sdk", a.sdk.map(|s| s.to_string()));
        put(x, "abi", a.abi.clone());
    }
    put(x, "build_fingerprint", p.android.get("ro.build.fingerprint").cloned());
    let clusters: Vec<String> =
        p.clusters.iter().map(|c| format!("{} {}", c.name, crate::results::cpu_list(&c.cpus))).collect();
    put(x, "cpu_clusters", Some(clusters.join(", ")));
    if let Some(libc) = &p.runner_libc {
        x.insert("runner_libc", libc.to_string());
        put(x, "runner_libc_detail", libc.detail.clone());
    }
}

fn benchmark(g: &Group, facts: &Facts, ci: &Ci) -> Benchmark {
    let spec = &g.runs[0].params.spec;
    let mut x = Info::new();
    x.insert("app_type", "etbench".into());
    x.insert("method", g.key.method.clone());
    x.insert("threads", threads_label(g.key.threads));
    x.insert("load_mode", g.key.load_mode.clone());
    x.insert("input", g.key.input.clone());
    put(&mut x, "cpu_affinity", g.key.cpu_affinity.clone());
    put(&mut x, "memory_limit_bytes", g.key.memory_limit_bytes.map(|b| b.to_string()));
    x.insert("identity", g.key.digest());
    x.insert("warmup", spec.warmup.to_string());
    x.insert("iterations", spec.iterations.to_string());
    x.insert("runs", g.runs.len().to_string());
    put(&mut x, "workload", spec.llm.as_ref().map(workload_label));
    // The whole run specification, as ExecuTorch keeps its benchmark config here.
    x.insert("run_spec", serde_json::to_string(spec).expect("plain data"));
    x.insert("dtype_source", facts.dtype.source.into());
    put(&mut x, "github_job", ci.job.clone());
    Benchmark { name: "ExecuTorch", mode: "inference", dtype: facts.dtype.value.clone(), extra_info: x }
}

fn model(g: &Group, facts: &Facts, program: Option<&ProgramFacts>) -> Model {
    let first = g.runs[0];
    let mut x = Info::new();
    x.insert("sha256", g.key.model_sha256.clone());
    x.insert("size_bytes", first.model.size_bytes.to_string());
    x.insert("backend_source", facts.backend.source.into());
    if let Some(ins) = program {
        put(&mut x, "delegates", Some(ins.delegates.join(", ")));
        let constants: Vec<String> = ins.constant_bytes_by_dtype.iter().map(|(d, b)| format!("{d}={b}")).collect();
        put(&mut x, "constant_bytes_by_dtype", Some(constants.join(" ")));
    }
    Model {
        name: g.key.model_name.clone(),
        kind: "OSS model",
        backend: facts.backend.value.clone(),
        // A .pte does not record where it was exported from: the suite it was benchmarked in is what is known.
        origins: vec!["etbench".into()],
        extra_info: x,
    }
}

/// The method's inputs as the runner reported them, `input0`, `input1`, …: dtype, shape, and what was fed.
fn inputs(run: &RunResult) -> BTreeMap<String, Input> {
    let Some(r) = &run.runner else { return BTreeMap::new() };
    r.inputs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let dtype = match spec.dtype {
                Some(d) => d.name(),
                None => {
                    serde_json::to_value(spec.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
                }
            };
            let mut x = fed(run, i);
            x.insert("shape", format!("{:?}", spec.sizes));
            (format!("input{i}"), Input { dtype, extra_info: x })
        })
        .collect()
}

/// What input `i` was fed: the bytes' record when the runner kept one, else the spec (`default` when none was given).
fn fed(run: &RunResult, i: usize) -> Info {
    let mut x = Info::new();
    let used = run.runner.as_ref().and_then(|r| r.inputs_used.iter().find(|u| u.index as usize == i));
    let spec = match (used, &run.params.spec.llm) {
        (Some(u), _) => {
            x.insert("sha256", u.sha256.clone());
            u.spec.to_string()
        }
        (None, Some(w)) => format!("the generation workload ({})", workload_label(w)),
        (None, None) => run.params.spec.inputs.get(i).map_or_else(|| "default".to_owned(), |s| s.to_string()),
    };
    x.insert("fed", spec);
    x
}

/// ExecuTorch as the runner reported it, and etbench (version and commit) as the document records it.
fn dependencies(doc: &Document, run: &RunResult) -> BTreeMap<&'static str, Dependency> {
    let mut deps = BTreeMap::new();
    let mut etbench = Info::new();
    if let Some(r) = &run.runner {
        deps.insert(
            "executorch",
            Dependency {
                repo: "pytorch/executorch".into(),
                branch: String::new(),
                sha: String::new(),
                version: r.executorch_version.clone(),
                extra_info: Info::new(),
            },
        );
        etbench.insert("runner_version", r.runner_version.clone());
        etbench.insert("runner_debug_build", r.debug_build.to_string());
    }
    let p = &doc.provenance;
    deps.insert(
        "etbench",
        Dependency {
            repo: String::new(),
            branch: String::new(),
            sha: p.git_sha.clone().unwrap_or_default(),
            version: p.etbench_version.clone(),
            extra_info: etbench,
        },
    );
    deps
}

/// (metric name, per-run value) for one run; `None` when the run lacks it.
fn metrics(run: &RunResult) -> Vec<(&'static str, Option<f64>)> {
    let s = run.summary.as_ref();
    let load_ms = load_ns(run).map(|v| v as f64 / 1e6);
    let peak_mb = s.and_then(|s| s.peak_rss_bytes).map(|b| b as f64 / crate::units::MIB);
    if let Some(l) = run.llm.as_ref() {
        // Generation runs: the names of ExecuTorch's LLM benchmark app (`token_per_sec` is the decode rate).
        let g = l.summary.as_ref();
        return vec![
            ("token_per_sec", g.map(|g| g.decode_tokens_per_s.median)),
            ("prefill_token_per_sec", g.map(|g| g.prefill_tokens_per_s.median)),
            ("time_to_first_token(ms)", g.map(|g| g.ttft_ms.median)),
            ("model_load_time(ms)", load_ms),
            ("peak_inference_mem_usage(mb)", peak_mb),
        ];
    }
    let lat = s.map(|s| &s.latency_ns);
    vec![
        ("avg_inference_latency(ms)", lat.map(|l| l.mean / 1e6)),
        ("median_inference_latency(ms)", lat.map(|l| l.median / 1e6)),
        ("p90_inference_latency(ms)", lat.map(|l| l.p90 / 1e6)),
        ("first_inference_latency(ms)", run.samples.first_forward_ns.map(|v| v as f64 / 1e6)),
        ("model_load_time(ms)", load_ms),
        ("peak_inference_mem_usage(mb)", peak_mb),
        ("prefill_token_per_sec", s.and_then(|s| s.prefill_tokens_per_s.as_ref()).map(|t| t.median)),
        (
            "decode_equivalent_token_per_sec",
            s.and_then(|s| s.decode_equivalent_tokens_per_s.as_ref()).map(|t| t.median),
        ),
    ]
}

/// One row per metric the group's runs carry, with one value per run; values a Float32 cannot hold are left out.
fn metric_rows(g: &Group) -> Vec<MetricRow> {
    let per_run: Vec<Vec<(&'static str, Option<f64>)>> = g.runs.iter().map(|r| metrics(r)).collect();
    per_run[0]
        .iter()
        .filter_map(|&(name, _)| {
            let values: Vec<f32> = per_run
                .iter()
                .filter_map(|m| m.iter().find(|(n, _)| *n == name)?.1)
                .map(|v| v as f32)
                .filter(|v| v.is_finite())
                .collect();
            let extra_info = Info::from([("method", g.key.method.clone())]);
            (!values.is_empty()).then_some(MetricRow { name, benchmark_values: values, target_value: 0.0, extra_info })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> crate::inspect::Inspection {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models").join(format!("{name}.pte"));
        crate::inspect::inspect(&path).unwrap()
    }

    #[test]
    fn the_program_names_the_dtype_of_weights_outside_delegates() {
        assert_eq!(dtype_of(&fixture("gemma3n-tiny-bf16")), Some("bf16"));
        assert_eq!(dtype_of(&fixture("gemma3n-tiny-int8")), Some("int8 weight-only"));
        assert_eq!(dtype_of(&fixture("gemma3n-tiny-kv-int8")), Some("int8 weight-only"));
        assert_eq!(dtype_of(&fixture("convnet-fp32")), Some("fp32"));
        assert_eq!(dtype_of(&fixture("llama-tiny-kv-fp32")), Some("fp32"));
        // Weights inside XNNPACK's blobs: fp32 and 8da4w look alike from outside.
        assert_eq!(dtype_of(&fixture("gemma3n-tiny-xnnpack-fp32")), None);
        assert_eq!(dtype_of(&fixture("gemma3n-tiny-xnnpack-8da4w")), None);
    }

    #[test]
    fn backends_are_named_by_their_delegates() {
        let backend = |name| backend_of(fixture(name).delegates.iter().map(|d| d.backend.as_str()));
        assert_eq!(backend("gemma3n-tiny-xnnpack-8da4w"), "xnnpack");
        assert_eq!(backend("gemma3n-tiny-bf16"), "portable");
        assert_eq!(backend_of(["XnnpackBackend", "QnnBackend", "XnnpackBackend"].into_iter()), "qnn+xnnpack");
    }

    #[test]
    fn file_name_tokens_are_whole_tokens() {
        assert_eq!(name_token("gemma3n-tiny-xnnpack-8da4w", DTYPE_TOKENS), Some("8da4w"));
        assert_eq!(name_token("mv3_xnnpack_FP32", DTYPE_TOKENS), Some("fp32"));
        assert_eq!(name_token("llama-tiny-kv-xnnpack", DTYPE_TOKENS), None);
        // `bf16x` is not `bf16`, and `q8` inside a word is no token.
        assert_eq!(name_token("bf16x-aq8b", DTYPE_TOKENS), None);
        assert_eq!(name_token("llama-tiny-kv-xnnpack", BACKEND_TOKENS), Some("xnnpack"));
    }

    /// The CI columns of a document recorded in a job with these variables (GitHub Actions' own, plus the pairs).
    fn ci_of(pairs: &[(&str, &str)]) -> Ci {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([("GITHUB_ACTIONS".into(), "true".into())])
            .collect();
        let mut doc = Document::new(crate::results::provenance::provenance(vec!["etbench".into()]));
        doc.provenance.ci = crate::results::provenance::ci_provenance(|k| map.get(k).cloned());
        Ci::of(&doc)
    }

    #[test]
    fn ci_columns_come_from_a_push_event() {
        let ci = ci_of(&[
            ("GITHUB_REPOSITORY", "acme/models"),
            ("GITHUB_REF", "refs/heads/main"),
            ("GITHUB_HEAD_REF", ""),
            ("GITHUB_SHA", "0123abcd"),
            ("GITHUB_RUN_ID", "987654321"),
            ("GITHUB_RUN_ATTEMPT", "2"),
            ("GITHUB_JOB", "bench"),
            ("GITHUB_EVENT_NAME", "push"),
        ]);
        let want = Ci {
            repo: Some("acme/models".into()),
            head_branch: Some("refs/heads/main".into()),
            head_sha: Some("0123abcd".into()),
            workflow_id: Some(987_654_321),
            run_attempt: Some(2),
            job: Some("bench".into()),
        };
        assert_eq!(ci, want);
        // Outside GitHub Actions: no CI columns.
        let mut doc = Document::new(crate::results::provenance::provenance(vec!["etbench".into()]));
        doc.provenance.ci = None;
        assert_eq!(Ci::of(&doc), Ci::default());
        // A number column that is not a number is left out, not written as 0.
        assert_eq!(ci_of(&[("GITHUB_RUN_ID", "abc")]).workflow_id, None);
    }

    #[test]
    fn a_pull_request_is_recorded_at_its_head_not_the_merge_commit() {
        let dir = tempfile::tempdir().unwrap();
        let event = dir.path().join("event.json");
        std::fs::write(&event, r#"{"pull_request": {"head": {"sha": "feedface", "ref": "topic"}}}"#).unwrap();
        let ci = ci_of(&[
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
            ("GITHUB_SHA", "merge0000"),
            ("GITHUB_REF", "refs/pull/7/merge"),
            ("GITHUB_HEAD_REF", "topic"),
        ]);
        assert_eq!((ci.head_sha.as_deref(), ci.head_branch.as_deref()), (Some("feedface"), Some("topic")));
    }
}
