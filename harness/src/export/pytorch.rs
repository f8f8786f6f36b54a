//! PyTorch OSS benchmark database records, "v3" (the `oss_ci_benchmark_v3` table behind the PyTorch/ExecuTorch
//! benchmark dashboard, documented on the PyTorch wiki page "How to integrate with PyTorch OSS benchmark database"):
//! a JSON array of `{ benchmark, model, metric, runners }`. The shape follows ExecuTorch's own
//! `.github/scripts/extract_benchmark_results.py`: benchmark name `ExecuTorch`, mode `inference`, metric names such
//! as `avg_inference_latency(ms)`, `model_load_time(ms)` and `peak_inference_mem_usage(mb)`, and one runner per
//! device. `benchmark_values` has one value per run (repeat), so the dashboard's aggregation sees every repeat.

use serde_json::{json, Value};

use crate::export::metric::{groups, load_ns, threads_label, Group};
use crate::results::{Document, RunResult};
use crate::stats::Sample;

/// (metric name, per-run value) for one run; `None` when the run lacks it.
fn metrics(run: &RunResult) -> Vec<(&'static str, Option<f64>)> {
    let s = run.summary.as_ref();
    if let Some(l) = run.llm.as_ref() {
        // Generation runs: the names of ExecuTorch's LLM benchmark app (`token_per_sec` is the decode rate).
        let g = l.summary.as_ref();
        return vec![
            ("token_per_sec", g.map(|g| g.decode_tokens_per_s.median)),
            ("prefill_token_per_sec", g.map(|g| g.prefill_tokens_per_s.median)),
            ("time_to_first_token(ms)", g.map(|g| g.ttft_ms.median)),
            ("model_load_time(ms)", load_ns(run).map(|v| v as f64 / 1e6)),
            ("peak_inference_mem_usage(mb)", s.and_then(|s| s.peak_rss_bytes).map(|b| b as f64 / (1024.0 * 1024.0))),
        ];
    }
    let lat = s.map(|s| &s.latency_ns);
    vec![
        ("avg_inference_latency(ms)", lat.map(|l| l.mean / 1e6)),
        ("median_inference_latency(ms)", lat.map(|l| l.median / 1e6)),
        ("p90_inference_latency(ms)", lat.map(|l| l.p90 / 1e6)),
        ("first_inference_latency(ms)", run.samples.first_forward_ns.map(|v| v as f64 / 1e6)),
        ("model_load_time(ms)", load_ns(run).map(|v| v as f64 / 1e6)),
        ("peak_inference_mem_usage(mb)", s.and_then(|s| s.peak_rss_bytes).map(|b| b as f64 / (1024.0 * 1024.0))),
        ("prefill_token_per_sec", s.and_then(|s| s.prefill_tokens_per_s.as_ref()).map(|t| t.median)),
        ("decode_equivalent_token_per_sec", s.and_then(|s| s.decode_equivalent_tokens_per_s.as_ref()).map(|t| t.median)),
    ]
}

fn records(g: &Group) -> Vec<Value> {
    let first = g.runs[0];
    let info = &first.device.info;
    let runner = first.runner.as_ref();
    let benchmark = json!({
        "name": "ExecuTorch",
        "mode": "inference",
        "extra_info": {
            "app_type": "etbench",
            "warmup": first.params.spec.warmup.to_string(),
            "iterations": first.params.spec.iterations.to_string(),
            "threads": threads_label(g.key.threads),
            "load_mode": g.key.load_mode,
            "input": g.key.input,
            "executorch_version": runner.map(|r| r.executorch_version.as_str()).unwrap_or("?"),
        },
    });
    let model = json!({ "name": g.key.model_name, "type": "OSS model", "extra_info": { "sha256": g.key.model_sha256, "size_bytes": first.model.size_bytes.to_string() } });
    let runners = json!([{
        "name": format!("{} ({})", g.key.device, info.cpu_brand.as_deref().unwrap_or(&info.arch)),
        "type": format!("{} {}", info.os.as_deref().unwrap_or("unknown OS"), info.os_version.as_deref().unwrap_or("")).trim_end().to_owned(),
        "cpu_info": info.cpu_brand.clone().unwrap_or_default(),
        "total_mem_in_gb": info.memory_total_bytes as f64 / (1u64 << 30) as f64,
    }]);
    let per_run: Vec<Vec<(&str, Option<f64>)>> = g.runs.iter().map(|r| metrics(r)).collect();
    (0..per_run[0].len())
        .filter_map(|i| {
            let values: Vec<f64> = per_run.iter().filter_map(|m| m[i].1).collect();
            Sample::new(&values).ok()?;
            Some(json!({
                "benchmark": benchmark,
                "model": model,
                "metric": { "name": per_run[0][i].0, "benchmark_values": values, "target_value": 0, "extra_info": { "method": g.key.method } },
                "runners": runners,
            }))
        })
        .collect()
}

pub fn render(doc: &Document) -> Vec<u8> {
    let all: Vec<Value> = groups([doc]).iter().flat_map(records).collect();
    let mut bytes = serde_json::to_vec_pretty(&all).expect("plain data");
    bytes.push(b'\n');
    bytes
}
