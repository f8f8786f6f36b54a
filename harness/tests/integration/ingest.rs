//! Exports the real ingesters accept, checked on real runs (an XNNPACK forward loop, an int8 weight-only program and
//! an XNNPACK generation run) through the real CLI:
//! - `pytorch-v3` rows against the columns and types of the PyTorch benchmark database's table (pytorch/test-infra,
//!   `clickhouse_db_schema/benchmark.oss_ci_benchmark_v3/schema.sql`), written out below as [`COLUMNS`];
//! - `bmf` against Bencher's BMF JSON schema (<https://bencher.dev/docs/reference/bencher-metric-format>) and its
//!   limits (measure slugs of at most 64 characters, benchmark names of at most 1024);
//! - `gab-smaller` / `gab-bigger` against github-action-benchmark's custom-tool entry (`name`, `unit`, `value`,
//!   optional `range` and `extra`, all strings but `value`; entries matched across commits by `name`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use crate::common::*;
use etbench::export::metric::Metric;

/// A column type of `oss_ci_benchmark_v3`, as a JSON row must carry it.
enum Ty {
    /// `String`.
    Str,
    /// `UInt32`: a JSON integer from 0 to 2³²−1 (never a float such as `24.0`).
    U32,
    /// `UInt64`: a non-negative JSON integer.
    U64,
    /// `Float32`: a finite JSON number.
    F32,
    /// `Array(T)`.
    Array(&'static Ty),
    /// `Map(String, T)`: an object whose every value is a `T`.
    Map(&'static Ty),
    /// `Tuple(name T, …)`: an object with exactly these keys.
    Tuple(&'static [(&'static str, Ty)]),
}

use Ty::*;

const STRINGS: Ty = Map(&Str);

/// `runners Array(Tuple(…))`.
const RUNNER: Ty = Tuple(&[
    ("name", Str),
    ("type", Str),
    ("cpu_info", Str),
    ("cpu_count", U32),
    ("mem_info", Str),
    ("avail_mem_in_gb", U32),
    ("gpu_info", Str),
    ("gpu_count", U32),
    ("gpu_mem_info", Str),
    ("avail_gpu_mem_in_gb", U32),
    ("extra_info", STRINGS),
]);

const BENCHMARK: Ty = Tuple(&[("name", Str), ("mode", Str), ("dtype", Str), ("extra_info", STRINGS)]);

const MODEL: Ty =
    Tuple(&[("name", Str), ("type", Str), ("backend", Str), ("origins", Array(&Str)), ("extra_info", STRINGS)]);

/// `inputs Map(String, Tuple(…))`.
const INPUT: Ty = Tuple(&[("dtype", Str), ("extra_info", STRINGS)]);

/// `dependencies Map(String, Tuple(…))`.
const DEPENDENCY: Ty =
    Tuple(&[("repo", Str), ("branch", Str), ("sha", Str), ("version", Str), ("extra_info", STRINGS)]);

const METRIC: Ty =
    Tuple(&[("name", Str), ("benchmark_values", Array(&F32)), ("target_value", F32), ("extra_info", STRINGS)]);

/// Every column of `benchmark.oss_ci_benchmark_v3`, in the table's order.
const COLUMNS: &[(&str, Ty)] = &[
    ("timestamp", U64),
    ("schema_version", Str),
    ("name", Str),
    ("repo", Str),
    ("head_branch", Str),
    ("head_sha", Str),
    ("workflow_id", U64),
    ("run_attempt", U32),
    ("job_id", U64),
    ("servicelab_experiment_id", U64),
    ("servicelab_trial_id", U64),
    ("_meta", Tuple(&[("bucket", Str), ("key", Str)])),
    ("runners", Array(&RUNNER)),
    ("benchmark", BENCHMARK),
    ("model", MODEL),
    ("inputs", Map(&INPUT)),
    ("dependencies", Map(&DEPENDENCY)),
    ("metric", METRIC),
];

/// Columns only the uploader knows (the job's name and numeric id) or the replicator writes (`_meta`).
const UPLOADER_ONLY: [&str; 3] = ["name", "job_id", "_meta"];

/// Columns from the CI environment: in every row when it is there, in none when it is not.
const CI_COLUMNS: [&str; 5] = ["repo", "head_branch", "head_sha", "workflow_id", "run_attempt"];

