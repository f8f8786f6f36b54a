//! `results.csv`: one row per run, numbers in base units (ns, bytes) for spreadsheets and scripts.

use serde::Serialize;

use crate::results::{Document, RunResult};

#[derive(Serialize)]
struct CsvRow<'a> {
    id: &'a str,
    /// The run identity's stable digest: rows with the same value measured the same thing.
    identity: String,
    device: &'a str,
    model: &'a str,
    model_sha256: &'a str,
    model_size_bytes: u64,
    method: &'a str,
    load_mode: String,
    threads_requested: Option<u32>,
    threads_effective: Option<u32>,
    cpu_affinity: Option<String>,
    memory_limit_bytes: Option<u64>,
    warmup: u32,
    iterations: u32,
    repeat_index: u32,
    status: &'static str,
    error_kind: Option<String>,
    error: Option<&'a str>,
    program_load_ns: Option<u64>,
    method_load_ns: Option<u64>,
    first_forward_ns: Option<u64>,
    latency_median_ns: Option<f64>,
    latency_p10_ns: Option<f64>,
    latency_p90_ns: Option<f64>,
    latency_p99_ns: Option<f64>,
    latency_min_ns: Option<f64>,
    latency_max_ns: Option<f64>,
    latency_mean_ns: Option<f64>,
    latency_stddev_ns: Option<f64>,
    latency_trimmed_mean_10_ns: Option<f64>,
    outliers: Option<usize>,
    prefill_tokens_per_s: Option<f64>,
    decode_equivalent_tokens_per_s: Option<f64>,
    peak_rss_bytes: Option<u64>,
    max_rss_anon_bytes: Option<u64>,
    max_rss_file_bytes: Option<u64>,
    /// Generation runs: `pp64 tg64 @ d0`, and the medians (with the decode interval) over the timed generations.
    llm_workload: Option<String>,
    llm_generations: Option<usize>,
    llm_prefill_tokens_per_s: Option<f64>,
    llm_decode_tokens_per_s: Option<f64>,
    llm_decode_tokens_per_s_lower: Option<f64>,
    llm_decode_tokens_per_s_upper: Option<f64>,
    llm_ttft_ns: Option<f64>,
    /// `--energy`: the source and its figures (empty when refused or lost: see the warnings in results.json).
    energy_source: Option<&'a str>,
    energy_watts: Option<f64>,
    energy_idle_watts: Option<f64>,
    energy_net_watts: Option<f64>,
    energy_joules_per_forward: Option<f64>,
    energy_net_joules_per_forward: Option<f64>,
    energy_prefill_joules_per_token: Option<f64>,
    energy_decode_joules_per_token: Option<f64>,
    output_verdict: String,
    argmax_last: Option<u64>,
    executorch_version: Option<&'a str>,
    started_at: String,
}

fn row(run: &RunResult) -> CsvRow<'_> {
    let s = run.summary.as_ref();
    let lat = s.map(|s| &s.latency_ns);
    let g = run.llm.as_ref().and_then(|l| l.summary.as_ref());
    let e = run.energy.as_ref().and_then(|e| e.summary.as_ref());
    let identity = crate::results::identity::RunIdentity::of(run);
    CsvRow {
        energy_source: run.energy.as_ref().map(|e| e.source()),
        energy_watts: e.map(|e| e.watts),
        energy_idle_watts: e.and_then(|e| e.idle_watts),
        energy_net_watts: e.and_then(|e| e.net_watts),
        energy_joules_per_forward: e.and_then(|e| e.joules_per_forward),
        energy_net_joules_per_forward: e.and_then(|e| e.net_joules_per_forward),
        energy_prefill_joules_per_token: e.and_then(|e| e.prefill_joules_per_token),
        energy_decode_joules_per_token: e.and_then(|e| e.decode_joules_per_token),
        llm_workload: run.params.spec.llm.as_ref().map(super::metric::workload_label),
        llm_generations: g.map(|g| g.generations),
        llm_prefill_tokens_per_s: g.map(|g| g.prefill_tokens_per_s.median),
        llm_decode_tokens_per_s: g.map(|g| g.decode_tokens_per_s.median),
        llm_decode_tokens_per_s_lower: g.map(|g| g.decode_tokens_per_s.lower),
        llm_decode_tokens_per_s_upper: g.map(|g| g.decode_tokens_per_s.upper),
        llm_ttft_ns: g.map(|g| g.ttft_ms.median * 1e6),
        id: &run.id,
        identity: identity.digest(),
        cpu_affinity: identity.cpu_affinity.clone(),
        memory_limit_bytes: identity.memory_limit_bytes,
        device: &run.device.name,
        model: &run.model.name,
        model_sha256: &run.model.sha256,
        model_size_bytes: run.model.size_bytes,
        method: &run.params.spec.method,
        load_mode: run.params.spec.load_mode.to_string(),
        threads_requested: run.params.spec.threads,
        threads_effective: run.runner.as_ref().and_then(|r| r.threads_effective),
        warmup: run.params.spec.warmup,
        iterations: run.params.spec.iterations,
        repeat_index: run.params.repeat_index,
        status: if run.is_ok() { "ok" } else { "error" },
        error_kind: run.error.as_ref().map(|e| super::error_kind_name(e.kind)),
        error: run.error.as_ref().map(|e| e.message.as_str()),
        program_load_ns: s.and_then(|s| s.program_load_ns),
        method_load_ns: s.and_then(|s| s.method_load_ns),
        first_forward_ns: s.and_then(|s| s.first_forward_ns),
        latency_median_ns: lat.map(|l| l.median),
        latency_p10_ns: lat.map(|l| l.p10),
        latency_p90_ns: lat.map(|l| l.p90),
        latency_p99_ns: lat.map(|l| l.p99),
        latency_min_ns: lat.map(|l| l.min),
        latency_max_ns: lat.map(|l| l.max),
        latency_mean_ns: lat.map(|l| l.mean),
        latency_stddev_ns: lat.and_then(|l| l.stddev),
        latency_trimmed_mean_10_ns: lat.map(|l| l.trimmed_mean_10),
        outliers: lat.map(|l| l.outliers.len()),
        prefill_tokens_per_s: s.and_then(|s| s.prefill_tokens_per_s.as_ref()).map(|t| t.median),
        decode_equivalent_tokens_per_s: s.and_then(|s| s.decode_equivalent_tokens_per_s.as_ref()).map(|t| t.median),
        peak_rss_bytes: s.and_then(|s| s.peak_rss_bytes),
        max_rss_anon_bytes: s.and_then(|s| s.max_rss_anon_bytes),
        max_rss_file_bytes: s.and_then(|s| s.max_rss_file_bytes),
        output_verdict: run.output_verdict.label(),
        argmax_last: run.outputs.first().and_then(|o| o.argmax_last),
        executorch_version: run.runner.as_ref().map(|r| r.executorch_version.as_str()),
        started_at: run.started_at.to_rfc3339(),
    }
}

pub fn render(doc: &Document) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for run in &doc.runs {
        writer.serialize(row(run)).expect("CSV rows of plain data always serialise to memory");
    }
    writer.into_inner().expect("writing to memory cannot fail")
}