/// What GitHub Actions sets that the export reads; cleared for a run "outside CI" even when the tests run in CI.
const GITHUB_VARS: [&str; 10] = [
    "GITHUB_ACTIONS",
    "GITHUB_REPOSITORY",
    "GITHUB_REF",
    "GITHUB_REF_NAME",
    "GITHUB_HEAD_REF",
    "GITHUB_SHA",
    "GITHUB_RUN_ID",
    "GITHUB_RUN_ATTEMPT",
    "GITHUB_JOB",
    "GITHUB_EVENT_NAME",
];

/// Where `value` differs from `ty`, one message per difference, each with its path in the row.
fn check(value: &Value, ty: &Ty, path: &str, errors: &mut Vec<String>) {
    let mut wrong = |want: &str| errors.push(format!("{path}: {want} expected, found {value}"));
    match ty {
        Str if !value.is_string() => wrong("String"),
        U32 if value.as_u64().is_none_or(|n| n > u64::from(u32::MAX)) => wrong("UInt32 (a JSON integer)"),
        U64 if value.as_u64().is_none() => wrong("UInt64 (a JSON integer)"),
        F32 if !value.as_f64().is_some_and(|f| f.is_finite() && f.abs() <= f64::from(f32::MAX)) => {
            wrong("Float32 (a finite number)")
        }
        Str | U32 | U64 | F32 => {}
        Array(item) => match value.as_array() {
            Some(items) => items.iter().enumerate().for_each(|(i, v)| check(v, item, &format!("{path}[{i}]"), errors)),
            None => wrong("Array"),
        },
        Map(item) => match value.as_object() {
            Some(map) => map.iter().for_each(|(k, v)| check(v, item, &format!("{path}[{k:?}]"), errors)),
            None => wrong("Map (an object)"),
        },
        Tuple(fields) => match value.as_object() {
            Some(map) => {
                for (name, ty) in fields.iter() {
                    match map.get(*name) {
                        Some(v) => check(v, ty, &format!("{path}.{name}"), errors),
                        None => errors.push(format!("{path}.{name}: missing")),
                    }
                }
                for key in map.keys().filter(|k| !fields.iter().any(|(name, _)| name == k)) {
                    errors.push(format!("{path}.{key}: the table has no such field"));
                }
            }
            None => wrong("Tuple (an object)"),
        },
    }
}

/// Where a row differs from the table: types, missing columns, columns it has no business writing, unknown ones.
fn row_errors(row: &Value, in_ci: bool) -> Vec<String> {
    let mut errors = Vec::new();
    let Some(map) = row.as_object() else { return vec![format!("row: an object expected, found {row}")] };
    for (column, ty) in COLUMNS {
        let expected = !UPLOADER_ONLY.contains(column) && (in_ci || !CI_COLUMNS.contains(column));
        match (map.get(*column), expected) {
            (Some(v), true) => check(v, ty, column, &mut errors),
            (None, true) => errors.push(format!("{column}: missing")),
            (Some(v), false) => errors.push(format!("{column}: written as {v}, but it is left to the uploader")),
            (None, false) => {}
        }
    }
    for key in map.keys().filter(|k| !COLUMNS.iter().any(|(c, _)| c == k)) {
        errors.push(format!("{key}: the table has no such column"));
    }
    errors
}

pub(crate) fn all_row_errors(rows: &[Value], in_ci: bool) -> Vec<String> {
    rows.iter()
        .enumerate()
        .flat_map(|(i, r)| row_errors(r, in_ci).into_iter().map(move |e| format!("row {i}: {e}")))
        .collect()
}

/// Real results, written once per test binary: an XNNPACK fp32 forward loop and an int8 weight-only program in one
/// run, and an XNNPACK generation run (prefill 8, decode 8).
fn real_runs() -> &'static [PathBuf; 2] {
    static DIRS: OnceLock<[PathBuf; 2]> = OnceLock::new();
    DIRS.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("etbench-ingest-test-{}", std::process::id()));
        let run = |dir: &Path, args: &[&str], models: &[&str]| {
            let mut cmd = etbench();
            cmd.args(["run", "--format", "none", "--iters", "3", "--out"]).arg(dir).args(args);
            for m in models {
                cmd.arg("--model").arg(models_dir().join(format!("{m}.pte")));
            }
            let out = cmd.output().unwrap();
            assert!(out.status.success(), "{}", stderr_of(&out));
        };
        let (forward, generation) = (base.join("forward"), base.join("generation"));
        run(&forward, &[], &["gemma3n-tiny-xnnpack-fp32", "gemma3n-tiny-int8"]);
        run(&generation, &["--prefill", "8", "--decode", "8"], &["llama-tiny-kv-xnnpack"]);
        [forward, generation]
    })
}

/// `etbench report RESULTS... --format FORMAT` with GitHub Actions' variables cleared, then `env` set.
fn export(format: &str, inputs: &[PathBuf], env: &[(&str, &str)]) -> Value {
    let mut cmd = etbench();
    cmd.arg("report").args(inputs).args(["--format", format]);
    for var in GITHUB_VARS.iter().chain(["GITHUB_EVENT_PATH"].iter()) {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "report --format {format}: {}", stderr_of(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{format} is not JSON: {e}"))
}

fn rows_of(v: &Value) -> &[Value] {
    v.as_array().expect("a JSON array of rows")
}

fn rows_for<'a>(rows: &'a [Value], model: &str) -> Vec<&'a Value> {
    rows.iter().filter(|r| r["model"]["name"] == model).collect()
}

fn metric_names(rows: &[&Value]) -> BTreeSet<String> {
    rows.iter().map(|r| r["metric"]["name"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn the_checker_refuses_what_the_table_would_not_take() {
    let _load = load();
    let rows = export("pytorch-v3", &real_runs()[..1], &[]);
    let good = &rows_of(&rows)[0];
    assert_eq!(row_errors(good, false), Vec::<String>::new());
    // Each mutation is one way a row can be wrong; the checker must name each, at its path.
    type Mutation = (&'static str, fn(&mut Value));
    let mutations: [Mutation; 9] = [
        ("benchmark.dtype: missing", |r| drop(r["benchmark"].as_object_mut().unwrap().remove("dtype"))),
        ("runners[0].total_mem_in_gb: the table has no such field", |r| {
            r["runners"][0]["total_mem_in_gb"] = 23.5.into()
        }),
        ("runners[0].avail_mem_in_gb: UInt32", |r| r["runners"][0]["avail_mem_in_gb"] = 23.0.into()),
        ("runners[0].cpu_count: UInt32", |r| r["runners"][0]["cpu_count"] = (-1).into()),
        ("model.extra_info[\"size_bytes\"]: String", |r| r["model"]["extra_info"]["size_bytes"] = 1.into()),
        ("metric.benchmark_values[0]: Float32", |r| r["metric"]["benchmark_values"][0] = Value::Null),
        ("job_id: written as 0", |r| r["job_id"] = 0.into()),
        ("head_sha: written as \"\"", |r| r["head_sha"] = "".into()),
        ("total_mem_in_gb: the table has no such column", |r| r["total_mem_in_gb"] = 1.into()),
    ];
    for (want, mutate) in mutations {
        let mut bad = good.clone();
        mutate(&mut bad);
        let errors = row_errors(&bad, false);
        assert!(errors.iter().any(|e| e.starts_with(want)), "{want}: got {errors:?}");
    }
    // In CI, a row without the CI columns is incomplete.
    assert!(row_errors(good, true).iter().any(|e| e == "workflow_id: missing"));
}

#[test]
fn pytorch_v3_rows_of_real_runs_have_every_column_typed_as_the_table_declares() {
    let _load = load();
    let [forward, generation] = real_runs();
    let v = export("pytorch-v3", &[forward.clone(), generation.clone()], &[]);
    let rows = rows_of(&v);
    assert_eq!(all_row_errors(rows, false), Vec::<String>::new());

    // A forward loop on XNNPACK: ExecuTorch's app metric names; the backend from the program, the dtype from the file
    // name (the weights are inside the delegate).
    let xnnpack = rows_for(rows, "gemma3n-tiny-xnnpack-fp32");
    let names = metric_names(&xnnpack);
    for m in ["avg_inference_latency(ms)", "model_load_time(ms)", "peak_inference_mem_usage(mb)"] {
        assert!(names.contains(m), "{m} missing from {names:?}");
    }
    let r = xnnpack[0];
    assert_eq!(
        (r["model"]["backend"].as_str(), r["model"]["extra_info"]["backend_source"].as_str()),
        (Some("xnnpack"), Some("program"))
    );
    assert_eq!(
        (r["benchmark"]["dtype"].as_str(), r["benchmark"]["extra_info"]["dtype_source"].as_str()),
        (Some("fp32"), Some("file name"))
    );

    // A program without a delegate says its own dtype.
    let int8 = rows_for(rows, "gemma3n-tiny-int8");
    assert_eq!(
        (int8[0]["model"]["backend"].as_str(), int8[0]["benchmark"]["dtype"].as_str()),
        (Some("portable"), Some("int8 weight-only"))
    );
    assert_eq!(int8[0]["benchmark"]["extra_info"]["dtype_source"], "program");

    // The generation run: decode and prefill tok/s and time to first token.
    let llm = rows_for(rows, "llama-tiny-kv-xnnpack");
    let names = metric_names(&llm);
    for m in ["token_per_sec", "prefill_token_per_sec", "time_to_first_token(ms)", "model_load_time(ms)"] {
        assert!(names.contains(m), "{m} missing from {names:?}");
    }
    assert_eq!(llm[0]["model"]["backend"], "xnnpack");
    assert_eq!(llm[0]["benchmark"]["extra_info"]["workload"], "pp8 tg8");

    // The values are the document's: the device, the versions, when it ran, one value per run.
    let doc = read_doc(generation);
    let run = &doc.runs[0];
    let runner = &llm[0]["runners"][0];
    assert_eq!(runner["cpu_count"].as_u64(), Some(run.device.info.cpu_logical_cores as u64));
    assert_eq!(runner["avail_mem_in_gb"].as_u64(), Some(run.device.info.memory_total_bytes >> 30));
    assert_eq!(runner["extra_info"]["etbench_device"], "local");
    assert_eq!(
        llm[0]["dependencies"]["executorch"]["version"],
        run.runner.as_ref().unwrap().executorch_version.as_str()
    );
    assert_eq!(llm[0]["dependencies"]["etbench"]["version"], doc.provenance.etbench_version.as_str());
    assert_eq!(llm[0]["timestamp"].as_i64(), Some(run.started_at.timestamp()));
    let tps = llm.iter().find(|r| r["metric"]["name"] == "token_per_sec").unwrap();
    let median = run.llm.as_ref().unwrap().summary.as_ref().unwrap().decode_tokens_per_s.median;
    let values = tps["metric"]["benchmark_values"].as_array().unwrap();
    assert_eq!(values.len(), 1);
    assert!((values[0].as_f64().unwrap() / median - 1.0).abs() < 1e-6, "{values:?} vs {median}");
    assert_eq!(llm[0]["inputs"]["input0"]["dtype"], "int64");
}

#[test]
fn ci_columns_come_from_the_github_actions_environment() {
    let _load = load();
    let env = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REPOSITORY", "acme/edge-models"),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_SHA", "4f3c2b1a00000000000000000000000000000000"),
        // Past u32: the column is UInt64.
        ("GITHUB_RUN_ID", "12345678901"),
        ("GITHUB_RUN_ATTEMPT", "3"),
        ("GITHUB_JOB", "bench"),
        ("GITHUB_EVENT_NAME", "push"),
    ];
    // The run records its CI job (results.json `provenance.ci`); the export reads only that document, in an
    // environment without any GitHub variable.
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = etbench();
    cmd.args(["run", "--format", "none", "--iters", "3", "--warmup", "0", "--model"])
        .arg(fixture("xnnpack-fp32"))
        .arg("--out")
        .arg(tmp.path());
    for var in GITHUB_VARS.iter().chain(["GITHUB_EVENT_PATH"].iter()) {
        cmd.env_remove(var);
    }
    let out = cmd.envs(env.iter().copied()).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v = export("pytorch-v3", &[tmp.path().join("results.json")], &[]);
    let rows = rows_of(&v);
    assert!(!rows.is_empty());
    assert_eq!(all_row_errors(rows, true), Vec::<String>::new());
    for r in rows {
        assert_eq!(r["repo"], "acme/edge-models");
        assert_eq!(r["head_branch"], "refs/heads/main");
        assert_eq!(r["head_sha"], "4f3c2b1a00000000000000000000000000000000");
        assert_eq!(r["workflow_id"].as_u64(), Some(12_345_678_901));
        assert_eq!(r["run_attempt"].as_u64(), Some(3));
        assert_eq!(r["benchmark"]["extra_info"]["github_job"], "bench");
    }
}

/// Bencher's measures: the slug of every metric there is.
fn slugs() -> BTreeSet<&'static str> {
    Metric::ALL.iter().map(|m| m.slug()).collect()
}

#[test]
fn bmf_of_real_runs_is_what_bencher_reads() {
    let _load = load();
    let v = export("bmf", real_runs(), &[]);
    let benchmarks = v.as_object().expect("BMF is an object keyed by benchmark");
    assert_eq!(benchmarks.len(), 3, "one benchmark per setting: {:?}", benchmarks.keys().collect::<Vec<_>>());
    for (name, measures) in benchmarks {
        assert!(!name.is_empty() && name.len() <= 1024, "benchmark name {name:?}");
        let measures = measures.as_object().unwrap_or_else(|| panic!("{name}: measures are an object"));
        assert!(measures.contains_key("latency"), "{name}: no latency");
        for (slug, m) in measures {
            assert!(slugs().contains(slug.as_str()) && slug.len() <= 64, "{name}: unknown measure {slug}");
            let m = m.as_object().unwrap();
            let keys: BTreeSet<&str> = m.keys().map(String::as_str).collect();
            assert_eq!(keys, BTreeSet::from(["value", "lower_value", "upper_value"]), "{name}/{slug}");
            let num = |k: &str| {
                m[k].as_f64().filter(|v| v.is_finite()).unwrap_or_else(|| panic!("{name}/{slug}.{k}: {}", m[k]))
            };
            assert!(num("lower_value") <= num("value") && num("value") <= num("upper_value"), "{name}/{slug}: {m:?}");
        }
    }
    let llm = benchmarks.iter().find(|(k, _)| k.contains("llama-tiny-kv-xnnpack")).expect("the generation run").1;
    for slug in ["decode-throughput", "time-to-first-token", "prefill-throughput", "load-time", "peak-rss"] {
        assert!(llm.get(slug).is_some(), "generation run without {slug}: {llm}");
    }
    let xnnpack = &benchmarks["local/gemma3n-tiny-xnnpack-fp32/forward/t2/mmap"];
    // Latency in Bencher's built-in unit, nanoseconds: a few ms.
    let latency = xnnpack["latency"]["value"].as_f64().unwrap();
    assert!((1e5..1e9).contains(&latency), "latency {latency} is not in ns");
}

#[test]
fn gab_entries_of_real_runs_are_what_the_action_reads() {
    let _load = load();
    let labels: BTreeMap<&str, Metric> = Metric::ALL.iter().map(|m| (m.label(), *m)).collect();
    for (format, smaller) in [("gab-smaller", true), ("gab-bigger", false)] {
        let v = export(format, real_runs(), &[]);
        let entries = v.as_array().expect("an array of entries");
        assert!(!entries.is_empty(), "{format}: empty");
        let mut names = BTreeSet::new();
        for e in entries {
            let e = e.as_object().unwrap();
            let keys: BTreeSet<&str> = e.keys().map(String::as_str).collect();
            assert!(keys.is_subset(&BTreeSet::from(["name", "unit", "value", "range", "extra"])), "{format}: {keys:?}");
            assert!(
                e["name"].is_string() && e["unit"].is_string() && e["value"].as_f64().is_some_and(f64::is_finite),
                "{format}: {e:?}"
            );
            assert!(
                e.get("range").is_none_or(Value::is_string) && e.get("extra").is_none_or(Value::is_string),
                "{format}: {e:?}"
            );
            let name = e["name"].as_str().unwrap();
            assert!(names.insert(name.to_owned()), "{format}: {name} twice (the action matches entries by name)");
            let metric = labels
                .iter()
                .find(|(l, _)| name.ends_with(&format!(" - {l}")))
                .map(|(_, m)| *m)
                .unwrap_or_else(|| panic!("{name}: which metric?"));
            assert_eq!(metric.smaller_is_better(), smaller, "{format}: {name}");
            assert_eq!(e["unit"], metric.display_unit().0, "{name}: one unit per metric");
        }
        let want = if smaller { " - time to first token" } else { " - decode tokens/s" };
        assert!(
            names.iter().any(|n| n.contains("/llama-tiny-kv-xnnpack/") && n.ends_with(want)),
            "{format}: no generation{want:?} in {names:?}"
        );
    }
}

/// Regression: two runner files timing one model made one BMF benchmark (the second overwrote the first) and two
/// github-action-benchmark entries of the same name.
#[test]
fn two_runners_of_one_model_are_two_benchmarks() {
    let _load = load();
    let dir = tempfile::tempdir().unwrap();
    let mut doc = read_doc(&real_runs()[0]);
    doc.runs.retain(|r| r.model.name == "gemma3n-tiny-xnnpack-fp32");
    let mut other = doc.runs[0].clone();
    other.id.push_str("/other-runner");
    other.params.runner = Some("/opt/executorch-1.6/etbench-runner".into());
    doc.runs.push(other);
    std::fs::write(dir.path().join("results.json"), serde_json::to_vec(&doc).unwrap()).unwrap();
    let inputs = [dir.path().to_owned()];
    let bmf = export("bmf", &inputs, &[]);
    assert_eq!(bmf.as_object().unwrap().len(), 2, "{bmf}");
    let gab = export("gab-smaller", &inputs, &[]);
    let names: BTreeSet<&str> = gab.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), gab.as_array().unwrap().len(), "{names:?}");
}
